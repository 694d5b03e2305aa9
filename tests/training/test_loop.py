"""The shared step loop on a toy run: loss windows, pair counts, checkpoint steps, the summary."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from codehunt.training.loop import run_steps, run_summary


@dataclass(frozen=True)
class ToyConfig:
    output_dir: str = "m"
    log_every: int = 2
    checkpoint_every: int = 3
    grad_accum: int = 2
    keep_checkpoints: int = 2
    resume: bool = False
    overwrite: bool = False

    @property
    def checkpoint_path(self) -> Path:
        return Path("m.checkpoints")

    def to_json(self) -> dict:
        return {"log_every": self.log_every}


class ToyAccelerator:
    is_main_process = True


@dataclass
class ToyRun:
    """Step s's micro-batches have losses (s, s + 1) and 5 pairs each; lr halves every step."""

    total_steps: int
    config: ToyConfig = field(default_factory=ToyConfig)
    accelerator: ToyAccelerator = field(default_factory=ToyAccelerator)
    rank: int = 0
    world: int = 3
    bf16: bool = False
    step: int = 0
    history: list = field(default_factory=list)
    seconds: float = 0.0
    pairs_seen: int = 0
    saved: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: 0.5**step)

    def micro_batches(self) -> tuple[list[dict[str, float]], int]:
        return [{"loss": float(self.step), "extra": 1.0}, {"loss": float(self.step + 1), "extra": 7.0}], 10

    def optimizer_step(self) -> None:
        self.optimizer.step()
        self.scheduler.step()

    def record_extras(self, last: dict[str, float]) -> dict[str, float]:
        return {"extra": last["extra"]}

    def save_checkpoint(self) -> Path:
        self.saved.append(self.step)
        return Path("unused")


def test_loop_records_windows_counts_pairs_and_checkpoints() -> None:
    run = ToyRun(total_steps=5)
    run_steps(run, "toy")
    # step losses (mean of the micro-batches): 0.5, 1.5, 2.5, 3.5, 4.5; records every 2 steps and at the end
    assert [(h["step"], h["loss"], h["lr"], h["extra"]) for h in run.history] == [
        (2, 1.0, 0.5, 7.0), (4, 3.0, 0.125, 7.0), (5, 4.5, 0.0625, 7.0)]
    assert run.step == 5 and run.pairs_seen == 5 * 10 * 3 and run.seconds > 0
    assert run.saved == [3]
    summary = run_summary(run)
    assert summary["steps"] == 5 and summary["world_size"] == 3 and summary["history"] == run.history


def test_loop_resumes_from_the_run_step_and_can_checkpoint_at_the_end() -> None:
    run = ToyRun(total_steps=5, step=4)
    run_steps(run, "toy", checkpoint_at_end=True)
    assert [h["step"] for h in run.history] == [5] and run.saved == [5] and run.pairs_seen == 30
