"""The one bf16 decision: does a forward pass under ``precision`` on ``device`` run in bf16 autocast?

The encoder (``index.encoder``), the reranker at query time (``reranker.model``) and both trainers
(``training.run_setup``) ask this same question; answering it in one place keeps an index built with
``--precision auto`` and a model trained with it agreeing on what "auto" meant on that machine.
bf16 pays only where the hardware multiplies it fast: CUDA devices that support it, and CPUs with
AMX or AVX512-BF16 (elsewhere bf16 matmuls are emulated and slower than fp32).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

PRECISIONS = ("fp32", "bf16", "auto")


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has AMX or AVX512-BF16, i.e. bf16 matmuls beat fp32 ones."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    return any(flag in flags for flag in (" amx_bf16", " avx512_bf16"))


def wants_bf16(precision: str, device: "str | torch.device") -> bool:
    """bf16 autocast for ``precision`` "bf16", none for "fp32", and for "auto" where ``device`` computes bf16 fast.

    The configs validate ``precision``; any other string is read as "auto" (as the encoder always did).
    ``device`` is a torch device or its name (``"cpu"``, ``"cuda:0"``).
    """
    if precision == "bf16":
        return True
    if precision == "fp32":
        return False
    if str(device).startswith("cuda"):
        import torch

        return bool(torch.cuda.is_bf16_supported())
    return cpu_has_fast_bf16()
