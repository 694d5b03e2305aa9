"""The small records that flow between layers: chunks of code, skipped files, hits."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Chunk:
    """One retrievable unit: a function, method, class body, module-level block or line window.

    ``doc_id`` is ``path::qualname`` (``path#Lstart-Lend`` for windows), unique within a corpus;
    a unit split into several encoder windows gets ``~2``, ``~3``... suffixes on the later parts
    and keeps the first part's id in ``unit_id`` so search can collapse parts into one hit.
    Lines are 1-based and inclusive.
    """

    doc_id: str
    path: str
    qualname: str
    kind: str  # function | method | class | module | window | document
    language: str
    start_line: int
    end_line: int
    text: str
    unit_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Chunk":
        return cls(**record)

    @property
    def unit(self) -> str:
        return self.unit_id or self.doc_id


@dataclass(frozen=True)
class Skip:
    """A file that was not indexed (or indexed by a fallback), and why."""

    path: str
    reason: str  # binary | not-utf8 | too-large | vendored | empty | parse-error-fallback | ...
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        # not asdict: a directory build writes one per skipped file (41k under the stdlib's site-packages)
        return {"path": self.path, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class Hit:
    """One ranked search result."""

    rank: int
    score: float
    doc_id: str
    path: str
    start_line: int
    end_line: int
    qualname: str
    language: str
    snippet: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
