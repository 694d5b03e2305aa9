"""Fusion of a dense and a lexical (BM25) ranking into one, and the query features that steer it.

Three families, measured side by side in ``benchmarks/quality.py``:

- reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009), optionally weighted: needs no score
  calibration, but throws away how sure each side is;
- a convex combination of per-query normalised scores (min-max or z-score), which Bruch, Gai & Ingber
  ("An Analysis of Fusion Functions for Hybrid Retrieval", TOIS 2023) found better than RRF once its one weight
  is tuned;
- a query-aware weight on top of the convex combination: queries that look like code (CamelCase, snake_case or
  dotted identifiers, backticks, calls, error messages) lean lexical, plain prose leans dense.

Every function takes per-query ``(key, score)`` lists, best first, and returns one fused list, best first; a
key missing from one list takes that list's lowest normalised score (it was not retrieved, so it scores no
better than the worst retrieved candidate). Each is one pass over a few hundred candidates.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Hashable, Sequence, TypeVar

from codehunt.index.errors import ConfigError

Key = TypeVar("Key", bound=Hashable)
Scored = Sequence[tuple[Key, float]]

FUSION_METHODS = ("rrf", "minmax", "zscore", "auto")


@dataclass(frozen=True)
class FusionConfig:
    """How a hybrid search fuses its dense and BM25 candidates (saved in the index manifest, overridable)."""

    method: str = field(default="minmax", metadata={"help": "rrf, minmax, zscore, or auto (z-score with a query-aware weight)"})
    dense_weight: float = field(
        default=0.8, metadata={"help": "weight of the dense side in [0, 1] (prose queries, for auto); 1 - it goes to BM25"}
    )
    code_dense_weight: float = field(
        default=0.5, metadata={"help": "auto only: the dense weight for a query that looks entirely like code"}
    )
    rrf_k: int = field(default=60, metadata={"help": "reciprocal-rank-fusion constant"})

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise ConfigError(f"unknown fusion {self.method!r}: choose one of {', '.join(FUSION_METHODS)}")
        for name in ("dense_weight", "code_dense_weight"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, got {value}")
        if self.rrf_k <= 0:
            raise ConfigError(f"rrf_k must be positive, got {self.rrf_k}")

    def weight_for(self, query: str) -> float:
        """The dense weight this config gives ``query`` (the query-aware rule for ``auto``)."""
        if self.method != "auto":
            return self.dense_weight
        likeness = code_likeness(query)
        return self.dense_weight + (self.code_dense_weight - self.dense_weight) * likeness


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(d) = sum over lists of 1 / (k + rank(d)), ranks 1-based.

    Ties keep the order of first appearance (list 0 first).
    """
    return weighted_rrf([[(key, 0.0) for key in ranking] for ranking in rankings], [1.0] * len(rankings), k)


def weighted_rrf(rankings: Sequence[Scored], weights: Sequence[float], k: int = 60) -> list[tuple[Key, float]]:
    """RRF with a weight per list: score(d) = sum_i w_i / (k + rank_i(d)); ties keep first appearance."""
    scores: dict = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (key, _) in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def normalise(scores: Sequence[float], how: str) -> list[float]:
    """Per-query score normalisation: ``minmax`` to [0, 1], or ``zscore`` (mean 0, unit deviation).

    A list whose scores are all equal normalises to all 1.0 (min-max) or all 0.0 (z-score): it says nothing
    about order, so it neither helps nor hurts any candidate.
    """
    if not scores:
        return []
    if how == "minmax":
        low, high = min(scores), max(scores)
        return [1.0] * len(scores) if high == low else [(s - low) / (high - low) for s in scores]
    if how == "zscore":
        mean = sum(scores) / len(scores)
        deviation = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
        return [0.0] * len(scores) if deviation == 0 else [(s - mean) / deviation for s in scores]
    raise ConfigError(f"unknown normalisation {how!r}: choose minmax or zscore")


def convex_fusion(dense: Scored, lexical: Scored, dense_weight: float, how: str = "zscore") -> list[tuple[Key, float]]:
    """score(d) = w * norm(dense)(d) + (1 - w) * norm(lexical)(d), each list normalised over its own candidates.

    A key missing from a list takes that list's lowest normalised score (0 for an empty list). Ties keep the
    order of first appearance, dense list first.
    """
    dense_norm = dict(zip((key for key, _ in dense), normalise([s for _, s in dense], how)))
    lexical_norm = dict(zip((key for key, _ in lexical), normalise([s for _, s in lexical], how)))
    dense_floor = min(dense_norm.values(), default=0.0)
    lexical_floor = min(lexical_norm.values(), default=0.0)
    keys = list(dict.fromkeys([key for key, _ in dense] + [key for key, _ in lexical]))
    fused = [
        (key, dense_weight * dense_norm.get(key, dense_floor) + (1.0 - dense_weight) * lexical_norm.get(key, lexical_floor))
        for key in keys
    ]
    return sorted(fused, key=lambda item: -item[1])


def fuse(dense: Scored, lexical: Scored, config: FusionConfig, query: str = "") -> list[tuple[Key, float]]:
    """The fused ranking ``config`` asks for (``query`` steers the ``auto`` weight)."""
    weight = config.weight_for(query)
    if config.method == "rrf":
        return weighted_rrf([dense, lexical], [2 * weight, 2 * (1 - weight)], config.rrf_k)
    if config.method == "minmax":
        return convex_fusion(dense, lexical, weight, "minmax")
    return convex_fusion(dense, lexical, weight, "zscore")


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_CAMEL = re.compile(r"^[A-Z]?[a-z0-9]+(?:[A-Z][a-z0-9]*)+$|^[A-Z]{2,}[a-z]+")
_ERROR = re.compile(r"(?:Error|Exception|Traceback|Warning)\b|line \d+|^\s*File \"", re.MULTILINE)


def looks_like_code(word: str) -> bool:
    """A token that only code contains: CamelCase, snake_case, dotted.name, call(), or `backticked`."""
    if word.startswith("`") and word.endswith("`") and len(word) > 2:
        return True
    stripped = word.strip("`'\",;:!?()[]{}")
    if stripped.endswith(")") or "(" in word:
        return True
    if "_" in stripped.strip("_") or (stripped.startswith("__") and len(stripped) > 4):
        return True
    if "." in stripped and all(part.isidentifier() for part in stripped.split(".")) and not stripped.endswith("."):
        return len(stripped.split(".")) >= 2 and not stripped.replace(".", "").isdigit()
    return bool(_CAMEL.match(stripped))


def code_likeness(query: str) -> float:
    """How much ``query`` reads like code, in [0, 1]: the share of its words that only code contains.

    A query of one capitalised or all-identifier word (``Command``, ``APIRouter``) is a symbol lookup and
    counts as code; an error message (``KeyError``, a traceback line) does too.
    """
    words = query.split()
    if not words:
        return 0.0
    if len(words) == 1 and _IDENTIFIER.fullmatch(words[0].strip("`")) and words[0][0].isupper():
        return 1.0
    share = sum(looks_like_code(word) for word in words) / len(words)
    if _ERROR.search(query):
        share = max(share, 0.5)
    return min(1.0, share)
