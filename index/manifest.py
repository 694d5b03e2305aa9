"""``manifest.json``: what an index directory holds and which encoder built it.

The manifest is what lets ``Index.load(path)`` work without a model argument, and what
turns "you searched a 768-d index with a 384-d model" into a clear error instead of a
FAISS assertion.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codehunt.index.errors import CorruptIndexError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class EncoderInfo:
    """The encoder an index was built with."""

    name: str
    fingerprint: str
    dimension: int
    max_length: int
    pooling: str
    precision: str


@dataclass(frozen=True)
class IndexManifest:
    """Everything needed to load, verify and explain an index directory."""

    encoder: EncoderInfo
    index_type: str
    document_count: int
    unit_count: int
    chunker_version: str
    source: dict[str, Any]
    config: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    metric: str = "cosine"
    created_at: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, directory: Path) -> "IndexManifest":
        path = directory / MANIFEST_NAME
        if not directory.is_dir():
            raise CorruptIndexError(f"{directory} is not an index directory: build one with `codehunt index build`")
        if not path.is_file():
            raise CorruptIndexError(f"{path} is missing: {directory} is not a complete codehunt index; rebuild it")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("format_version") != FORMAT_VERSION:
                raise CorruptIndexError(
                    f"{path} has format_version {record.get('format_version')}, this codehunt reads {FORMAT_VERSION}: rebuild the index"
                )
            record["encoder"] = EncoderInfo(**record["encoder"])
            return cls(**record)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CorruptIndexError(f"{path} is corrupted ({exc}); rebuild the index") from exc
