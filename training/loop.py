"""The step loop, checkpoint round trip and summary that the retriever and reranker runs share.

A training run (``retriever.train.TrainingRun``, ``reranker.train.RerankerTrainingRun``) owns its
model, loss and data; what is the same in both lives here: the loop over optimizer steps (timing,
pair counts, the loss window logged every ``log_every`` steps, the progress bar, checkpoints every
``checkpoint_every``), the part of a checkpoint every run has (RNG files, optimizer, scheduler,
position, config), and the figures in ``codehunt_training.json``. The run supplies its model's side
through the few methods of :class:`Run`.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from codehunt.training.checkpoint import (
    FORMAT_VERSION, STATE_FILE, dumps_json, optimizer_from_tensors, optimizer_to_tensors, publish_checkpoint,
    read_tensors, write_tensors,
)
from codehunt.training.rng import write_rng_state

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

    from codehunt.training.config import TrainConfig

log = logging.getLogger(__name__)

OPTIMIZER_FILE = "optimizer.safetensors"
RngState = tuple[dict[str, "torch.Tensor"], dict[str, str]]
"""(torch generator states, host generator states as JSON strings): one ``rng-<rank>.safetensors``."""


class Run(Protocol):
    """What the shared loop and checkpoint code read (properties) and update (attributes) on a training run."""

    @property
    def config(self) -> "TrainConfig": ...
    @property
    def accelerator(self) -> "Accelerator": ...
    @property
    def rank(self) -> int: ...
    @property
    def world(self) -> int: ...
    @property
    def optimizer(self) -> "torch.optim.Optimizer": ...
    @property
    def scheduler(self) -> "torch.optim.lr_scheduler.LRScheduler": ...
    @property
    def bf16(self) -> bool: ...
    @property
    def total_steps(self) -> int: ...

    step: int
    history: list[dict[str, float]]
    seconds: float
    pairs_seen: int

    def micro_batches(self) -> tuple[list[dict[str, float]], int]:
        """Forward and backward passes of step ``self.step``'s micro-batches: their stats (each with ``loss``)
        and how many pairs this process scored."""
        ...

    def optimizer_step(self) -> None: ...

    def record_extras(self, last: dict[str, float]) -> dict[str, float]:
        """Fields of a history record beyond step, loss and lr, from the last micro-batch's stats."""
        ...

    def save_checkpoint(self) -> Path: ...


def run_steps(run: Run, desc: str, show_progress: bool = False, checkpoint_at_end: bool = False,
              after_step: Callable[[], None] | None = None) -> None:
    """Train ``run`` from ``run.step`` to ``run.total_steps``, logging and checkpointing on the way.

    Each history record holds the mean loss over the steps since the last record and the
    learning rate the step used; ``pairs_seen`` counts pairs over all processes. A checkpoint is
    written every ``checkpoint_every`` steps and, with ``checkpoint_at_end``, after the last step.
    ``after_step`` (a dev evaluation) runs after each step, outside the timed part and before that
    step's checkpoint, so the checkpoint holds what it found.
    """
    from tqdm.auto import tqdm

    c = run.config
    bar = tqdm(total=run.total_steps, initial=run.step, desc=desc, unit="step",
               disable=not (show_progress and run.accelerator.is_main_process), dynamic_ncols=True)
    window: list[float] = []
    while run.step < run.total_steps:
        started = time.perf_counter()
        micro_stats, pairs = run.micro_batches()
        lr = run.scheduler.get_last_lr()[0]
        run.optimizer_step()
        run.step += 1
        run.seconds += time.perf_counter() - started
        run.pairs_seen += pairs * run.world
        loss = sum(s["loss"] for s in micro_stats) / len(micro_stats)
        window.append(loss)
        if run.step % c.log_every == 0 or run.step == run.total_steps:
            record = {"step": run.step, "loss": sum(window) / len(window), "lr": lr, **run.record_extras(micro_stats[-1])}
            run.history.append(record)
            log.info("step %d/%d loss %.4f lr %.2e", run.step, run.total_steps, record["loss"], lr)
            window = []
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", pairs_s=f"{run.pairs_seen / max(run.seconds, 1e-9):.1f}")
        bar.update(1)
        if after_step is not None:
            after_step()
        if run.step % c.checkpoint_every == 0 or (checkpoint_at_end and run.step == run.total_steps):
            run.save_checkpoint()
    bar.close()


def save_run_checkpoint(run: Run, write_weights: Callable[[Path], dict[str, Any]], rng_state: Callable[[], RngState]) -> Path:
    """Publish checkpoint ``step-<run.step>`` (every process calls this).

    Each process writes its ``rng_state()``; the main process then calls ``write_weights(folder)``
    (the run's own tensors; it returns extra ``state.json`` fields), writes the optimizer and, last,
    ``state.json`` with the run's position and config.
    """
    acc = run.accelerator

    def write(folder: Path) -> None:
        write_rng_state(folder, run.rank, *rng_state())
        if not acc.is_main_process:
            return
        extra = write_weights(folder)
        optimizer_tensors, optimizer_meta = optimizer_to_tensors(run.optimizer.state_dict())
        write_tensors(folder / OPTIMIZER_FILE, optimizer_tensors)
        state = {
            "format_version": FORMAT_VERSION, "step": run.step, "micro_batch": run.step * run.config.grad_accum,
            "world_size": run.world, "scheduler": run.scheduler.state_dict(), "optimizer": optimizer_meta,
            "history": run.history, "seconds": run.seconds, "pairs_seen": run.pairs_seen, "config": run.config.to_json(),
            **extra,
        }
        (folder / STATE_FILE).write_text(dumps_json(state), encoding="utf-8")

    return publish_checkpoint(run.config.checkpoint_path, run.step, write, is_main=acc.is_main_process,
                              barrier=acc.wait_for_everyone, keep=run.config.keep_checkpoints)


def restore_run_state(run: Run, folder: Path, state: dict[str, Any]) -> None:
    """Load the optimizer, the schedule and the position (step, history, time, pairs) of checkpoint ``folder``."""
    run.optimizer.load_state_dict(optimizer_from_tensors(read_tensors(folder / OPTIMIZER_FILE)[0], state["optimizer"]))
    run.scheduler.load_state_dict(state["scheduler"])
    run.step, run.history = int(state["step"]), list(state["history"])
    run.seconds, run.pairs_seen = float(state["seconds"]), int(state["pairs_seen"])
    log.info("resumed from %s at step %d", folder, run.step)


def run_summary(run: Run) -> dict[str, Any]:
    """The figures every published model records in ``codehunt_training.json``: config, steps, history, speed."""
    return {
        "format_version": FORMAT_VERSION, "config": run.config.to_json(), "steps": run.step, "world_size": run.world,
        "bf16": run.bf16, "history": run.history, "train_seconds": round(run.seconds, 3),
        "pairs_per_second": run.pairs_seen / max(run.seconds, 1e-9),
    }
