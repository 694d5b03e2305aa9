"""Hard-negative mining: (anchor, positive, negative_1..n) rows for contrastive training.

Candidates come from a dense index (the scorer model, exact FAISS kNN) and from BM25, over
the pairs' own positives or a given corpus. Hard negatives help only if they are truly
negative, so candidates pass false-negative guards first (NV-Retriever, Moreira et al.,
2024; CoRNStack, Suresh et al., 2024):

* a rank window: the top ``rank_start - 1`` ranks of each list are skipped;
* positive-aware margin: a candidate the scorer rates at least ``margin`` x the positive's
  score is more likely an unlabelled positive than a negative;
* duplicates: the positive's own text (whitespace-normalised), the same qualified name in
  the same file, the positive's id, every other positive of the same query, and near
  duplicates (identifier-set Jaccard >= ``near_duplicate_jaccard``);
* with ``group_by="repo"`` candidates come only from the pair's own repository: a localizer ranks a
  fix's functions against the rest of that repository, so negatives from other projects are easy ones
  (the same rule as ``codehunt mine filter --group-by repo``, SweRank, Reddy et al., 2025);
* optionally a cross-encoder (``cross_encoder``, a reranker directory, or any object with
  ``rescore_texts(query, texts)`` passed as ``rescorer``): a candidate it scores at least as
  high as the positive (or at least ``cross_encoder_threshold``) is dropped.

Survivors are sampled top-n, uniformly, or from a softmax over scorer similarity with a
temperature (Gumbel-top-k, Kool et al., 2019: exact sampling without replacement). With
``curriculum`` the temperature moves geometrically from soft (high) to hard (low) along
the rows of the file, as in CoRNStack's curriculum; the trainer must then read the rows in
file order (the rows are shuffled once here instead). Every negative keeps its scorer
score, its rank and which list found it, so losses can weight or filter them.
"""
from __future__ import annotations

import logging
import sys
import textwrap
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np

from codehunt.index.encoder import Encoder
from codehunt.index.errors import BadInputError, ConfigError
from codehunt.mining.config import config_to_json, require_at_least
from codehunt.mining.filter import GROUPINGS
from codehunt.mining.records import Pair, normalize_whitespace, read_pairs, text_key

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SAMPLERS = ("top", "random", "softmax")
POOLS = ("dense", "bm25", "both")
_TOKEN_CACHE_LIMIT = 200_000


