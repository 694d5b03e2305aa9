"""Publish a retriever checkpoint as a model directory, without finishing the run.

A long run on a 2-core CPU is often stopped early: the dev scores it records every ``eval_every`` steps may
show the best step is behind it. ``codehunt train retriever --resume`` would continue it; this module instead
writes what a checkpoint holds (its current weights, or the best-by-dev-mean copy the trainer keeps beside
them) as a directory that loads with ``SentenceTransformer(path)``, the same way the trainer publishes.
"""
from __future__ import annotations

import json
from pathlib import Path

from codehunt.index.errors import BadInputError
from codehunt.training.checkpoint import latest_checkpoint


def find_checkpoint(path: Path) -> Path:
    """``path`` itself when it is one checkpoint (holds ``state.json``), else the latest checkpoint under it."""
    path = Path(path)
    if (path / "state.json").is_file():
        return path
    latest = latest_checkpoint(path) if path.is_dir() else None
    if latest is None:
        raise BadInputError(f"{path} holds no retriever checkpoint (a step-* folder with state.json); "
                            "pass OUTPUT_DIR.checkpoints of a `codehunt train retriever` run or one step-* folder in it")
    return latest


def export_checkpoint(checkpoint: Path, output_dir: Path, best: bool = False) -> tuple[Path, int]:
    """Write the checkpoint's weights (``best``: the best dev evaluation's) to ``output_dir``; returns it and the step.

    The base model, token window and prompts come from the run's config in ``state.json``; the training info
    records the checkpoint, the step and the dev history. Written atomically (staging dir + rename).
    """
    from safetensors.torch import load_file

    from codehunt.retriever.model import load_bi_encoder, resolve_prompts, save_bi_encoder

    folder = find_checkpoint(checkpoint)
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    config = state.get("config") or {}
    if best:
        if not (folder / "best_model.safetensors").is_file() or not state.get("best_dev"):
            raise BadInputError(f"{folder} has no best-by-dev weights: the run had no --dev sets; export without --best")
        weights, step = folder / "best_model.safetensors", int(state["best_dev"]["step"])
    else:
        weights, step = folder / "model.safetensors", int(state["step"])
    model = load_bi_encoder(str(config.get("base", "default")), int(config.get("max_seq_length", 256)), "cpu")
    try:
        model.load_state_dict(load_file(str(weights)))
    except RuntimeError as exc:
        raise BadInputError(f"{weights} does not fit the run's base model {config.get('base')!r}: {exc}") from exc
    prompts = resolve_prompts(model, config.get("query_prompt"), config.get("document_prompt"))
    info = {"exported_from": str(folder), "step": step, "best": best, "config": config,
            "dev_history": state.get("dev_history", []), "best_dev": state.get("best_dev")}
    return save_bi_encoder(model, Path(output_dir), prompts, info), step
