"""The hybrid search's ranking step: fuse dense and BM25, then three cheap code-search features.

After fusion (:mod:`codehunt.index.fusion`) the fused scores are z-scored per query, so every feature below is
in the same unit (one standard deviation of the query's candidate scores) whatever the fusion method:

- **symbol match** (``symbol_boost``): a query identifier (``APIRouter``, ``parse_args``, or a one-word query
  such as ``Command``) equal to the unit's own name (the last part of its qualname) — a symbol lookup must put
  the defining unit first;
- **path match** (``path_boost``): a query word that names the unit's file (``session management`` ->
  ``sessions.py``) — questions about modules are often answered by the file's name;
- **file diversity** (``file_diversity``): each hit loses this much for every better hit of the same file, so
  one large file's many methods do not fill the top 10 (the repeats add nothing a user has not seen).

The weights were chosen on the dev sets together (``benchmarks/fusion.py``), as round values rather than the
best decimal, and apply to ``hybrid`` only: ``dense`` and ``bm25`` stay the plain halves.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from codehunt.index.errors import ConfigError
from codehunt.index.fusion import FusionConfig, fuse, looks_like_code, normalise
from codehunt.index.types import Chunk

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_QUALNAME_PARTS = re.compile(r"[.:#]")
STOP_WORDS = frozenset(
    "a an the of to in for and or is are how what where when which does do with by on from get set into using use "
    "file files code function functions method class python ruby java go rust javascript".split()
)


@dataclass(frozen=True)
class SearchConfig:
    """How a search gathers, fuses and orders its candidates (saved in the index manifest, overridable)."""

    depth: int = field(default=100, metadata={"help": "candidates taken from each of dense and BM25 before fusion"})
    fusion: FusionConfig = field(
        default_factory=FusionConfig, metadata={"help": "how the dense and BM25 candidates are fused (hybrid)"}
    )
    symbol_boost: float = field(default=1.0, metadata={"help": "added when a query identifier is the unit's name"})
    path_boost: float = field(default=0.5, metadata={"help": "added when a query word names the unit's file"})
    file_diversity: float = field(default=0.5, metadata={"help": "taken off per better hit of the same file"})
    file_aggregation: str = field(default="top3", metadata={"help": "how --level file scores a file: max, top3 or decay"})

    def __post_init__(self) -> None:
        if self.depth <= 0:
            raise ConfigError(f"search depth must be positive, got {self.depth}")
        for name in ("symbol_boost", "path_boost", "file_diversity"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.file_aggregation not in ("max", "top3", "decay"):
            raise ConfigError(f"unknown file aggregation {self.file_aggregation!r}: choose max, top3 or decay")

    def with_fusion(self, method: str | None = None, dense_weight: float | None = None) -> "SearchConfig":
        """This config with the fusion method and/or dense weight replaced (None keeps the recorded value)."""
        from dataclasses import replace

        fusion = self.fusion
        if method is not None:
            fusion = replace(fusion, method=method)
        if dense_weight is not None:
            fusion = replace(fusion, dense_weight=dense_weight)
        return replace(self, fusion=fusion)

    @classmethod
    def from_json(cls, payload: dict | None) -> "SearchConfig":
        """The config an index manifest recorded (absent in indexes built before it existed: the defaults)."""
        payload = dict(payload or {})
        fusion = payload.pop("fusion", None)
        known = {name: value for name, value in payload.items() if name in cls.__dataclass_fields__}
        return cls(fusion=FusionConfig(**fusion) if isinstance(fusion, dict) else FusionConfig(), **known)


def query_identifiers(query: str) -> set[str]:
    """Lower-cased identifiers a query names: code-looking words, or the word of a one-word query."""
    words = _WORD.findall(query)
    return {word.lower() for word in words if len(word) >= 3 and (len(words) == 1 or looks_like_code(word))}


def query_content_words(query: str) -> set[str]:
    """Lower-cased words of four letters or more that are not stop words (``registered``, ``session``)."""
    return {word.lower() for word in _WORD.findall(query) if len(word) >= 4 and word.lower() not in STOP_WORDS}


def unit_name(chunk: Chunk) -> str:
    return _QUALNAME_PARTS.split(chunk.qualname)[-1].lower() if chunk.qualname else ""


def names_file(words: set[str], path: str) -> bool:
    """Whether one of ``words`` is the file's stem, singular or plural (``session`` names ``sessions.py``).

    Measured and left out: treating a package file (``__init__.py``, ``index.js``, ``mod.rs``) as named by its
    folder moved code-search chunk nDCG@10 from 0.9043 to 0.9027 (``benchmarks/fusion.py``).
    """
    stem = path.rsplit("/", 1)[-1].split(".", 1)[0].lower()
    stems = {stem, stem.rstrip("s")}
    return any(word in stems or word.rstrip("s") in stems for word in words)


def rank_hybrid(
    dense: Sequence[tuple[int, float]],
    lexical: Sequence[tuple[int, float]],
    chunks: Sequence[Chunk],
    query: str,
    config: SearchConfig,
) -> list[tuple[int, float]]:
    """Fused and feature-adjusted (chunk position, score) list, best first; one pass over the candidates."""
    fused = fuse(dense, lexical, config.fusion, query)
    if not fused:
        return []
    scores = normalise([score for _, score in fused], "zscore")
    identifiers = query_identifiers(query) if config.symbol_boost else set()
    words = query_content_words(query) if config.path_boost else set()
    boosted = []
    named: dict[str, bool] = {}  # per file path: candidates share files, and the test is the same for each
    for (position, _), score in zip(fused, scores):
        chunk = chunks[position]
        if identifiers and unit_name(chunk) in identifiers:
            score += config.symbol_boost
        if words:
            path = chunk.path
            if path not in named:
                named[path] = names_file(words, path)
            if named[path]:
                score += config.path_boost
        boosted.append((position, score))
    boosted.sort(key=lambda item: -item[1])
    if not config.file_diversity:
        return boosted
    seen: dict[str, int] = {}
    diverse = []
    for position, score in boosted:
        path = chunks[position].path
        earlier = seen.get(path, 0)
        seen[path] = earlier + 1
        diverse.append((position, score - config.file_diversity * earlier))
    diverse.sort(key=lambda item: -item[1])
    return diverse
