"""Run set-up both trainers share: schedule, optimizer groups, clipping, step count, bf16 choice, directory rules."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from codehunt.index import precision
from codehunt.index.precision import wants_bf16
from codehunt.retriever.config import RetrieverConfigError, RetrieverTrainConfig
from codehunt.training.run_setup import (
    clip_and_step, count_total_steps, linear_schedule, make_optimizer, prepare_run_directories,
)


def test_linear_schedule_warms_up_then_decays_to_zero() -> None:
    multiplier = linear_schedule(total=10, warmup=2)
    assert [multiplier(s) for s in (0, 1, 2, 6, 10, 12)] == [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]


def test_optimizer_decays_matrices_only_and_clipping_bounds_the_step() -> None:
    layer = torch.nn.Linear(3, 2)
    optimizer, scheduler = make_optimizer(layer.parameters(), lr=1.0, weight_decay=0.1, total_steps=4, warmup_ratio=0.0)
    decay, no_decay = optimizer.param_groups
    assert [p.shape for p in decay["params"]] == [torch.Size([2, 3])] and decay["weight_decay"] == 0.1
    assert [p.shape for p in no_decay["params"]] == [torch.Size([2])] and no_decay["weight_decay"] == 0.0
    layer.weight.grad, layer.bias.grad = torch.full((2, 3), 3.0), torch.full((2,), 4.0)  # norm sqrt(6*9 + 2*16) = sqrt(86)
    clip_and_step(optimizer, scheduler, max_grad_norm=1.0)
    assert layer.weight.grad is None and scheduler.get_last_lr() == [0.75, 0.75]  # cleared; schedule stepped once


def test_clipping_uses_the_given_parameters() -> None:
    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    weight.grad = torch.tensor([3.0, 4.0])  # norm 5, clipped to 1: the step is (0.6, 0.8)
    clip_and_step(optimizer, scheduler, 1.0, [weight])
    torch.testing.assert_close(weight.detach(), torch.tensor([-0.6, -0.8]))


def test_total_steps() -> None:
    assert count_total_steps(steps=7, epochs=3, micro_batches_per_epoch=10, grad_accum=2) == 7
    assert count_total_steps(steps=None, epochs=3, micro_batches_per_epoch=10, grad_accum=2) == 15
    assert count_total_steps(steps=None, epochs=2, micro_batches_per_epoch=1, grad_accum=4) == 2  # at least 1 per epoch


def test_bf16_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    assert wants_bf16("bf16", "cpu") and not wants_bf16("fp32", "cpu") and wants_bf16("auto", torch.device("cpu"))
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    assert not wants_bf16("auto", "cpu") and wants_bf16("bf16", "cpu")


class FakeAccelerator:
    is_main_process = True

    def wait_for_everyone(self) -> None:
        pass


def test_run_directories_refuse_to_clobber(tmp_path: Path) -> None:
    config = RetrieverTrainConfig(data="t.jsonl", output_dir=str(tmp_path / "m"))
    prepare_run_directories(FakeAccelerator(), config, RetrieverConfigError)  # nothing there yet
    (config.checkpoint_path / "step-00000001").mkdir(parents=True)
    (config.checkpoint_path / "step-00000001" / "state.json").write_text("{}", encoding="utf-8")
    with pytest.raises(RetrieverConfigError, match="--resume"):
        prepare_run_directories(FakeAccelerator(), config, RetrieverConfigError)
    prepare_run_directories(FakeAccelerator(), RetrieverTrainConfig(data="t.jsonl", output_dir=str(tmp_path / "m"), resume=True),
                            RetrieverConfigError)
    assert config.checkpoint_path.exists()  # resuming keeps the checkpoints
    prepare_run_directories(FakeAccelerator(), RetrieverTrainConfig(data="t.jsonl", output_dir=str(tmp_path / "m"), overwrite=True),
                            RetrieverConfigError)
    assert not config.checkpoint_path.exists()  # a new run with --overwrite never resumes an old run's files
