"""Training checkpoints: safetensors for every tensor, JSON for everything else, published atomically.

A checkpoint is a directory ``step-00000100/`` holding

* ``model.safetensors`` (and, for the retriever, ``key_encoder.safetensors``, ``objective.safetensors``):
  state dicts;
* ``queues.safetensors`` (retriever): queued keys with their document and text ids;
* ``optimizer.safetensors``: AdamW moments, flattened as ``state.<param>.<name>``;
* ``rng-<rank>.safetensors``: each process's torch (and CUDA) generator states, with host generator
  states (NumPy, Python; see ``training.rng``) as JSON metadata;
* ``state.json`` (written last): step, data position, scheduler, optimizer hyper-parameters, loss
  history, config and ``format_version`` (plus the retriever's queue pointers, the reranker's ``kind``).

The retriever and the reranker write this one layout, so the rules for reading and resuming live
here, once. Nothing is pickled: ``torch.save`` is not needed even for the optimizer or RNG states.
Every process writes into the same staging directory, which the main process renames into
place once all have finished, so a crash never leaves a half-written ``step-*`` directory.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from codehunt.index.errors import CodehuntError

if TYPE_CHECKING:
    import torch

    from codehunt.training.config import TrainConfig

FORMAT_VERSION = 1
STATE_FILE = "state.json"
STEP_DIR = re.compile(r"^step-(\d+)$")


class CheckpointError(CodehuntError):
    """A checkpoint is missing, from another format version, or from an incompatible run."""


def checkpoint_dir(root: Path, step: int) -> Path:
    return Path(root) / f"step-{step:08d}"


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root`` (those with a ``state.json``), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := STEP_DIR.match(p.name)) and (p / STATE_FILE).is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def write_tensors(path: Path, tensors: dict[str, "torch.Tensor"], metadata: dict[str, str] | None = None) -> None:
    """safetensors file of CPU copies (copies, so tensors that share storage are saved independently)."""
    from safetensors.torch import save_file

    save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}, str(path), metadata=metadata)


def read_tensors(path: Path) -> tuple[dict[str, "torch.Tensor"], dict[str, str]]:
    from safetensors import safe_open

    if not Path(path).is_file():
        raise CheckpointError(f"checkpoint file {path} is missing: the checkpoint is incomplete, delete its directory")
    with safe_open(str(path), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}, dict(handle.metadata() or {})


def read_state(path: Path, kind: str | None = None) -> dict[str, Any]:
    """The ``state.json`` of checkpoint ``path``, checked for this format version (and ``kind``, where given).

    The reranker writes ``"kind": "reranker"`` into its state; the retriever writes no kind.
    """
    path = Path(path)
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path / STATE_FILE} is unreadable ({exc}): delete {path} to resume from the one before") from exc
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {state.get('format_version')}, this codehunt reads {FORMAT_VERSION}")
    if kind is not None and state.get("kind") != kind:
        raise CheckpointError(f"{path} is not a {kind} checkpoint of format {FORMAT_VERSION}: start a new run")
    return state


def find_resume_checkpoint(config: "TrainConfig", world_size: int, kind: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The latest checkpoint under ``config.checkpoint_path`` and its state, fit for ``--resume``.

    Refused (``CheckpointError``) when there is none, when it was written with other learning
    fields (``config.learning_fields()``: what is learned, not where or how often), or by
    another number of processes (the data order depends on it).
    """
    root = config.checkpoint_path
    folder = latest_checkpoint(root)
    if folder is None:
        raise CheckpointError(f"--resume: no checkpoint under {root}; run without --resume to start afresh")
    state = read_state(folder, kind)
    saved = type(config).from_json(state["config"]).learning_fields()
    differ = sorted(k for k, v in config.learning_fields().items() if saved.get(k) != v)
    if differ:
        raise CheckpointError(f"{folder} was written with other settings for {', '.join(differ)}: "
                              "resume with the same options or start a new run")
    if state["world_size"] != world_size:
        raise CheckpointError(f"{folder} was written by {state['world_size']} processes, this run has {world_size}")
    return folder, state


def dumps_json(payload: Any) -> str:
    """The JSON text of ``state.json`` and of ``codehunt_training.json``: sorted keys, one-space indent."""
    return json.dumps(payload, indent=1, sort_keys=True)


def optimizer_to_tensors(state_dict: dict[str, Any]) -> tuple[dict[str, "torch.Tensor"], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and JSON-able hyper-parameters."""
    import torch

    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def optimizer_from_tensors(tensors: dict[str, "torch.Tensor"], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for index, values in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def publish_checkpoint(root: Path, step: int, write: Callable[[Path], None], *, is_main: bool,
                       barrier: Callable[[], None], keep: int) -> Path:
    """Every process calls this; each writes its files through ``write(staging)``; main renames and prunes.

    ``write`` must write ``state.json`` last on the main process.
    """
    final = checkpoint_dir(root, step)
    staging = final.parent / f".{final.name}.staging"
    if is_main:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    barrier()
    write(staging)
    barrier()
    if is_main:
        if final.exists():
            retired = final.parent / f".{final.name}.old-{os.getpid()}"
            os.replace(final, retired)
            shutil.rmtree(retired, ignore_errors=True)
        os.replace(staging, final)
        for old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final
