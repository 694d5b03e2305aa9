"""``codehunt mine ...``: pairs, filter, negatives, teacher, each generated from its config dataclass.

Imported only when a command line names ``mine`` (``codehunt.cli_lazy``), so a search never pays for it.
"""
from __future__ import annotations

import sys

import typer

from codehunt.config_cli import config_command
from codehunt.mining.filter import FilterConfig
from codehunt.mining.negatives import NegativesConfig
from codehunt.mining.pairs import PairsConfig
from codehunt.mining.teacher import TeacherConfig

mine_app = typer.Typer(
    help="Turn code and history into training data: pairs -> filter -> negatives (triples.jsonl).", no_args_is_help=True, add_completion=False
)


def run_pairs(config: PairsConfig) -> None:
    from codehunt.mining.pairs import mine_pairs

    result = mine_pairs(config, show_progress=True)
    print(f"wrote {result.pairs} {result.kind} pairs to {result.output}; dropped: {dict(result.dropped)}", file=sys.stderr)


def run_filter(config: FilterConfig) -> None:
    from codehunt.mining.filter import filter_consistent_pairs

    result = filter_consistent_pairs(config, show_progress=True)
    print(f"kept {result.kept} of {result.pairs} pairs -> {result.output}; dropped {result.dropped} -> {result.dropped_output}; "
          f"report {result.report}", file=sys.stderr)


def run_negatives(config: NegativesConfig) -> None:
    from codehunt.mining.negatives import mine_negatives

    result = mine_negatives(config, show_progress=True)
    print(f"wrote {result.rows} rows for {result.pairs} pairs -> {result.output} ({result.skipped} skipped); report {result.report}",
          file=sys.stderr)


def run_teacher(config: TeacherConfig) -> None:
    from codehunt.mining.teacher import rescore_triples

    result = rescore_triples(config, show_progress=True)
    shares = ", ".join(f"{name} {share:.3f}" for name, share in result.agreement.items())
    print(f"rescored {result.rows} rows -> {result.output}; positive ranked first: {shares}; report {result.report}",
          file=sys.stderr)


config_command(mine_app, "pairs", PairsConfig, run_pairs, arguments=("source",), short={"output": "-o"},
               help_text="Mine (query, code) pairs: docstrings of a codebase, commit messages of a git history, "
                         "SWE-bench issues (--kind issues --repos DIR), or an existing pair file / BEIR folder.")
config_command(mine_app, "filter", FilterConfig, run_filter, arguments=("input",), short={"output": "-o"},
               help_text="Consistency filtering (CoRNStack): keep a pair only if its code ranks in the top-k for its own query.")
config_command(mine_app, "negatives", NegativesConfig, run_negatives, arguments=("input",), short={"output": "-o"},
               help_text="Mine hard negatives (dense + BM25) with false-negative guards; writes anchor, positive, negative_1..n.")
config_command(mine_app, "teacher", TeacherConfig, run_teacher, arguments=("input",), short={"output": "-o"},
               help_text="Rescore mined triples with one or more bi-encoders (--model, repeatable): their mean cosine "
                         "becomes the teacher score the reranker distils from.")
