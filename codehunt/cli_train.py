"""``codehunt train ...``: retriever and reranker (generated from their configs) and rerank-weight.

Imported only when a command line names ``train`` (``codehunt.cli_lazy``), so a search never pays for it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import typer

from codehunt.config_cli import config_command
from codehunt.console import cli_errors
from codehunt.reranker.config import RerankerTrainConfig
from codehunt.retriever.config import RetrieverTrainConfig

train_app = typer.Typer(help="Train models on mined data: the retriever (bi-encoder) and the reranker (cross-encoder).", no_args_is_help=True, add_completion=False)


def run_retriever(config: RetrieverTrainConfig) -> None:
    from codehunt.retriever.train import train_retriever

    print(f"saved the retriever to {train_retriever(config, show_progress=True)}", file=sys.stderr)


def run_reranker(config: RerankerTrainConfig) -> None:
    from codehunt.reranker.train import train_reranker

    print(f"saved the reranker to {train_reranker(config, show_progress=True)}", file=sys.stderr)


config_command(train_app, "retriever", RetrieverTrainConfig, run_retriever, arguments=("data",), short={"output_dir": "-o"},
               help_text="Momentum-queue contrastive training (MoCo/CoCoSoDa) of the bi-encoder on triples or pairs; "
                         "the result loads with SentenceTransformer(path) and builds indexes with --model.")
config_command(train_app, "reranker", RerankerTrainConfig, run_reranker, arguments=("data",), short={"output_dir": "-o"},
               help_text="Train a cross-encoder on mined triples (hard + random negatives); use it with --rerank.")


def refuse_existing_output(output_dir: Path, overwrite: bool) -> None:
    """A model directory is replaced only when asked: a non-empty ``output_dir`` without ``--overwrite`` is an error."""
    from codehunt.index.errors import BadInputError

    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise BadInputError(f"{output_dir} exists and is not empty; pass --overwrite to replace it or choose another -o")


@train_app.command("interpolate")
@cli_errors
def train_interpolate(
    tuned: str = typer.Argument(..., help="The trained retriever directory (`codehunt train retriever -o DIR`)."),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Model directory to write (loads with SentenceTransformer(path))."),
    base: str = typer.Option("default", "--base", help="The model it was trained from: dir, hub name, or 'default'."),
    alpha: float = typer.Option(0.5, "--alpha", help="Share of the trained weights: 0 is the base, 1 the trained model."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing non-empty output directory."),
) -> None:
    """Mix a trained retriever's weights with its base's, (1 - alpha) * base + alpha * trained (WiSE-FT), so it
    keeps the base's strength on queries unlike its training data; use the result with --model."""
    from codehunt.console import UsageError
    from codehunt.retriever.interpolate import interpolate_retrievers

    if not 0.0 <= alpha <= 1.0:
        raise UsageError(f"--alpha must be between 0 (the base) and 1 (the trained model), got {alpha}")
    refuse_existing_output(output_dir, overwrite)
    print(f"saved the interpolated retriever to {interpolate_retrievers(base, tuned, alpha, output_dir)}", file=sys.stderr)


@train_app.command("export")
@cli_errors
def train_export(
    checkpoint: Path = typer.Argument(..., help="A retriever run's checkpoint folder (OUTPUT_DIR.checkpoints: its latest step) or one step-* folder."),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Model directory to write (loads with SentenceTransformer(path))."),
    best: bool = typer.Option(False, "--best", help="Export the weights of the best dev evaluation so far (runs with --dev), not the latest step's."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing non-empty output directory."),
) -> None:
    """Publish a retriever checkpoint as a model without finishing the run (a run stopped early, or an earlier
    step that scored better on the dev sets); use the result with --model."""
    from codehunt.console import UsageError
    from codehunt.retriever.export import export_checkpoint

    if output_dir.resolve() == checkpoint.resolve() or checkpoint.resolve() in output_dir.resolve().parents:
        raise UsageError(f"-o {output_dir} is inside the checkpoint folder {checkpoint}; write the model elsewhere")
    refuse_existing_output(output_dir, overwrite)
    path, step = export_checkpoint(checkpoint, output_dir, best)
    print(f"saved step {step} of the run to {path}", file=sys.stderr)


@train_app.command("rerank-weight")
@cli_errors
def train_rerank_weight(
    reranker: Path = typer.Argument(..., help="Reranker directory made by `codehunt train reranker`."),
    dev: list[Path] = typer.Option(..., "--dev", help="BEIR folder to fit on, e.g. ../shared/data/cosqa (repeatable)."),
    mode: list[str] = typer.Option(["hybrid"], "--mode", help="First stage the reranker follows: hybrid (default), dense or bm25; repeat it to fit each and store one combination per mode (the first is the fallback)."),
    depth: int = typer.Option(30, "--rerank-depth", help="How many first-stage candidates the reranker rescores."),
    split: str = typer.Option("dev", "--split", help="qrels split of each BEIR folder."),
    objective: str = typer.Option("worst", "--objective", help="How the dev sets choose: worst (the largest gain on the set that gains least: no set loses) or mean (the best mean nDCG@10)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """Fit how --rerank DIR combines the reranker with the first stage (RRF or score interpolation, one weight)
    on dev sets, and store it in DIR, so `search/eval/localize --rerank DIR` apply it without flags."""
    from codehunt.cli import check_search_options

    for one in mode:
        check_search_options(one, depth, None)
    from codehunt.console import UsageError
    from codehunt.rerank_weight import OBJECTIVES, dumps, fit_rerank_weight, format_report

    if objective not in OBJECTIVES:
        raise UsageError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    report = fit_rerank_weight(reranker, dev, mode, depth, split, objective=objective)
    print(dumps(report) if as_json else format_report(report))
