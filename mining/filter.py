"""Consistency filtering (CoRNStack, Suresh et al., 2024): keep a pair only if a scorer model,
asked to find its positive among all positives, ranks it within the top-k.

Mined pairs are noisy (a docstring that says "Helper." or a commit message about a different
function); a pair whose own positive is out-ranked by other code is more likely mislabelled
than hard. Every query and every distinct positive is embedded once; queries are searched
in blocks against the pool with FAISS's exact inner-product kNN, so memory is the pool's
vectors plus one block of scores (1M pairs x 384 dims: ~1.5 GB for the pool).

What does not count against a pair: other copies of the same positive text (the pool holds
each whitespace-normalised text once) and the other positives of the same query (an issue
that fixes three functions yields three pairs with one query). Ties go to the pair.
"""
from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from codehunt.index.encoder import Encoder
from codehunt.index.errors import ConfigError
from codehunt.mining.config import config_to_json, require_at_least
from codehunt.mining.records import Pair, normalize_whitespace, read_pairs, text_key

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
GROUPINGS = ("none", "repo")
"""``repo`` is the localization-aware rule (SweRank, Reddy et al., 2025): a commit's changed function must
stand out among its own repository's code, the candidates a localizer actually ranks it against, rather
than among every repository's (where code of another domain is easy to beat)."""
SCORE_TOLERANCE = 1e-5
"""Competitors must beat the positive by more than this (float32 dot products differ by ~1e-7)."""


@dataclass(frozen=True)
class FilterConfig:
    """``codehunt mine filter PAIRS -o FILTERED``: the CoRNStack top-k consistency rule."""

    input: Path = field(metadata={"help": "pairs.jsonl to filter"})
    output: Path = field(metadata={"help": "pairs.filtered.jsonl: the kept pairs"})
    dropped_output: Path | None = field(default=None, metadata={"help": "dropped pairs (default: OUTPUT stem + .dropped.jsonl)"})
    report: Path | None = field(default=None, metadata={"help": "JSON report (default: OUTPUT stem + .report.json)"})
    model: str = field(default="default", metadata={"help": "scorer model dir, hub name, or 'default'"})
    top_k: int = field(default=2, metadata={"help": "keep a pair when its positive ranks within this many"})
    pool_size: int | None = field(default=None, metadata={"help": "rank among a random sample of this many positives (default: all)"})
    min_score: float | None = field(default=None, metadata={"help": "also require query-positive cosine >= this"})
    group_by: str = field(default="none", metadata={"help": "none: rank among every positive | repo: only among the "
                                                            "positives of the pair's own repository (localization)"})
    batch_size: int = field(default=64, metadata={"help": "texts per encoder forward pass"})
    block_size: int = field(default=8192, metadata={"help": "queries embedded and searched per block (bounds memory)"})
    cache_dir: Path | None = field(default=None, metadata={"help": "embedding cache folder (re-runs skip encoding)"})
    device: str | None = field(default=None, metadata={"help": "cpu | cuda (default: cuda when present)"})
    seed: int = field(default=0, metadata={"help": "seed for the pool sample"})

    def __post_init__(self) -> None:
        require_at_least(self, 1, "top_k", "block_size", "batch_size")
        require_at_least(self, 1, "pool_size", optional=True)
        if self.group_by not in GROUPINGS:
            raise ConfigError(f"--group-by must be one of {', '.join(GROUPINGS)}; got {self.group_by!r}")
        if self.min_score is not None and not -1.0 <= self.min_score <= 1.0:
            raise ConfigError(f"--min-score is a cosine, between -1 and 1; got {self.min_score}")

    @property
    def dropped_path(self) -> Path:
        output = Path(self.output)
        return Path(self.dropped_output) if self.dropped_output else output.with_name(f"{_stem(output)}.dropped.jsonl")

    @property
    def report_path(self) -> Path:
        output = Path(self.output)
        return Path(self.report) if self.report else output.with_name(f"{_stem(output)}.report.json")


