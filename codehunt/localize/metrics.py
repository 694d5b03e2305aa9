"""Localization metrics as CoRNStack (Suresh et al., 2025) and SweRank (Reddy et al., 2025) report them."""
from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Sequence

from codehunt.localize.gold import Gold

if TYPE_CHECKING:
    from codehunt.localize.evaluate import InstanceResult

FILE_KS = (1, 3, 5, 10)
FUNCTION_KS = (1, 5, 10, 20)


def localization_metrics(
    ranked_files: Sequence[str], ranked_units: Sequence[str], gold: Gold
) -> dict[str, float]:
    """Per-instance metrics; a level with no gold is left out.

    ``acc_at_k``: 1 when every gold item is in the top k (CoRNStack/SweRank's accuracy);
    ``recall_at_k``: the share of gold items in the top k; ``mrr``: 1 / rank of the first gold
    item anywhere in the ranking, 0 when none is ranked.
    """
    out: dict[str, float] = {}
    if gold.files:
        position = {path: rank for rank, path in enumerate(ranked_files, start=1)}
        ranks = [position.get(path, math.inf) for path in gold.files]
        _level_metrics(out, "file", ranks, FILE_KS)
    if gold.items:
        position = {}
        for rank, unit in enumerate(ranked_units, start=1):
            position.setdefault(unit, rank)
        ranks = [min((position.get(unit, math.inf) for unit in item.units), default=math.inf) for item in gold.items]
        _level_metrics(out, "function", ranks, FUNCTION_KS)
    return out


def _level_metrics(out: dict[str, float], level: str, ranks: list[float], ks: Sequence[int]) -> None:
    for k in ks:
        out[f"{level}_acc_at_{k}"] = float(all(rank <= k for rank in ranks))
        out[f"{level}_recall_at_{k}"] = sum(rank <= k for rank in ranks) / len(ranks)
    first = min(ranks)
    out[f"{level}_mrr"] = 0.0 if first == math.inf else 1.0 / first


def aggregate_metrics(results: Sequence["InstanceResult"]) -> dict[str, float]:
    """Mean of each metric over the instances that report it, with their counts."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for result in results:
        for name, value in result.metrics.items():
            sums[name] += value
            counts[name] += 1
    out: dict[str, float] = {"instances": float(len(results))}
    out["file_instances"] = float(counts.get("file_mrr", 0))
    out["function_instances"] = float(counts.get("function_mrr", 0))
    for name in sorted(sums):
        out[name] = sums[name] / counts[name]
    return out
