"""Set-up shared by the retriever's and the reranker's training runs.

Both runs are the same kind of loop (accelerate data parallelism, AdamW with linear warm-up and
decay, gradient clipping, bf16 autocast where the device has fast bf16, atomic checkpoints under
``OUTPUT_DIR.checkpoints``); these helpers keep the two from drifting apart. Whether to use bf16
is decided by ``index.precision.wants_bf16``, the same rule the encoder and the reranker use at
query time.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ContextManager, Iterable

from codehunt.training.checkpoint import list_checkpoints

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

    from codehunt.training.config import TrainConfig


def make_accelerator(device: str | None, find_unused_parameters: bool = False) -> "Accelerator":
    """An ``Accelerator`` on the CPU for ``device`` "cpu" (or None without CUDA), else accelerate's choice.

    ``find_unused_parameters`` tells DDP not to wait for gradients some parameters never get
    (a BERT pooler that sentence-transformers never calls).
    """
    import torch
    from accelerate import Accelerator, DistributedDataParallelKwargs

    use_cpu = device == "cpu" or (device is None and not torch.cuda.is_available())
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if find_unused_parameters else None
    return Accelerator(cpu=use_cpu, kwargs_handlers=handlers)


def count_total_steps(steps: int | None, epochs: int, micro_batches_per_epoch: int, grad_accum: int) -> int:
    """Optimizer steps of a run: ``steps`` if set, else ``epochs`` passes of whole steps (at least one per epoch)."""
    return steps or epochs * max(1, micro_batches_per_epoch // grad_accum)


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


def clip_and_step(optimizer: "torch.optim.Optimizer", scheduler: "torch.optim.lr_scheduler.LRScheduler",
                  max_grad_norm: float, parameters: Iterable["torch.nn.Parameter"] | None = None) -> None:
    """Clip the gradient norm of ``parameters`` (default: the optimizer's) to ``max_grad_norm`` (0: no clipping),
    step the optimizer and the schedule, and clear the gradients."""
    import torch

    if max_grad_norm > 0:
        params = list(parameters) if parameters is not None else [p for g in optimizer.param_groups for p in g["params"]]
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def bf16_autocast(device: "torch.device", enabled: bool) -> ContextManager[object]:
    """bf16 autocast on ``device``'s type where ``enabled`` (a no-op context otherwise)."""
    import torch

    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def prepare_run_directories(accelerator: "Accelerator", config: "TrainConfig", error: type[Exception]) -> None:
    """Refuse to clobber an earlier run unless told to; every process checks, so all raise together.

    Without ``config.resume`` or ``config.overwrite``, a non-empty output directory or existing
    checkpoints raise ``error`` (the trainer's config error). With ``overwrite`` (and no
    ``resume``) the old checkpoints are removed by the main process before any process writes,
    so a new run never resumes or prunes an old run's files.
    """
    output_dir, checkpoint_root = Path(config.output_dir), config.checkpoint_path
    if not config.resume and not config.overwrite:
        if output_dir.exists() and any(output_dir.iterdir()):
            raise error(f"output directory {output_dir} exists and is not empty: pass --overwrite or another -o")
        if list_checkpoints(checkpoint_root):
            raise error(f"{checkpoint_root} holds checkpoints of an earlier run: pass --resume to continue it, or --overwrite")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process and not config.resume and config.overwrite and checkpoint_root.exists():
        shutil.rmtree(checkpoint_root)
    accelerator.wait_for_everyone()
