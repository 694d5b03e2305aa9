"""What every training config shares: run-only fields, the checkpoint folder rule and the JSON round trip.

``RetrieverTrainConfig`` and ``RerankerTrainConfig`` are frozen dataclasses saved as JSON in every
checkpoint and model directory; a resumed run must agree with its checkpoint on every field that
changes what is learned. :class:`SavedTrainConfig` gives both the same answers to "where do
checkpoints go", "how is a config read back" and "which fields must a resumption share";
:class:`TrainConfig` is what the shared loop and checkpoint code read from either.
"""
from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

RUN_ONLY_FIELDS = frozenset(
    {"output_dir", "checkpoint_dir", "resume", "overwrite", "checkpoint_every", "keep_checkpoints", "log_every",
     "cache_dir", "device"}
)
"""Fields that may differ between a run and its resumption: they change where and how often, not what is learned."""

C = TypeVar("C", bound="SavedTrainConfig")


class SavedTrainConfig:
    """Methods of a train config, mixed into its frozen dataclass (this class adds no fields).

    The dataclass must have ``output_dir`` and ``checkpoint_dir`` fields; the annotations below
    only tell type checkers so (a dataclass takes fields from dataclass bases alone).
    """

    __dataclass_fields__: ClassVar[dict[str, Any]]
    output_dir: str
    checkpoint_dir: str | None

    @property
    def checkpoint_path(self) -> Path:
        """``checkpoint_dir`` if set, else ``OUTPUT_DIR.checkpoints`` beside the model directory (never inside it)."""
        if self.checkpoint_dir:
            return Path(self.checkpoint_dir)
        return Path(f"{str(self.output_dir).rstrip('/')}.checkpoints")

    def to_json(self) -> dict[str, Any]:
        """The config as a JSON-able dict, one key per field."""
        return asdict(self)

    @classmethod
    def from_json(cls: type[C], record: dict[str, Any]) -> C:
        """The config ``record`` holds; keys that are not fields (from other codehunt versions) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in record.items() if key in known})

    def learning_fields(self) -> dict[str, Any]:
        """The fields a resumed run must share with the run that wrote the checkpoint (all but ``RUN_ONLY_FIELDS``)."""
        return {key: value for key, value in asdict(self).items() if key not in RUN_ONLY_FIELDS}


class TrainConfig(Protocol):
    """The fields and methods ``training`` reads from a trainer's config (both train configs have them)."""

    @property
    def output_dir(self) -> str: ...
    @property
    def resume(self) -> bool: ...
    @property
    def overwrite(self) -> bool: ...
    @property
    def grad_accum(self) -> int: ...
    @property
    def log_every(self) -> int: ...
    @property
    def checkpoint_every(self) -> int: ...
    @property
    def keep_checkpoints(self) -> int: ...
    @property
    def checkpoint_path(self) -> Path: ...

    def to_json(self) -> dict[str, Any]: ...

    def learning_fields(self) -> dict[str, Any]: ...

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "TrainConfig": ...
