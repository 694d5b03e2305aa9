"""Checkpoint files: state.json checks, the resume rules both trainers share, optimizer and RNG round trips."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from codehunt.reranker.config import RerankerTrainConfig
from codehunt.training.checkpoint import (
    FORMAT_VERSION, CheckpointError, find_resume_checkpoint, list_checkpoints, optimizer_from_tensors,
    optimizer_to_tensors, publish_checkpoint, read_state,
)
from codehunt.training.rng import (
    capture_host_rng_state, capture_torch_rng_state, read_rng_state, restore_host_rng_state, restore_torch_rng_state,
    write_rng_state,
)


def write_state(folder: Path, **state) -> Path:
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps(state), encoding="utf-8")
    return folder


def test_read_state_checks_format_and_kind(tmp_path: Path) -> None:
    good = write_state(tmp_path / "step-00000001", format_version=FORMAT_VERSION, kind="reranker", step=1)
    assert read_state(good)["step"] == 1 and read_state(good, kind="reranker")["kind"] == "reranker"
    with pytest.raises(CheckpointError, match="not a retriever checkpoint"):
        read_state(good, kind="retriever")
    old = write_state(tmp_path / "step-00000002", format_version=FORMAT_VERSION + 1)
    with pytest.raises(CheckpointError, match=f"format {FORMAT_VERSION + 1}"):
        read_state(old)
    broken = tmp_path / "step-00000003"
    broken.mkdir()
    (broken / "state.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="unreadable"):
        read_state(broken)


def test_find_resume_checkpoint_takes_the_latest_and_refuses_other_runs(tmp_path: Path) -> None:
    config = RerankerTrainConfig(data="t.jsonl", output_dir=str(tmp_path / "m"))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        find_resume_checkpoint(config, world_size=1)
    root = config.checkpoint_path
    for step in (2, 10):  # 10 sorts after 2 numerically, not only as text
        write_state(root / f"step-{step:08d}", format_version=FORMAT_VERSION, kind="reranker", world_size=1,
                    config=config.to_json(), step=step)
    (root / "step-00000011").mkdir()  # no state.json: incomplete, never resumed from
    folder, state = find_resume_checkpoint(config, world_size=1, kind="reranker")
    assert folder.name == "step-00000010" and state["step"] == 10
    moved = RerankerTrainConfig(data="t.jsonl", output_dir=str(tmp_path / "m"), checkpoint_every=7, resume=True)
    assert find_resume_checkpoint(moved, world_size=1)[1]["step"] == 10  # run-only fields may change
    with pytest.raises(CheckpointError, match="lr, seed"):
        find_resume_checkpoint(RerankerTrainConfig(data="t.jsonl", output_dir=str(tmp_path / "m"), lr=1e-3, seed=1), 1)
    write_state(root / "step-00000012", format_version=FORMAT_VERSION, world_size=2, config=config.to_json())
    with pytest.raises(CheckpointError, match="2 processes, this run has 1"):
        find_resume_checkpoint(config, world_size=1)


def test_optimizer_state_round_trips_through_tensors_and_json() -> None:
    weight = torch.nn.Parameter(torch.ones(2, 2))
    optimizer = torch.optim.AdamW([weight], lr=0.1, betas=(0.8, 0.9))
    weight.grad = torch.full((2, 2), 0.5)
    optimizer.step()
    tensors, meta = optimizer_to_tensors(optimizer.state_dict())
    assert set(tensors) >= {"state.0.exp_avg", "state.0.exp_avg_sq"}
    restored = optimizer_from_tensors(tensors, json.loads(json.dumps(meta)))
    assert restored["param_groups"][0]["betas"] == (0.8, 0.9)
    torch.testing.assert_close(restored["state"][0]["exp_avg"], torch.full((2, 2), 0.1))  # (1 - 0.8) * 0.5


def test_publish_checkpoint_renames_into_place_and_keeps_the_newest(tmp_path: Path) -> None:
    def write(folder: Path) -> None:
        (folder / "state.json").write_text("{}", encoding="utf-8")

    for step in (1, 2, 3):
        publish_checkpoint(tmp_path, step, write, is_main=True, barrier=lambda: None, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000002", "step-00000003"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000002", "step-00000003"]  # no staging left


def test_rng_state_round_trips_through_a_checkpoint_file(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(7)
    write_rng_state(tmp_path, 3, capture_torch_rng_state({"mochi": generator}), capture_host_rng_state())
    expected = (torch.rand(3), torch.rand(2, generator=generator), random.random(), np.random.rand())
    torch.manual_seed(99), generator.manual_seed(99), random.seed(99), np.random.seed(99)  # scramble every generator
    tensors, meta = read_rng_state(tmp_path, 3)
    assert (tmp_path / "rng-3.safetensors").is_file() and {"torch", "mochi"} <= set(tensors)
    restore_torch_rng_state(tensors, {"mochi": generator})
    restore_host_rng_state(meta)
    again = (torch.rand(3), torch.rand(2, generator=generator), random.random(), np.random.rand())
    assert torch.equal(again[0], expected[0]) and torch.equal(again[1], expected[1])
    assert again[2:] == expected[2:]
