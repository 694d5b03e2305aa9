"""File-level ranking: files scored from the ranked units they contain.

Many questions people ask a codebase are about files and modules ("how are routes registered", "where is
retry handled"); the answer is a file, and its evidence is the units that ranked. How a file's units add up is
measured in ``benchmarks/quality.py`` (file-level nDCG@10 on the code-search dev set):

- ``max``: the file's best unit (a file is as good as its best function);
- ``top3``: the sum of its three best units' scores (several good functions in one file is evidence too);
- ``decay``: a decayed sum, score_1 + score_2 / 2 + score_3 / 4 + ... (all units count, each less).

On the code-search dev set the default hybrid ranking gives file-level nDCG@10 0.9188 with ``max``, 0.9285 with
``top3`` and 0.9259 with ``decay`` (one run each of ``benchmarks/fusion.py --file-aggregation ...``): ``top3`` is
the default (``SearchConfig.file_aggregation``).

Scores are shifted per query so the lowest candidate scores 0 (fused z-scores and cosines can be negative,
and a sum must not punish a file for having more candidates).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from codehunt.index.errors import ConfigError
from codehunt.index.types import Hit

FILE_AGGREGATIONS = ("max", "top3", "decay")


@dataclass(frozen=True)
class FileHit:
    """One file of a file-level ranking, with the unit that ranked best in it."""

    rank: int
    path: str
    score: float
    best: Hit
    units: int

    def to_json(self) -> dict:
        return {
            "rank": self.rank,
            "path": self.path,
            "score": self.score,
            "units": self.units,
            "best": {"doc_id": self.best.doc_id, "qualname": self.best.qualname, "start_line": self.best.start_line},
        }


def rank_files(hits: Sequence[Hit], how: str = "max", k: int | None = None) -> list[FileHit]:
    """Files of ``hits`` (units, best first) ranked by ``how``; ties keep the order of each file's first unit."""
    if how not in FILE_AGGREGATIONS:
        raise ConfigError(f"unknown file aggregation {how!r}: choose one of {', '.join(FILE_AGGREGATIONS)}")
    if not hits:
        return []
    floor = min(hit.score for hit in hits)
    per_file: dict[str, list[Hit]] = {}
    for hit in hits:
        per_file.setdefault(hit.path, []).append(hit)
    scored = []
    for order, (path, units) in enumerate(per_file.items()):
        shifted = sorted((hit.score - floor for hit in units), reverse=True)
        if how == "max":
            score = shifted[0]
        elif how == "top3":
            score = sum(shifted[:3])
        else:
            score = sum(value / (2**position) for position, value in enumerate(shifted))
        best = max(units, key=lambda hit: hit.score)
        scored.append((score, -order, path, best, len(units)))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    limit = len(scored) if k is None else k
    return [FileHit(rank, path, score, best, count) for rank, (score, _, path, best, count) in enumerate(scored[:limit], start=1)]