class TextRescorer(Protocol):
    """A cross-encoder seen as a scoring function: higher means more relevant."""

    def rescore_texts(self, query: str, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class NegativesConfig:
    """``codehunt mine negatives PAIRS -o TRIPLES``: candidate pools, guards and sampling."""

    input: Path = field(metadata={"help": "pairs.jsonl (usually pairs.filtered.jsonl)"})
    output: Path = field(metadata={"help": "triples.jsonl to write"})
    corpus: Path | None = field(
        default=None, metadata={"help": "BEIR corpus.jsonl or codebase to draw negatives from (default: the pairs' positives)"}
    )
    corpus_rev: str | None = field(default=None, metadata={"help": "git revision of a codebase --corpus"})
    report: Path | None = field(default=None, metadata={"help": "JSON report (default: OUTPUT stem + .report.json)"})
    model: str = field(default="default", metadata={"help": "scorer model dir, hub name, or 'default'"})
    pool: str = field(default="both", metadata={"help": "candidate lists: dense | bm25 | both"})
    num_negatives: int = field(default=3, metadata={"help": "negatives per row (rows with fewer candidates are skipped)"})
    rank_start: int = field(default=3, metadata={"help": "first rank of each list that may become a negative"})
    rank_end: int = field(default=100, metadata={"help": "last rank of each list that may become a negative"})
    margin: float | None = field(
        default=0.95, metadata={"help": "drop candidates scoring >= margin x the positive's score (None: off)"}
    )
    near_duplicate_jaccard: float | None = field(
        default=0.9, metadata={"help": "drop candidates whose identifier set overlaps the positive's this much (None: off)"}
    )
    cross_encoder: str | None = field(
        default=None,
        metadata={"help": "reranker dir (`codehunt train reranker`) or CrossEncoder hub name: adds the cross-encoder guard"},
    )
    cross_encoder_threshold: float | None = field(
        default=None,
        metadata={"help": "with --cross-encoder: drop candidates scoring >= this (default: >= the positive's score)"},
    )
    group_by: str = field(default="none", metadata={"help": "none: candidates from every positive | repo: only from "
                                                            "the pair's own repository (localization)"})
    sampler: str = field(default="softmax", metadata={"help": "top | random | softmax"})
    temperature: float = field(default=0.05, metadata={"help": "softmax temperature over cosine similarity"})
    curriculum: bool = field(default=False, metadata={"help": "schedule the temperature from soft to hard along the file"})
    temperature_start: float = field(default=0.2, metadata={"help": "curriculum: temperature of the first row"})
    temperature_end: float = field(default=0.02, metadata={"help": "curriculum: temperature of the last row"})
    epochs: int = field(default=1, metadata={"help": "write every pair this many times, negatives resampled each time"})
    shuffle: bool = field(default=True, metadata={"help": "shuffle the rows (each epoch) before sampling"})
    strip_docstrings: bool = field(
        default=True, metadata={"help": "codebase corpus: use functions without docstrings, like docstring positives"}
    )
    batch_size: int = field(default=64, metadata={"help": "texts per encoder forward pass"})
    block_size: int = field(default=4096, metadata={"help": "queries searched per block (bounds memory)"})
    cache_dir: Path | None = field(default=None, metadata={"help": "embedding cache folder (re-runs skip encoding)"})
    device: str | None = field(default=None, metadata={"help": "cpu | cuda (default: cuda when present)"})
    seed: int = field(default=0, metadata={"help": "seed for shuffling and sampling"})

    def __post_init__(self) -> None:
        if self.pool not in POOLS:
            raise ConfigError(f"unknown candidate pool {self.pool!r}: choose dense, bm25 or both")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r}: choose top, random or softmax")
        require_at_least(self, 1, "num_negatives", "epochs", "block_size", "batch_size")
        if self.group_by not in GROUPINGS:
            raise ConfigError(f"--group-by must be one of {', '.join(GROUPINGS)}; got {self.group_by!r}")
        if self.group_by == "repo" and self.corpus is not None:
            raise ConfigError("--group-by repo draws negatives from the pairs' own positives, per repository: leave out --corpus")
        if not 1 <= self.rank_start <= self.rank_end:
            raise ConfigError(f"the rank window needs 1 <= rank_start <= rank_end, got {self.rank_start}..{self.rank_end}")
        for name in ("temperature", "temperature_start", "temperature_end"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.margin is not None and not self.margin > 0:
            raise ConfigError(f"--margin must be positive (a share of the positive's score), got {self.margin}")
        if self.near_duplicate_jaccard is not None and not 0 < self.near_duplicate_jaccard <= 1:
            raise ConfigError(f"--near-duplicate-jaccard must be in (0, 1], got {self.near_duplicate_jaccard}")

    @property
    def report_path(self) -> Path:
        output = Path(self.output)
        if self.report:
            return Path(self.report)
        stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.stem
        return output.with_name(f"{stem}.report.json")


@dataclass(frozen=True)
class NegativesResult:
    """What ``mine_negatives`` wrote."""

    output: Path
    report: Path
    pairs: int
    rows: int
    skipped: int  # rows without enough negatives after the guards
    seconds: float


@dataclass(frozen=True)
class CandidateCorpus:
    """The documents negatives are drawn from, each distinct text once."""

    ids: list[str]
    texts: list[str]
    paths: list[str]
    qualnames: list[str]
    groups: list[str]  # the repository of each document under --group-by repo, else ""


def training_columns(num_negatives: int) -> list[str]:
    """The positional input columns of a triples file, for ``dataset.select_columns``."""
    return ["anchor", "positive", *(f"negative_{i}" for i in range(1, num_negatives + 1))]


def temperature_at(row: int, rows: int, config: NegativesConfig) -> float:
    """The softmax temperature of row ``row`` of ``rows``: constant, or geometric from start to end."""
    if not config.curriculum:
        return config.temperature
    progress = row / (rows - 1) if rows > 1 else 1.0
    return config.temperature_start * (config.temperature_end / config.temperature_start) ** progress


def sample_negatives(scores: np.ndarray, n: int, sampler: str, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """Positions of ``n`` of the ``scores`` (all if fewer), drawn by ``sampler``; best score first.

    ``softmax`` draws without replacement with probability proportional to
    ``exp(score / temperature)`` through the Gumbel-top-k trick.
    """
    count = len(scores)
    if count <= n:
        chosen = np.arange(count)
    elif sampler == "top":
        chosen = np.argsort(-scores, kind="stable")[:n]
    elif sampler == "random":
        chosen = rng.choice(count, size=n, replace=False)
    else:
        keys = scores / temperature + rng.gumbel(size=count)
        chosen = np.argsort(-keys, kind="stable")[:n]
    return chosen[np.argsort(-scores[chosen], kind="stable")]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def load_candidate_corpus(config: NegativesConfig, pairs: Sequence[Pair]) -> CandidateCorpus:
    """The pairs' distinct positives (distinct per repository under ``--group-by repo``), a BEIR
    ``corpus.jsonl``, or the chunks of a codebase."""
    ids: list[str] = []
    texts: list[str] = []
    paths: list[str] = []
    qualnames: list[str] = []
    groups: list[str] = []
    seen: set[tuple[str, str]] = set()

    def add(doc_id: str, text: str, path: str, qualname: str, group: str = "") -> None:
        key = (group, text_key(text))
        if key in seen or not text.strip():
            return
        seen.add(key)
        ids.append(doc_id)
        texts.append(text)
        paths.append(path)
        qualnames.append(qualname)
        groups.append(group)

    if config.corpus is None:
        for pair in pairs:
            add(pair.positive_id, pair.positive, pair.path, pair.qualname, pair_group(pair, config.group_by))
    else:
        from codehunt.index.corpus import CorpusConfig, read_codebase
        from codehunt.mining.docstring_pairs import code_without_docstring

        corpus_path = Path(config.corpus)
        if not corpus_path.exists():
            raise BadInputError(f"--corpus {corpus_path} does not exist: pass a BEIR corpus.jsonl or a codebase")
        corpus = read_codebase(corpus_path, config.corpus_rev, CorpusConfig(split_long=False))
        for chunk in corpus.chunks:
            if chunk.kind == "document":
                text = chunk.text
            else:  # dedented like mined positives, so indentation tells a model nothing
                text = textwrap.dedent(code_without_docstring(chunk) if config.strip_docstrings else chunk.text)
            add(chunk.doc_id, text, chunk.path if chunk.kind != "document" else "", chunk.qualname)
    if not ids:
        raise BadInputError("the candidate corpus is empty: pass a --corpus with documents")
    return CandidateCorpus(ids, texts, paths, qualnames, groups)


def pair_group(pair: Pair, group_by: str) -> str:
    """The candidate pool a pair draws its negatives from: "" (one pool) or its repository."""
    return pair.repo if group_by == "repo" else ""


def candidate_pools(corpus: CandidateCorpus) -> dict[str, np.ndarray]:
    """Document indices of each pool (one pool "" unless grouped by repository)."""
    members: dict[str, list[int]] = defaultdict(list)
    for doc, group in enumerate(corpus.groups):
        members[group].append(doc)
    return {group: np.asarray(docs, dtype=np.int64) for group, docs in members.items()}


@dataclass
class _Group:
    """Everything that identifies the positives of one query."""

    keys: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    locations: set[tuple[str, str]] = field(default_factory=set)
    tokens: list[frozenset[str]] = field(default_factory=list)


def mine_negatives(
    config: NegativesConfig,
    show_progress: bool = False,
    encoder: Encoder | None = None,
    rescorer: TextRescorer | None = None,
) -> NegativesResult:
    """Mine hard negatives for every pair of ``config.input`` and write ``config.output`` (+ report).

    ``encoder`` overrides ``config.model``; ``rescorer`` (a cross-encoder) overrides
    ``config.cross_encoder``; either adds the cross-encoder guard.
    """
    if config.cross_encoder_threshold is not None and rescorer is None and config.cross_encoder is None:
        raise ConfigError("--cross-encoder-threshold needs a cross-encoder: pass --cross-encoder DIR as well")
    from codehunt.index.bm25 import BM25Index
    from codehunt.index.storage import write_json_atomic, write_jsonl_atomic
    from codehunt.index.tokenize import tokenize_code
    from codehunt.mining.embed import load_scorer, scorer_info

    started = time.perf_counter()
    pairs = read_pairs(Path(config.input))
    corpus = load_candidate_corpus(config, pairs)
    scorer = load_scorer(config.model, config.cache_dir, config.batch_size, config.device, encoder)
    if rescorer is None and config.cross_encoder is not None:
        from codehunt.reranker.config import RerankConfig
        from codehunt.reranker.model import load_rescorer

        rescorer = load_rescorer(config.cross_encoder, RerankConfig(batch_size=config.batch_size, device=config.device))
    log.info("negatives: %d pairs, %d candidate documents", len(pairs), len(corpus.ids))

    doc_vectors = scorer.encode(corpus.texts, "document", show_progress)  # (n_docs, dim)
    doc_of_key = {(group, text_key(text)): i for i, (group, text) in enumerate(zip(corpus.groups, corpus.texts))}
    positive_keys = [(pair_group(pair, config.group_by), text_key(pair.positive)) for pair in pairs]
    first_missing: dict[tuple[str, str], int] = {}  # positives outside the corpus: encoded separately
    for index, key in enumerate(positive_keys):
        if key not in doc_of_key:
            first_missing.setdefault(key, index)
    missing = list(first_missing.values())
    extra_vectors = scorer.encode([pairs[i].positive for i in missing], "document", show_progress)  # (n_missing, dim)
    extra_row = {positive_keys[i]: row for row, i in enumerate(missing)}

    def positive_vector(index: int) -> np.ndarray:
        key = positive_keys[index]
        return doc_vectors[doc_of_key[key]] if key in doc_of_key else extra_vectors[extra_row[key]]

    query_texts = list(dict.fromkeys(pair.query for pair in pairs))
    query_row = {text: i for i, text in enumerate(query_texts)}
    query_vectors = scorer.encode(query_texts, "query", show_progress)  # (n_queries, dim)

    pools = candidate_pools(corpus)
    # each pool's vectors gathered once (one pool of every document: the matrix itself, no copy)
    pool_vectors = {group: doc_vectors if len(docs) == len(doc_vectors) else doc_vectors[docs] for group, docs in pools.items()}
    bm25_of_pool: dict[str, BM25Index] = {}
    if config.pool in ("bm25", "both"):
        bm25_of_pool = {group: BM25Index.build([tokenize_code(corpus.texts[d]) for d in docs]) for group, docs in pools.items()}

    groups: dict[str, _Group] = defaultdict(_Group)
    for index, pair in enumerate(pairs):
        group = groups[normalize_whitespace(pair.query)]
        group.keys.add(positive_keys[index][1])
        group.ids.add(pair.positive_id)
        if pair.path and pair.qualname:
            group.locations.add((pair.path, pair.qualname))
        if config.near_duplicate_jaccard is not None:
            group.tokens.append(frozenset(tokenize_code(pair.positive)))

    doc_keys = [text_key(text) for text in corpus.texts]
    token_cache: dict[int, frozenset[str]] = {}

    def doc_tokens(doc: int) -> frozenset[str]:
        if doc not in token_cache:
            if len(token_cache) >= _TOKEN_CACHE_LIMIT:
                token_cache.clear()
            token_cache[doc] = frozenset(tokenize_code(corpus.texts[doc]))
        return token_cache[doc]

    rng = np.random.default_rng(config.seed)
    guards: Counter[str] = Counter()
    total_rows = len(pairs) * config.epochs
    stats = {"rows": 0, "skipped": 0, "candidates": 0}

    def candidates_for(block: np.ndarray) -> list[dict[int, tuple[int, str]]]:
        """Per pair of the block: doc -> (best rank within the window, which lists found it), from its own pool."""
        found: list[dict[int, tuple[int, str]]] = [dict() for _ in block]
        rows_of_pool: dict[str, list[int]] = defaultdict(list)
        for row, index in enumerate(block.tolist()):
            rows_of_pool[pair_group(pairs[index], config.group_by)].append(row)
        for group, rows in rows_of_pool.items():
            pool_docs = pools.get(group, np.zeros(0, dtype=np.int64))  # pool index -> corpus doc
            depth = min(config.rank_end, len(pool_docs))
            if depth == 0:
                continue
            if config.pool in ("dense", "both"):
                import faiss

                vectors = query_vectors[[query_row[pairs[block[r]].query] for r in rows]]  # (b, dim)
                _, ids = faiss.knn(vectors, pool_vectors[group], depth, metric=faiss.METRIC_INNER_PRODUCT)  # (b, depth)
                for row, ranked in zip(rows, ids.tolist()):
                    for rank, local in enumerate(ranked[config.rank_start - 1 :], start=config.rank_start):
                        if local >= 0:
                            found[row][int(pool_docs[local])] = (rank, "dense")
            if group in bm25_of_pool:
                for row in rows:
                    docs, _ = bm25_of_pool[group].top_k(tokenize_code(pairs[block[row]].query), depth)
                    for rank, local in enumerate(docs.tolist()[config.rank_start - 1 :], start=config.rank_start):
                        doc = int(pool_docs[local])
                        previous = found[row].get(doc)
                        found[row][doc] = (rank, "bm25") if previous is None else (min(previous[0], rank), "both")
        return found

    def guarded(index: int, candidates: dict[int, tuple[int, str]]) -> tuple[np.ndarray, np.ndarray, float]:
        """(surviving docs, their scores, the positive's score) for pair ``index``."""
        pair = pairs[index]
        group = groups[normalize_whitespace(pair.query)]
        docs = []
        for doc in candidates:
            location = (corpus.paths[doc], corpus.qualnames[doc])
            if doc_keys[doc] in group.keys or corpus.ids[doc] in group.ids or location in group.locations:
                guards["duplicate"] += 1
            else:
                docs.append(doc)
        query = query_vectors[query_row[pair.query]]  # (dim,)
        positive_score = float(positive_vector(index) @ query)
        doc_array = np.array(docs, dtype=np.int64)
        scores = doc_vectors[doc_array] @ query if len(docs) else np.zeros(0, dtype=np.float32)  # (c,)
        if config.margin is not None and len(docs):
            keep = scores < config.margin * positive_score
            guards["margin"] += int((~keep).sum())
            doc_array, scores = doc_array[keep], scores[keep]
        if config.near_duplicate_jaccard is not None and len(doc_array):
            threshold = config.near_duplicate_jaccard
            keep = np.array(
                [all(jaccard(doc_tokens(int(doc)), tokens) < threshold for tokens in group.tokens) for doc in doc_array],
                dtype=bool,
            )
            guards["near-duplicate"] += int((~keep).sum())
            doc_array, scores = doc_array[keep], scores[keep]
        if rescorer is not None and len(doc_array):
            ce = np.asarray(rescorer.rescore_texts(pair.query, [pair.positive, *(corpus.texts[d] for d in doc_array)]), dtype=np.float64)
            limit = config.cross_encoder_threshold if config.cross_encoder_threshold is not None else ce[0]
            keep = ce[1:] < limit
            guards["cross-encoder"] += int((~keep).sum())
            doc_array, scores = doc_array[keep], scores[keep]
        return doc_array, scores, positive_score

    def rows() -> Iterator[dict[str, Any]]:
        row_number = 0
        search_started = time.perf_counter()
        for epoch in range(config.epochs):
            order = rng.permutation(len(pairs)) if config.shuffle else np.arange(len(pairs))
            for start in range(0, len(order), config.block_size):
                block = order[start : start + config.block_size]
                for index, candidates in zip(block.tolist(), candidates_for(block)):
                    stats["candidates"] += len(candidates)
                    temperature = temperature_at(row_number, total_rows, config)
                    row_number += 1
                    docs, scores, positive_score = guarded(index, candidates)
                    if len(docs) < config.num_negatives:
                        stats["skipped"] += 1
                        continue
                    chosen = sample_negatives(scores, config.num_negatives, config.sampler, temperature, rng)
                    stats["rows"] += 1
                    yield _row(pairs[index], corpus, docs[chosen], scores[chosen], candidates, positive_score, epoch, temperature, config)
                log.info("negatives: epoch %d, %d / %d pairs", epoch + 1, min(start + config.block_size, len(order)), len(order))
                if show_progress:  # searching cached vectors is silent otherwise: minutes with no line in a log
                    done = epoch * len(order) + min(start + config.block_size, len(order))
                    elapsed = time.perf_counter() - search_started
                    eta = elapsed / done * (total_rows - done)
                    print(f"codehunt: mining negatives: {done:,} of {total_rows:,} pairs searched and guarded, "
                          f"about {eta / 60:.1f} min left", file=sys.stderr, flush=True)

    output = Path(config.output)
    written = write_jsonl_atomic(output, rows())
    seconds = time.perf_counter() - started
    report = {
        "format_version": FORMAT_VERSION,
        "method": "hard negatives from dense + BM25 pools with NV-Retriever / CoRNStack false-negative guards",
        "scorer": scorer_info(scorer),
        "input": str(config.input),
        "output": str(output),
        "corpus": str(config.corpus) if config.corpus else "the pairs' positives",
        "corpus_documents": len(corpus.ids),
        "group_by": config.group_by,
        "pool_sizes": {"min": min(len(d) for d in pools.values()), "max": max(len(d) for d in pools.values()), "pools": len(pools)},
        "pairs": len(pairs),
        "rows": written,
        "skipped_too_few_negatives": stats["skipped"],
        "mean_candidates_per_pair": round(stats["candidates"] / max(1, total_rows), 2),
        "guard_drops": dict(sorted(guards.items())),
        "training_columns": training_columns(config.num_negatives),
        "seconds": round(seconds, 3),
        "pairs_per_second": round(total_rows / seconds, 2) if seconds > 0 else None,
        "config": config_to_json(config),
    }
    write_json_atomic(config.report_path, report)
    log.info("negatives: wrote %d rows (%d skipped) in %.1fs", written, stats["skipped"], seconds)
    return NegativesResult(output, config.report_path, len(pairs), written, stats["skipped"], seconds)


def _row(
    pair: Pair,
    corpus: CandidateCorpus,
    docs: np.ndarray,
    scores: np.ndarray,
    candidates: dict[int, tuple[int, str]],
    positive_score: float,
    epoch: int,
    temperature: float,
    config: NegativesConfig,
) -> dict[str, Any]:
    """One output row: the positional training columns first, then per-negative metadata."""
    record: dict[str, Any] = {"anchor": pair.query, "positive": pair.positive}
    for number, doc in enumerate(docs.tolist(), start=1):
        record[f"negative_{number}"] = corpus.texts[doc]
    record["positive_id"] = pair.positive_id
    record["positive_score"] = round(positive_score, 6)
    for number, (doc, score) in enumerate(zip(docs.tolist(), scores.tolist()), start=1):
        rank, found_by = candidates[doc]
        record[f"negative_{number}_id"] = corpus.ids[doc]
        record[f"negative_{number}_score"] = round(float(score), 6)
        record[f"negative_{number}_rank"] = rank
        record[f"negative_{number}_source"] = found_by
    record["source"] = pair.source
    record["epoch"] = epoch
    record["temperature"] = round(temperature, 6) if config.sampler == "softmax" else None
    return record
