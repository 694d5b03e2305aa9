"""The config rules both train configs share: checkpoint folder, JSON round trip, the fields a resumption must keep."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from codehunt.training.config import RUN_ONLY_FIELDS, SavedTrainConfig


@dataclass(frozen=True)
class Toy(SavedTrainConfig):
    output_dir: str
    checkpoint_dir: str | None = None
    lr: float = 0.1
    log_every: int = 10


def test_checkpoint_folder_sits_beside_the_model_dir() -> None:
    assert Toy("out/model/").checkpoint_path == Path("out/model.checkpoints")
    assert Toy("out/model", checkpoint_dir="elsewhere").checkpoint_path == Path("elsewhere")


def test_json_round_trip_ignores_unknown_keys_and_resume_key_skips_run_only_fields() -> None:
    toy = Toy("m", lr=0.5, log_every=3)
    assert toy.to_json() == {"output_dir": "m", "checkpoint_dir": None, "lr": 0.5, "log_every": 3}
    assert Toy.from_json({**json.loads(json.dumps(toy.to_json())), "from_a_later_version": 1}) == toy
    assert {"output_dir", "checkpoint_dir", "log_every"} <= RUN_ONLY_FIELDS
    assert toy.learning_fields() == {"lr": 0.5}