def pair_groups(pairs: Sequence[Pair], group_by: str) -> dict[str, np.ndarray]:
    """Pair indices per ranking group: one group of all pairs, or one per repository (sorted by name)."""
    if group_by == "none":
        return {"": np.arange(len(pairs), dtype=np.int64)}
    members: dict[str, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        members[pair.repo].append(index)
    return {name: np.asarray(members[name], dtype=np.int64) for name in sorted(members)}


def per_repo_counts(pairs: Sequence[Pair], keep: np.ndarray) -> dict[str, dict[str, int]]:
    """Kept and dropped pairs per repository: the filter's report per source."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for index, pair in enumerate(pairs):
        counts[pair.repo or "(none)"]["kept" if keep[index] else "dropped"] += 1
    return {repo: {"kept": c["kept"], "dropped": c["dropped"]} for repo, c in sorted(counts.items())}


def describe_pool(config: FilterConfig, pool_sizes: list[int], distinct: int) -> str:
    """The pool, in the report's words."""
    if config.group_by == "repo":
        return f"the {min(pool_sizes, default=0)}-{max(pool_sizes, default=0)} distinct positives of its own repository"
    if config.pool_size is not None and config.pool_size < distinct:
        return f"a random sample of {config.pool_size} distinct positives"
    return f"all {distinct} distinct positives"


def _stem(path: Path) -> str:
    return path.name[: -len(".jsonl")] if path.name.endswith(".jsonl") else path.stem


@dataclass(frozen=True)
class FilterResult:
    """Counts and files of one filter run."""

    output: Path
    dropped_output: Path
    report: Path
    pairs: int
    kept: int
    dropped: int
    per_source: dict[str, dict[str, int]]
    seconds: float


@dataclass(frozen=True)
class PoolRanks:
    """Per query: the positive's rank among the pool (``depth + 1`` means "below depth"), its
    score, and the best competitor (pool index, -1 if none) with its score."""

    ranks: np.ndarray  # (n,) int64, 1-based
    scores: np.ndarray  # (n,) float32
    best_competitor: np.ndarray  # (n,) int64
    best_competitor_score: np.ndarray  # (n,) float32


def rank_within_pool(
    query_vectors: np.ndarray,
    own_vectors: np.ndarray,
    pool_vectors: np.ndarray,
    exclude: Sequence[Sequence[int]],
    depth: int,
) -> PoolRanks:
    """Rank of each query's own positive among ``pool_vectors``, counted up to ``depth``.

    ``rank = 1 + #{pool entries not in exclude[i] whose score beats the positive's by more
    than SCORE_TOLERANCE}``, computed exactly when it is ``<= depth`` and reported as
    ``depth + 1`` otherwise. ``exclude[i]`` lists the pool indices that may not count against
    query ``i`` (its own positive, other positives of the same query). Vectors are unit
    float32 rows; scores are inner products.
    """
    import faiss

    queries = np.ascontiguousarray(query_vectors, dtype=np.float32)  # (n, dim)
    own = np.ascontiguousarray(own_vectors, dtype=np.float32)  # (n, dim)
    pool = np.ascontiguousarray(pool_vectors, dtype=np.float32)  # (m, dim)
    n = len(queries)
    own_scores = np.einsum("nd,nd->n", queries, own).astype(np.float32)  # (n,)
    ranks = np.ones(n, dtype=np.int64)
    best = np.full(n, -1, dtype=np.int64)
    best_scores = np.full(n, -np.inf, dtype=np.float32)
    if n == 0 or len(pool) == 0:
        return PoolRanks(ranks, own_scores, best, best_scores)
    k = min(len(pool), depth + max((len(e) for e in exclude), default=0))
    scores, ids = faiss.knn(queries, pool, k, metric=faiss.METRIC_INNER_PRODUCT)  # (n, k) each
    for row in range(n):
        skip = set(exclude[row])
        beaten_by = 0
        for score, pool_id in zip(scores[row].tolist(), ids[row].tolist()):
            if pool_id < 0 or pool_id in skip:
                continue
            if best[row] < 0:
                best[row], best_scores[row] = pool_id, score
            if score > own_scores[row] + SCORE_TOLERANCE:
                beaten_by += 1
                if beaten_by >= depth:
                    break
            else:
                break  # scores are sorted: nothing after this beats the positive either
        ranks[row] = 1 + beaten_by
    return PoolRanks(ranks, own_scores, best, best_scores)


def filter_consistent_pairs(
    config: FilterConfig, show_progress: bool = False, encoder: Encoder | None = None
) -> FilterResult:
    """Apply the top-k consistency rule to ``config.input``; write kept pairs, dropped pairs and a report.

    ``encoder`` overrides ``config.model`` (the caller already holds a loaded model).
    """
    from codehunt.index.storage import write_json_atomic, write_jsonl_atomic
    from codehunt.mining.embed import load_scorer, scorer_info

    started = time.perf_counter()
    pairs = read_pairs(Path(config.input))
    scorer = load_scorer(config.model, config.cache_dir, config.batch_size, config.device, encoder)

    # The pool: each distinct positive text once.
    pool_of_key: dict[str, int] = {}
    pool_texts: list[str] = []
    pool_owner: list[int] = []  # a pair index whose positive this is, for the report
    own = np.empty(len(pairs), dtype=np.int64)
    for index, pair in enumerate(pairs):
        key = text_key(pair.positive)
        if key not in pool_of_key:
            pool_of_key[key] = len(pool_texts)
            pool_texts.append(pair.positive)
            pool_owner.append(index)
        own[index] = pool_of_key[key]
    positives_of_query: dict[str, set[int]] = defaultdict(set)
    for index, pair in enumerate(pairs):
        positives_of_query[normalize_whitespace(pair.query)].add(int(own[index]))

    log.info("filter: %d pairs, %d distinct positives", len(pairs), len(pool_texts))
    positive_vectors = scorer.encode(pool_texts, "document", show_progress)  # (m, dim)

    ranks = np.empty(len(pairs), dtype=np.int64)
    scores = np.empty(len(pairs), dtype=np.float32)
    best = np.empty(len(pairs), dtype=np.int64)
    best_scores = np.empty(len(pairs), dtype=np.float32)
    rng = np.random.default_rng(config.seed)
    pool_sizes: list[int] = []
    ranked = 0
    for members in pair_groups(pairs, config.group_by).values():
        sample = np.unique(own[members])  # the group's distinct positives, ascending pool ids
        if config.pool_size is not None and config.pool_size < len(sample):
            sample = np.sort(rng.choice(sample, size=config.pool_size, replace=False))
        pool_sizes.append(len(sample))
        position = {int(p): i for i, p in enumerate(sample)}
        pool_vectors = positive_vectors[sample]
        for start in range(0, len(members), config.block_size):
            block = members[start : start + config.block_size]
            query_vectors = scorer.encode([pairs[i].query for i in block], "query", show_progress)  # (b, dim)
            exclude = [
                sorted(position[s] for s in positives_of_query[normalize_whitespace(pairs[i].query)] if s in position)
                for i in block
            ]
            result = rank_within_pool(query_vectors, positive_vectors[own[block]], pool_vectors, exclude, config.top_k)
            ranks[block] = result.ranks
            scores[block] = result.scores
            best[block] = np.where(result.best_competitor >= 0, sample[np.maximum(result.best_competitor, 0)], -1)
            best_scores[block] = result.best_competitor_score
            ranked += len(block)
            log.info("filter: ranked %d / %d pairs", ranked, len(pairs))

    keep_rank = ranks <= config.top_k
    keep_score = scores >= config.min_score if config.min_score is not None else np.ones(len(pairs), dtype=bool)
    keep = keep_rank & keep_score
    per_source: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    for index, pair in enumerate(pairs):
        per_source[pair.source]["kept" if keep[index] else "dropped"] += 1
        if not keep_rank[index]:
            reasons["rank"] += 1
        elif not keep_score[index]:
            reasons["min-score"] += 1

    def dropped_records() -> Any:
        for index in np.flatnonzero(~keep):
            competitor = int(best[index])
            yield {
                **pairs[index].to_json(),
                "reason": "rank" if not keep_rank[index] else "min-score",
                "rank": int(ranks[index]) if keep_rank[index] else -1,
                "score": round(float(scores[index]), 6),
                "best_competitor_id": pairs[pool_owner[competitor]].positive_id if competitor >= 0 else "",
                "best_competitor_score": round(float(best_scores[index]), 6) if competitor >= 0 else None,
                "best_competitor": pool_texts[competitor][:2000] if competitor >= 0 else "",
            }

    output, dropped_path, report_path = Path(config.output), config.dropped_path, config.report_path
    kept_count = write_jsonl_atomic(output, (pairs[i].to_json() for i in np.flatnonzero(keep)))
    dropped_count = write_jsonl_atomic(dropped_path, dropped_records())
    seconds = time.perf_counter() - started
    per_source_plain = {source: {"kept": c["kept"], "dropped": c["dropped"]} for source, c in sorted(per_source.items())}
    pool_description = describe_pool(config, pool_sizes, len(pool_texts))
    report = {
        "format_version": FORMAT_VERSION,
        "method": "CoRNStack consistency filtering (Suresh et al., 2024)",
        "rule": (
            f"keep a pair when its positive ranks within the top {config.top_k} for its query among "
            f"{pool_description} (copies of its own positive and other positives of the "
            f"same query do not count; ties go to the pair)"
            + (f", and its cosine is >= {config.min_score}" if config.min_score is not None else "")
        ),
        "scorer": scorer_info(scorer),
        "input": str(config.input),
        "output": str(output),
        "dropped_output": str(dropped_path),
        "pairs": len(pairs),
        "distinct_positives": len(pool_texts),
        "pool": max(pool_sizes, default=0),
        "group_by": config.group_by,
        "per_repo": per_repo_counts(pairs, keep),
        "kept": kept_count,
        "dropped": dropped_count,
        "kept_share": round(kept_count / len(pairs), 6),
        "drop_reasons": dict(sorted(reasons.items())),
        "per_source": per_source_plain,
        "seconds": round(seconds, 3),
        "pairs_per_second": round(len(pairs) / seconds, 2) if seconds > 0 else None,
        "config": config_to_json(config),
    }
    write_json_atomic(report_path, report)
    log.info("filter: kept %d of %d pairs in %.1fs", kept_count, len(pairs), seconds)
    return FilterResult(output, dropped_path, report_path, len(pairs), kept_count, dropped_count, per_source_plain, seconds)
