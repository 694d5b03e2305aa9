"""Set-up shared by the retriever's and the reranker's training runs.

Both runs are the same kind of loop (AdamW, linear warm-up and decay, bf16 autocast where
the device has fast bf16, atomic checkpoints under ``OUTPUT_DIR.checkpoints``); these helpers
keep the two from drifting apart. The retriever layer holds them because the reranker
already builds on its checkpoint and batch-order modules.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from codehunt.index.encoder import cpu_has_fast_bf16
from codehunt.retriever.checkpoint import list_checkpoints

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator


def linear_schedule(total: int, warmup: int) -> Callable[[int], float]:
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total`` (as transformers' default)."""

    def multiplier(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return multiplier


def make_optimizer(
    parameters: Iterable["torch.nn.Parameter"], lr: float, weight_decay: float, total_steps: int, warmup_ratio: float
) -> tuple["torch.optim.Optimizer", "torch.optim.lr_scheduler.LambdaLR"]:
    """AdamW with weight decay on matrices only (not biases, norms or scalars), and its linear schedule."""
    import torch

    parameters = list(parameters)
    decay = [p for p in parameters if p.ndim >= 2]
    no_decay = [p for p in parameters if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(total_steps, int(total_steps * warmup_ratio)))
    return optimizer, scheduler


def wants_bf16(precision: str, device: "torch.device") -> bool:
    """bf16 autocast for ``precision`` bf16, or for auto where the device computes bf16 fast (AMX, AVX512-BF16, CUDA)."""
    import torch

    if precision != "auto":
        return precision == "bf16"
    return bool(torch.cuda.is_bf16_supported()) if device.type == "cuda" else cpu_has_fast_bf16()


def prepare_run_directories(
    accelerator: "Accelerator", output_dir: Path, checkpoint_root: Path, resume: bool, overwrite: bool,
    error: type[Exception],
) -> None:
    """Refuse to clobber an earlier run unless told to; every process checks, so all raise together.

    With ``overwrite`` (and no ``resume``) the old checkpoints are removed by the main process
    before any process writes, so a new run never resumes or prunes an old run's files.
    """
    if not resume and not overwrite:
        if output_dir.exists() and any(output_dir.iterdir()):
            raise error(f"output directory {output_dir} exists and is not empty: pass --overwrite or another -o")
        if list_checkpoints(checkpoint_root):
            raise error(f"{checkpoint_root} holds checkpoints of an earlier run: pass --resume to continue it, or --overwrite")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process and not resume and overwrite and checkpoint_root.exists():
        shutil.rmtree(checkpoint_root)
    accelerator.wait_for_everyone()
