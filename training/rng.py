"""Random generator states of one training process, saved in ``rng-<rank>.safetensors`` and restored on resume.

Exact resumption (N steps + resume + N steps == 2N straight steps) needs every generator a run
draws from back where it was: torch's global CPU generator (dropout), every CUDA device's, the
run's own ``torch.Generator`` objects (the retriever's MoCHi mixing), and host generators (the
reranker's Python / NumPy global state, the retriever's augmentation generator). Torch states
are uint8 tensors and go in the safetensors body; host states are JSON strings in its metadata.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from codehunt.training.checkpoint import read_tensors, write_tensors

if TYPE_CHECKING:
    import torch


def rng_file(folder: Path, rank: int) -> Path:
    """Where process ``rank`` keeps its generator states inside checkpoint ``folder``."""
    return Path(folder) / f"rng-{rank}.safetensors"


def capture_torch_rng_state(generators: Mapping[str, "torch.Generator"] | None = None) -> dict[str, "torch.Tensor"]:
    """torch's global state as ``torch``, CUDA device i's as ``cuda.<i>``, and each named generator's under its name."""
    import torch

    tensors = {"torch": torch.get_rng_state()}
    tensors.update({name: generator.get_state() for name, generator in (generators or {}).items()})
    if torch.cuda.is_available():
        tensors.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return tensors


def restore_torch_rng_state(tensors: Mapping[str, "torch.Tensor"],
                            generators: Mapping[str, "torch.Generator"] | None = None) -> None:
    """Inverse of :func:`capture_torch_rng_state` (the same ``generators`` names)."""
    import torch

    torch.set_rng_state(tensors["torch"])
    for name, generator in (generators or {}).items():
        generator.set_state(tensors[name])
    if torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[f"cuda.{i}"] for i in range(torch.cuda.device_count())])


def capture_host_rng_state() -> dict[str, str]:
    """Python's and NumPy's global generator states as JSON strings (keys ``python``, ``numpy``)."""
    import numpy as np

    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": json.dumps([version, list(internal), gauss]),
        "numpy": json.dumps([kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]),
    }


def restore_host_rng_state(meta: Mapping[str, str]) -> None:
    """Inverse of :func:`capture_host_rng_state`."""
    import numpy as np

    version, internal, gauss = json.loads(meta["python"])
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = json.loads(meta["numpy"])
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def write_rng_state(folder: Path, rank: int, tensors: dict[str, "torch.Tensor"], meta: dict[str, str]) -> None:
    """Write process ``rank``'s generator states into checkpoint ``folder``."""
    write_tensors(rng_file(folder, rank), tensors, meta)


def read_rng_state(folder: Path, rank: int) -> tuple[dict[str, "torch.Tensor"], dict[str, str]]:
    """(torch states, host-state metadata) that process ``rank`` wrote into checkpoint ``folder``."""
    return read_tensors(rng_file(folder, rank))
