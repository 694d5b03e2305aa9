"""Issue localization: from a bug report to the functions and files a fix must change.

``localize_issue`` indexes a repository at one revision (cached by commit, embeddings cached
by text so the next revision re-embeds only what changed), reads the issue as a long query
and ranks functions, then files. ``evaluate_localization`` scores that ranking on
SWE-bench-style instances the way CoRNStack (Suresh et al., 2025) and SweRank (Reddy et al.,
2025) report it: file Acc@1/3/5 and function Acc@5/10, where a hit at k needs **all** gold
items in the top k, plus Recall@k and MRR.

The ranking, step by step (each step switchable in :class:`LocalizeConfig`, and each
measured on the SWE-bench Verified dev instances in ``benchmarks/localize.py``):

1. **Dense side, long query.** The issue is cut into passages that fit the encoder window
   (:func:`codehunt.issue_text.split_issue`); every passage is searched and a unit keeps its
   best passage score (MaxP, Dai & Callan 2019). ``truncate`` embeds the text as one query
   (the encoder reads its first tokens), ``mean`` averages the passage vectors.
2. **BM25 side, long query.** The whole issue's identifier words (``full``), each word once
   (``unique``), or only the code-like identifiers plus the title (``code``).
3. **Fusion** by reciprocal rank (Cormack et al., 2009), test files left out of each list
   first, so they never take a rank.
4. **Evidence boosts.** A unit named by a traceback frame (same file, same function), a unit
   in a file the issue names (path, GitHub link or dotted module), and a unit whose name the
   issue uses as an identifier can get extra score, in units of one RRF list's top rank
   (``1 / (rrf_k + 1)``); the name boost is divided by how many units share the name, so
   ``__init__`` or ``get`` count for little. Units named by a frame (or by name inside a
   named file) join the candidates even if neither retriever found them. Measured on 116 dev
   instances, only the frame boost is (slightly) positive; path and name boosts lower file
   Acc@1 (the issue names the API it calls more often than the code at fault, and the
   identifier BM25 query already rewards mentions), so their default weight is 0.
5. **Reranking** (optional): a cross-encoder rescores the top ``rerank_depth`` units.
6. **Files** are ranked from the unit ranking: ``max`` (a file's best unit, i.e. the unit
   ranking de-duplicated by file, the CoRNStack/SweRank convention) or ``rrf`` (a file
   scores the sum of ``1 / (file_rrf_k + rank)`` over its units, so a file with several
   good units rises).

Gold matching (``resolve_gold``) is documented there.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import subprocess
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from codehunt.issue_text import IssueEvidence, extract_evidence, path_match_length, split_issue
from codehunt.index.errors import BadInputError
from codehunt.index.sources import is_excluded
from codehunt.index.storage import read_jsonl_objects
from codehunt.mining.issue_pairs import read_instances as read_swebench_instances

if TYPE_CHECKING:
    from codehunt.index.encoder import Encoder
    from codehunt.index.index import Index
    from codehunt.index.types import Chunk, Hit

log = logging.getLogger(__name__)

LEVELS = ("function", "file", "both")
DENSE_QUERIES = ("max", "mean", "truncate")
BM25_QUERIES = ("full", "unique", "code")
FILE_AGGREGATIONS = ("max", "rrf")
INDEX_KEY_VERSION = 1

TEST_GLOBS: tuple[str, ...] = (
    "test/*", "tests/*", "testing/*", "*/test/*", "*/tests/*", "*/testing/*",
    "test_*.py", "*/test_*.py", "*_test.py", "*/*_test.py", "*_tests.py", "*/*_tests.py", "tests.py", "*/tests.py",
    "conftest.py", "*/conftest.py",
)
"""Test files (left out of SWE-bench-style localization, whose gold patches never edit tests)."""
VENDORED_GLOBS: tuple[str, ...] = ("extern/*", "*/extern/*", "cextern/*", "*/cextern/*", "*/_vendor/*", "_vendor/*")
"""Vendored third-party trees the index layer does not already skip (it skips vendor/, third_party/...):
astropy's ``cextern/`` alone is 75% of its chunks (cfitsio, wcslib) and no fix edits it."""
_TEST_DIRS = frozenset({"test", "tests", "testing"})
_TEST_FILE = re.compile(r"^(test_.*\.py|.*_tests?\.py|tests\.py|conftest\.py)$")


def is_test_path(path: str) -> bool:
    """True for files under a ``test``/``tests``/``testing`` directory and for ``test_*.py``, ``*_test.py``, ``conftest.py``."""
    parts = path.split("/")
    return any(part in _TEST_DIRS for part in parts[:-1]) or bool(_TEST_FILE.match(parts[-1]))


@dataclass(frozen=True)
class LocalizeConfig:
    """How an issue is localized; the defaults are the best settings measured on the dev instances."""

    repo: Path | None = field(default=None, metadata={"help": "repository to localize in (a work tree or a bare git directory)"})
    rev: str | None = field(default=None, metadata={"help": "revision of --repo to index (default HEAD; uncommitted changes are not seen)"})
    index: Path | None = field(default=None, metadata={"help": "an existing index directory, instead of --repo"})
    k: int = field(default=10, metadata={"help": "functions and files to return"})
    level: str = field(default="both", metadata={"help": "function, file or both"})
    include_tests: bool = field(default=False, metadata={"help": "also rank test files (left out by default, as in SWE-bench)"})
    mode: str = field(default="hybrid", metadata={"help": "dense, bm25 or hybrid (both, fused by reciprocal rank)"})
    boosts: bool = field(default=True, metadata={"help": "boost units the issue points at, with the weights below (by default: traceback frames only)"})
    dense_query: str = field(default="max", metadata={"help": "long-query handling for the dense side: max (passages, MaxP), mean, truncate"})
    bm25_query: str = field(default="code", metadata={"help": "long-query handling for BM25: full, unique (each word once), code (identifiers + title)"})
    passage_chars: int = field(default=1000, metadata={"help": "characters per issue passage for the dense side"})
    max_passages: int = field(default=16, metadata={"help": "passages embedded per issue at most"})
    depth: int = field(default=200, metadata={"help": "candidate units taken from each retriever"})
    rrf_k: int = field(default=60, metadata={"help": "reciprocal-rank-fusion constant"})
    frame_weight: float = field(default=1.0, metadata={"help": "boost for a unit named by a traceback frame (in top-rank RRF units)"})
    path_weight: float = field(default=0.0, metadata={"help": "boost for a unit whose file the issue names (0: measured no gain)"})
    name_weight: float = field(default=0.0, metadata={"help": "boost for a unit whose name the issue uses, divided by units sharing the name (0: measured no gain)"})
    name_source: str = field(default="all", metadata={"help": "where a name must be mentioned to count: all (anywhere) or prose (outside code blocks, logs and tracebacks)"})
    exclude: tuple[str, ...] = field(
        default_factory=lambda: VENDORED_GLOBS,
        metadata={"help": "glob patterns of paths left out of the index and the ranking (default: vendored extern/ trees)"},
    )
    file_aggregation: str = field(default="max", metadata={"help": "file score from unit ranks: max (best unit) or rrf (sum over units)"})
    file_rrf_k: int = field(default=10, metadata={"help": "constant of the rrf file aggregation"})
    rerank: Path | None = field(default=None, metadata={"help": "cross-encoder directory that rescores the top units"})
    rerank_depth: int = field(default=30, metadata={"help": "units the reranker rescores"})
    rerank_fusion: float = field(
        default=0.0, metadata={"help": "weight of the first stage's order fused (RRF) with the reranker's; 0: reranker order alone"}
    )
    model: str = field(default="default", metadata={"help": "embedding model for indexes built here"})
    cache_dir: Path | None = field(default=None, metadata={"help": "where revision indexes and embeddings are cached (default $CODEHUNT_CACHE or ~/.cache/codehunt)"})

    def __post_init__(self) -> None:
        checks = [
            (self.level in LEVELS, f"level must be one of {', '.join(LEVELS)}, got {self.level!r}"),
            (self.mode in ("dense", "bm25", "hybrid"), f"mode must be dense, bm25 or hybrid, got {self.mode!r}"),
            (self.dense_query in DENSE_QUERIES, f"dense_query must be one of {', '.join(DENSE_QUERIES)}, got {self.dense_query!r}"),
            (self.bm25_query in BM25_QUERIES, f"bm25_query must be one of {', '.join(BM25_QUERIES)}, got {self.bm25_query!r}"),
            (self.name_source in ("all", "prose"), f"name_source must be all or prose, got {self.name_source!r}"),
            (self.file_aggregation in FILE_AGGREGATIONS, f"file_aggregation must be max or rrf, got {self.file_aggregation!r}"),
            (self.k >= 1 and self.depth >= 1 and self.rerank_depth >= 0 and self.rerank_fusion >= 0,
             "k and depth must be >= 1, rerank_depth and rerank_fusion >= 0"),
            (self.passage_chars >= 50 and self.max_passages >= 1, "passage_chars must be >= 50 and max_passages >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise BadInputError(message)


@dataclass(frozen=True)
class Localization:
    """Ranked functions (as hits) and ranked files ``(path, score)`` for one issue."""

    functions: list["Hit"] = field(metadata={"help": "best units first; empty when level is 'file'"})
    files: list[tuple[str, float]] = field(metadata={"help": "best files first; empty when level is 'function'"})
    index_path: str = field(default="", metadata={"help": "the index that was searched"})
    evidence: dict[str, Any] = field(default_factory=dict, metadata={"help": "paths, frames and identifiers read from the issue"})

    def to_json(self) -> dict[str, Any]:
        return {
            "functions": [hit.to_json() for hit in self.functions],
            "files": [{"rank": rank, "path": path, "score": score} for rank, (path, score) in enumerate(self.files, start=1)],
            "index": self.index_path,
            "evidence": self.evidence,
        }


def read_issue(source: str | Path) -> str:
    """The issue text from a file, or from stdin when ``source`` is ``-``."""
    if str(source) == "-":
        import sys

        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise BadInputError(f"{path} is not a file: pass a file holding the issue (title on the first line), or - for stdin")
    return path.read_text(encoding="utf-8", errors="replace")


def format_localization(localization: Localization, as_json: bool = False) -> list[str]:
    """Output lines: ``path:line: qualname  (score)`` per function, then ``path  (score)`` per file.

    With ``as_json``, one JSON object per line: ``{"level": "function", ...hit}`` and
    ``{"level": "file", "rank", "path", "score"}``, for tools.
    """
    lines: list[str] = []
    if as_json:
        lines += [json.dumps({"level": "function", **hit.to_json()}, ensure_ascii=False) for hit in localization.functions]
        lines += [
            json.dumps({"level": "file", "rank": rank, "path": path, "score": score}, ensure_ascii=False)
            for rank, (path, score) in enumerate(localization.files, start=1)
        ]
        return lines
    if localization.functions:
        lines.append("# functions")
        lines += [f"{hit.path}:{hit.start_line}: {hit.qualname}  ({hit.score:.4f})" for hit in localization.functions]
    if localization.files:
        lines.append("# files")
        lines += [f"{path}  ({score:.4f})" for path, score in localization.files]
    return lines


# --------------------------------------------------------------------------- units of an index
class UnitTable:
    """Per-index lookups the boosts need: unit positions, units per file, units per name."""

    def __init__(self, index: "Index"):
        self.index = index
        self.first: dict[str, int] = {}  # unit id -> position of its first chunk
        for position, chunk in enumerate(index.chunks):
            self.first.setdefault(chunk.unit, position)
        self.by_path: dict[str, list[str]] = defaultdict(list)
        self.by_name: dict[str, list[str]] = defaultdict(list)
        self.by_qualname: dict[str, list[str]] = defaultdict(list)
        for unit, position in self.first.items():
            chunk = index.chunks[position]
            self.by_path[chunk.path].append(unit)
            if chunk.qualname and not chunk.qualname.startswith("<") and chunk.kind not in ("window", "document"):
                self.by_name[chunk.qualname.rsplit(".", 1)[-1]].append(unit)
                self.by_qualname[chunk.qualname].append(unit)
        self.paths = sorted(self.by_path)
        self._basename: dict[str, list[str]] = defaultdict(list)
        for path in self.paths:
            self._basename[path.rsplit("/", 1)[-1]].append(path)

    def chunk(self, unit: str) -> "Chunk":
        return self.index.chunks[self.first[unit]]

    def paths_named(self, mentioned: str, exact: bool = False) -> list[str]:
        """Index paths a mentioned path names.

        The mention must agree with the path on its whole length (``_pytest/python.py`` names
        ``src/_pytest/python.py``), or, when it carries another prefix (a checkout elsewhere),
        on at least two trailing components, three for ``__init__.py`` (whose directory is the
        only specific part). A bare file name names nothing: ``utils.py`` is everywhere.
        ``exact`` asks for whole-length agreement only (paths derived from dotted names).
        """
        base = mentioned.rsplit("/", 1)[-1]
        candidates = self._basename.get(base, [])
        mentioned_parts = len([p for p in mentioned.split("/") if p])
        if mentioned_parts < 2 and not any(path == mentioned for path in candidates):
            return []
        needed = 3 if base == "__init__.py" else 2
        found = []
        for path in candidates:
            n = path_match_length(mentioned, path)
            full = n == mentioned_parts or n == path.count("/") + 1
            if n and (full or (not exact and n >= needed)):
                found.append(path)
        return found

    def module_paths(self, dotted: str) -> list[tuple[str, list[str]]]:
        """(file, remaining name parts) for each prefix of ``a.b.c.D`` that is a module of the index."""
        parts = dotted.split(".")
        found = []
        for cut in range(len(parts), 1, -1):
            stem = "/".join(parts[:cut])
            for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
                for path in self.paths_named(candidate, exact=True):
                    found.append((path, parts[cut:]))
            if found:
                break
        return found


# ------------------------------------------------------------------------------------ ranking
@dataclass(frozen=True)
class IssueRanking:
    """Every candidate unit and file for one issue, best first (scores as the last step left them)."""

    units: list[tuple[str, float]]
    files: list[tuple[str, float]]
    evidence: IssueEvidence


def _keep(chunk: "Chunk", config: LocalizeConfig) -> bool:
    if not config.include_tests and is_test_path(chunk.path):
        return False
    return not config.exclude or not is_excluded(chunk.path, config.exclude)


def _collapse(table: UnitTable, pairs: Iterable[tuple[int, float]], config: LocalizeConfig) -> dict[str, float]:
    """Chunk (position, score) pairs -> best score per unit, tests dropped unless wanted."""
    best: dict[str, float] = {}
    chunks = table.index.chunks
    for position, score in pairs:
        if position < 0:
            continue
        chunk = chunks[position]
        if not _keep(chunk, config):
            continue
        unit = chunk.unit
        if unit not in best or score > best[unit]:
            best[unit] = float(score)
    return best


def _ranked(scores: dict[str, float], depth: int) -> list[str]:
    return [unit for unit, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:depth]]


def dense_ranking(table: UnitTable, issue: str, config: LocalizeConfig) -> list[str]:
    """Units by dense similarity to the issue, handled as a long query (see the module docstring)."""
    import numpy as np

    from codehunt.index.dense import search_dense_index

    index = table.index
    fetch = config.depth * 3 if config.include_tests else config.depth * 6  # parts and test units are dropped after
    if config.dense_query == "truncate":
        passages = [issue]
    else:
        passages = split_issue(issue, config.passage_chars, config.max_passages)
    if not passages:
        return []
    vectors = index.encoder.encode(passages, "query")  # (passages, dim)
    if config.dense_query == "mean":
        mean = vectors.mean(axis=0, keepdims=True)  # (1, dim)
        vectors = mean / max(float(np.linalg.norm(mean)), 1e-12)
    scores, ids = search_dense_index(index.dense, vectors, fetch)
    pairs = ((int(i), float(s)) for row_ids, row_scores in zip(ids, scores) for i, s in zip(row_ids, row_scores))
    return _ranked(_collapse(table, pairs, config), config.depth)


def bm25_query_tokens(issue: str, evidence: IssueEvidence, how: str) -> list[str]:
    """The BM25 query of an issue: all its words, each word once, or its code identifiers and title."""
    from codehunt.index.tokenize import tokenize_code

    if how == "full":
        return tokenize_code(issue)
    if how == "unique":
        return list(dict.fromkeys(tokenize_code(issue)))
    title = issue.strip().split("\n", 1)[0]
    names = sorted(evidence.identifiers | evidence.code_words)
    return tokenize_code(title + " " + " ".join(names) + " " + " ".join(evidence.paths))


def bm25_ranking(table: UnitTable, issue: str, evidence: IssueEvidence, config: LocalizeConfig) -> list[str]:
    """Units by BM25 against the issue's words."""
    tokens = bm25_query_tokens(issue, evidence, config.bm25_query)
    if not tokens:
        return []
    fetch = config.depth * 3 if config.include_tests else config.depth * 6
    ids, scores = table.index.bm25.top_k(tokens, fetch)
    return _ranked(_collapse(table, zip(ids.tolist(), scores.tolist()), config), config.depth)


def fuse(rankings: Sequence[Sequence[str]], rrf_k: int) -> dict[str, float]:
    """Reciprocal-rank fusion: score(u) = sum over lists of 1 / (rrf_k + rank), ranks from 1."""
    scores: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for rank, unit in enumerate(ranking, start=1):
            scores[unit] += 1.0 / (rrf_k + rank)
    return dict(scores)


@dataclass(frozen=True)
class Boosts:
    """Evidence features per unit: ``frame`` and ``path`` are 0/1, ``name`` is 1 / (units sharing the name)."""

    frame: dict[str, float]
    path: dict[str, float]
    name: dict[str, float]

    def total(self, unit: str, config: LocalizeConfig) -> float:
        return (
            config.frame_weight * self.frame.get(unit, 0.0)
            + config.path_weight * self.path.get(unit, 0.0)
            + config.name_weight * self.name.get(unit, 0.0)
        )

    def injected(self) -> set[str]:
        """Units that join the candidates on evidence alone: framed ones, and named ones in a named file."""
        return set(self.frame) | {unit for unit in self.name if unit in self.path}


def evidence_boosts(table: UnitTable, evidence: IssueEvidence, config: LocalizeConfig) -> Boosts:
    """Which units the issue points at, and how specifically (see :class:`Boosts`)."""
    frame: dict[str, float] = {}
    path: dict[str, float] = {}
    name: dict[str, float] = {}
    named_files: set[str] = set()
    for mentioned in evidence.paths:
        named_files.update(table.paths_named(mentioned))
    qualified: set[tuple[str, str]] = set()  # (file, qualname) from dotted names such as pkg.mod.Class.method
    for dotted in evidence.dotted:
        for file, rest in table.module_paths(dotted):
            named_files.add(file)
            for cut in range(len(rest), 0, -1):
                qualified.add((file, ".".join(rest[:cut])))
    for file in named_files:
        for unit in table.by_path.get(file, []):
            path[unit] = 1.0
    for item in evidence.frames:
        for file in table.paths_named(item.path):
            unit = framed_unit(table, file, item.function, item.line)
            if unit is not None:
                frame[unit] = 1.0
    for identifier in evidence.prose_identifiers if config.name_source == "prose" else evidence.identifiers:
        units = table.by_name.get(identifier, [])
        for unit in units:
            name[unit] = max(name.get(unit, 0.0), 1.0 / len(units))
    for file, qualname in qualified:
        for unit in table.by_path.get(file, []):
            if table.chunk(unit).qualname == qualname:
                name[unit] = 1.0
    keep = {unit for unit in set(frame) | set(path) | set(name) if _keep(table.chunk(unit), config)}
    return Boosts(
        {u: v for u, v in frame.items() if u in keep},
        {u: v for u, v in path.items() if u in keep},
        {u: v for u, v in name.items() if u in keep},
    )


def framed_unit(table: UnitTable, path: str, function: str, line: int) -> str | None:
    """The unit of ``path`` a traceback frame points at.

    By name when the frame names a def (``<module>``, ``<lambda>`` and nameless pytest frames
    go by line); among several units of that name, the one whose lines hold ``line``, else the
    nearest (the reporter's version may differ from the indexed one by a few lines).
    """
    units = table.by_path.get(path, [])
    if function and not function.startswith("<"):
        units = [u for u in units if table.chunk(u).qualname.rsplit(".", 1)[-1] == function]
    elif function != "<module>":
        units = [u for u in units if table.chunk(u).kind not in ("module", "class")]
    if not units:
        return None

    def distance(unit: str) -> int:
        chunk = table.chunk(unit)
        start, end = chunk.extra.get("unit_lines", [chunk.start_line, chunk.end_line])
        return 0 if start <= line <= end else min(abs(line - start), abs(line - end))

    best = min(units, key=lambda u: (distance(u), u))
    if not function or function.startswith("<"):
        return best if distance(best) == 0 else None
    return best


def rank_files(units: Sequence[tuple[str, float]], table: UnitTable, how: str, rrf_k: int) -> list[tuple[str, float]]:
    """Files from a unit ranking: ``max`` keeps each file's best unit score (de-duplication by file), ``rrf`` sums 1/(rrf_k + rank)."""
    scores: dict[str, float] = {}
    order: dict[str, int] = {}
    for rank, (unit, score) in enumerate(units, start=1):
        path = table.chunk(unit).path
        order.setdefault(path, rank)
        if how == "max":
            scores.setdefault(path, score)
        else:
            scores[path] = scores.get(path, 0.0) + 1.0 / (rrf_k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))


def rank_issue(
    table: UnitTable,
    issue: str,
    config: LocalizeConfig,
    rescorer: Any | None = None,
    lists: dict[str, list[str]] | None = None,
) -> IssueRanking:
    """Rank every candidate unit and file of ``table``'s index for ``issue``.

    ``lists`` may hold precomputed ``dense`` / ``bm25`` rankings (the benchmark computes them
    once and tries several fusions and boosts on them).
    """
    evidence = extract_evidence(issue)
    lists = dict(lists or {})
    if config.mode in ("dense", "hybrid") and "dense" not in lists:
        lists["dense"] = dense_ranking(table, issue, config)
    if config.mode in ("bm25", "hybrid") and "bm25" not in lists:
        lists["bm25"] = bm25_ranking(table, issue, evidence, config)
    used = [lists["dense"]] if config.mode == "dense" else [lists["bm25"]] if config.mode == "bm25" else [lists["dense"], lists["bm25"]]
    scores = fuse(used, config.rrf_k)
    if config.boosts:
        boosts = evidence_boosts(table, evidence, config)
        for unit in boosts.injected():
            scores.setdefault(unit, 0.0)
        unit_of_rank = 1.0 / (config.rrf_k + 1)
        scores = {unit: score + unit_of_rank * boosts.total(unit, config) for unit, score in scores.items()}
    units = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    if rescorer is not None and config.rerank_depth > 0 and units:
        units = rerank_units(table, issue, units, rescorer, config.rerank_depth)
    files = rank_files(units, table, config.file_aggregation, config.file_rrf_k)
    return IssueRanking(units, files, evidence)


def rerank_units(
    table: UnitTable, issue: str, units: list[tuple[str, float]], rescorer: Any, depth: int
) -> list[tuple[str, float]]:
    """The top ``depth`` units in the rescorer's order (its logits as scores), the rest after them."""
    from codehunt.index.index import hit_from_chunk

    head = units[:depth]
    hits = [hit_from_chunk(table.chunk(unit), rank, score) for rank, (unit, score) in enumerate(head, start=1)]
    reranked = rescorer.rescore(issue, hits, texts=table.index.hit_texts(hits))
    floor = min((hit.score for hit in reranked), default=0.0)
    tail = [(unit, floor - 1.0 - rank) for rank, (unit, _) in enumerate(units[depth:], start=1)]
    return [(hit.doc_id, float(hit.score)) for hit in reranked] + tail


# ----------------------------------------------------------------------------- index per revision
def cache_root(config: LocalizeConfig) -> Path:
    if config.cache_dir is not None:
        return Path(config.cache_dir)
    return Path(os.environ.get("CODEHUNT_CACHE", Path.home() / ".cache" / "codehunt"))


def index_config_for(config: LocalizeConfig) -> Any:
    """The IndexConfig of a localization index: the chosen model; ``exclude`` and (unless wanted) test files left out."""
    from codehunt.index.corpus import CorpusConfig
    from codehunt.index.encoder import EncoderConfig
    from codehunt.index.index import IndexConfig
    from codehunt.index.sources import SourceConfig

    exclude = tuple(config.exclude) + (() if config.include_tests else TEST_GLOBS)
    return IndexConfig(encoder=EncoderConfig(model=config.model), corpus=CorpusConfig(source=SourceConfig(exclude=exclude)))


def revision_index_path(repo: Path, commit: str, config: LocalizeConfig) -> Path:
    """``cache/localize/<repo name>-<commit>-<key>``: the key covers the model, the chunker and the file selection."""
    from codehunt.index.chunking import CHUNKER_VERSION

    key = json.dumps(
        {"v": INDEX_KEY_VERSION, "chunker": CHUNKER_VERSION, "config": asdict(index_config_for(config))},
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    name = Path(repo).resolve().name
    if name in ("repo", ".git") or name.endswith(".git"):
        name = Path(repo).resolve().parent.name if name in ("repo", ".git") else name[: -len(".git")]
    return cache_root(config) / "localize" / f"{name}-{commit[:12]}-{digest}"


def make_encoder(config: LocalizeConfig) -> "Encoder":
    """The embedding model wrapped in the on-disk embedding cache under ``cache_dir/embeddings``."""
    from codehunt.index.encoder import SentenceTransformerEncoder
    from codehunt.mining.cache import CachedEncoder

    return CachedEncoder(SentenceTransformerEncoder(index_config_for(config).encoder), cache_root(config) / "embeddings")


def revision_index(
    repo: Path, rev: str | None, config: LocalizeConfig, encoder: "Encoder | None" = None, show_progress: bool = False
) -> "Index":
    """The index of ``repo`` at ``rev`` (default HEAD), built once per commit and reused.

    Nothing is checked out: blobs are read with ``git cat-file``, so bare clones work. The
    embedding cache makes a new revision cost only the units whose text changed.
    """
    from codehunt.index.corpus import read_codebase
    from codehunt.index.index import Index
    from codehunt.index.sources import resolve_revision

    repo = Path(repo)
    if not repo.exists():
        raise BadInputError(f"{repo} does not exist: pass a git repository (work tree or bare) with --repo")
    commit = resolve_revision(repo, rev or "HEAD")
    path = revision_index_path(repo, commit, config)
    if (path / "manifest.json").is_file():
        return Index.load(path, encoder)
    encoder = encoder if encoder is not None else make_encoder(config)
    index_config = index_config_for(config)
    started = time.perf_counter()
    corpus = read_codebase(repo, commit, index_config.corpus)  # blobs a partial clone lacks are skipped
    index = Index.build_from_corpus(
        corpus, path, index_config, encoder, show_progress, {"path": str(repo.resolve()), "rev": commit}
    )
    log.info("indexed %s@%s (%d units) in %.1fs", repo, commit[:12], index.manifest.unit_count, time.perf_counter() - started)
    return index


def _git(repo: Path, args: list[str], input_bytes: bytes | None = None) -> bytes:
    result = subprocess.run(["git", *args], cwd=repo, input=input_bytes, capture_output=True, check=False)
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BadInputError(f"git {' '.join(args[:2])} failed in {repo}: {message[0] if message else 'unknown error'}")
    return result.stdout


def load_rescorer(path: Path | None, fusion: float = 0.0) -> Any | None:
    """The cross-encoder at ``path`` (None without one), its order fused with the first stage's by ``fusion``."""
    if path is None:
        return None
    from codehunt.reranker.config import RerankConfig
    from codehunt.reranker.model import load_rescorer as load

    return load(path, RerankConfig(first_stage_weight=fusion))


def localize_with_index(index: "Index", issue: str, config: LocalizeConfig, rescorer: Any | None = None) -> Localization:
    """Localize ``issue`` in an open index (the step ``localize_issue`` runs after indexing)."""
    from codehunt.index.index import hit_from_chunk

    if not issue.strip():
        raise BadInputError("the issue text is empty: pass a file with the issue's title and description, or - for stdin")
    table = UnitTable(index)
    ranking = rank_issue(table, issue, config, rescorer)
    functions = [] if config.level == "file" else [
        hit_from_chunk(table.chunk(unit), rank, score) for rank, (unit, score) in enumerate(ranking.units[: config.k], start=1)
    ]
    files = [] if config.level == "function" else ranking.files[: config.k]
    return Localization(functions, files, str(index.path), ranking.evidence.to_json())


def localize_issue(
    issue_text: str, config: LocalizeConfig, show_progress: bool = False, *, encoder: "Encoder | None" = None
) -> Localization:
    """Rank the functions and files of ``config.repo`` at ``config.rev`` (or of ``config.index``) for an issue.

    ``encoder`` (optional) is a loaded embedding model to reuse; by default it is loaded from
    the config (or, for ``config.index``, from the index's manifest).
    """
    from codehunt.index.index import Index

    if (config.repo is None) == (config.index is None):
        raise BadInputError("pass either --repo PATH (with an optional --rev) or --index DIR, not both and not neither")
    if config.index is not None:
        index = Index.load(config.index, encoder)
    else:
        assert config.repo is not None
        index = revision_index(config.repo, config.rev, config, encoder, show_progress)
    return localize_with_index(index, issue_text, config, load_rescorer(config.rerank, config.rerank_fusion))


# ------------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class GoldItem:
    """One gold function-level item: its name as the gold file has it, and the index units that count as finding it."""

    path: str
    qualname: str
    kind: str
    units: tuple[str, ...]


@dataclass(frozen=True)
class Gold:
    """An instance's gold after matching against the index (see :func:`resolve_gold`)."""

    files: tuple[str, ...]
    items: tuple[GoldItem, ...]
    dropped_files: tuple[tuple[str, str], ...] = ()  # (path, reason)
    dropped_items: tuple[tuple[str, str], ...] = ()  # (path::qualname, reason)


def read_gold(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Gold rows grouped by instance id: ``{instance_id: [{file, change, units: [{qualname, kind, parent}]}]}``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} does not exist: pass the gold JSONL (one row per instance and edited file)")
    gold: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for number, row in read_jsonl_objects(path, "a gold row (instance_id, file, units)"):
        try:
            gold[str(row["instance_id"])].append(
                {"file": str(row["file"]), "change": row.get("change", "modified"), "units": list(row.get("units") or [])}
            )
        except (KeyError, TypeError) as exc:
            raise BadInputError(f"{path}:{number}: not a gold row ({exc}); expected instance_id, file, units") from exc
    return dict(gold)


def _module_units(table: UnitTable, path: str) -> tuple[str, ...]:
    return tuple(u for u in table.by_path.get(path, []) if table.chunk(u).kind in ("module", "window"))


def _resolve_item(table: UnitTable, path: str, qualname: str, kind: str) -> tuple[str, ...]:
    units = table.by_path.get(path, [])
    if qualname == "<module>":
        return _module_units(table, path)
    by_qualname: dict[str, list[str]] = defaultdict(list)
    for unit in units:
        by_qualname[table.chunk(unit).qualname].append(unit)
    if kind == "hunk":  # a hunk header names the innermost def only: match on the last name
        last = qualname.rsplit(".", 1)[-1]
        found = [u for q, us in by_qualname.items() if q.rsplit(".", 1)[-1] == last for u in us]
        if found:
            return tuple(found)
    parts = qualname.split(".")
    for cut in range(len(parts), 0, -1):  # nested defs live inside their enclosing unit
        found = by_qualname.get(".".join(parts[:cut]))
        if found:
            return tuple(found)
    return ()


def resolve_gold(rows: Sequence[dict[str, Any]], table: UnitTable, files_at_base: set[str] | None, include_tests: bool) -> Gold:
    """Match gold rows to the index's files and units.

    Files: a gold file counts when it existed at ``base_commit`` and is source code the index
    can hold (a known language; not a test file unless tests are included). Added files,
    ``setup.cfg`` and the like are dropped (reason recorded): no ranking of the base
    revision can contain them. A source file that existed but is missing from the index
    (too large, generated) is kept, and counts as missed.

    Function-level items (CoRNStack/SweRank: every edited function must be found):
    ``function``/``method``/``class`` units match the unit of the same file and qualified
    name, or its nearest enclosing unit (nested defs are part of their enclosing function
    here); ``hunk`` units (from hunk headers, innermost name only) match any unit of the file
    with that last name; ``<module>`` units (edits outside every def: imports, constants)
    match the file's module-level unit, or its line windows when the file defines nothing.
    A ``<module>`` item whose file has no module-level unit (an import-only edit: the
    chunker keeps no unit for bare imports) is dropped from the function level, since no
    unit ranking can contain it; its file still counts at file level. Any other item that
    matches no unit is kept and counts as missed. Gold files with no units add only a
    file-level item.
    """
    from codehunt.index.chunking import language_for_path

    files: list[str] = []
    items: list[GoldItem] = []
    dropped_files: list[tuple[str, str]] = []
    dropped_items: list[tuple[str, str]] = []
    for row in rows:
        path = row["file"]
        reason = None
        if row.get("change") == "added" or (files_at_base is not None and path not in files_at_base):
            reason = "not-at-base"
        elif language_for_path(path) is None:
            reason = "not-source"
        elif not include_tests and is_test_path(path):
            reason = "test-file"
        if reason is not None:
            dropped_files.append((path, reason))
            continue
        if path not in files:
            files.append(path)
        for unit in row["units"]:
            qualname, kind = str(unit.get("qualname") or "<module>"), str(unit.get("kind") or "")
            resolved = _resolve_item(table, path, qualname, kind)
            if not resolved and qualname == "<module>":
                dropped_items.append((f"{path}::{qualname}", "no-module-unit"))
                continue
            if all((i.path, i.qualname) != (path, qualname) for i in items):
                items.append(GoldItem(path, qualname, kind, resolved))
    return Gold(tuple(files), tuple(items), tuple(dropped_files), tuple(dropped_items))


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


@dataclass(frozen=True)
class InstanceResult:
    """One instance's metrics and what was ranked, for tracing."""

    instance_id: str
    repo: str
    metrics: dict[str, float]
    gold_files: list[str]
    gold_units: list[str]
    top_files: list[str]
    top_units: list[str]
    dropped: list[str]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LocalizationReport:
    """Metrics averaged over the instances that have gold at each level, and every instance's result."""

    aggregate: dict[str, float]
    per_instance: list[InstanceResult]
    skipped: list[tuple[str, str]]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "aggregate": self.aggregate,
            "per_instance": [result.to_json() for result in self.per_instance],
            "skipped": [{"instance_id": i, "reason": r} for i, r in self.skipped],
            "seconds": self.seconds,
        }


def aggregate_metrics(results: Sequence[InstanceResult]) -> dict[str, float]:
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


def read_instances(path: Path) -> list[dict[str, Any]]:
    """SWE-bench instances (``repo``, ``instance_id``, ``base_commit``, ``problem_statement``) from JSONL."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} does not exist: pass a SWE-bench-style instances JSONL")
    return list(read_swebench_instances(path, ("repo", "instance_id", "base_commit", "problem_statement")))


def repo_directory(repos: Path, repo: str) -> Path:
    """``owner/name`` -> ``repos/owner__name`` (or ``owner__name.git``)."""
    base = Path(repos) / repo.replace("/", "__")
    if not base.exists() and base.with_name(base.name + ".git").exists():
        return base.with_name(base.name + ".git")
    return base


def files_at(repo: Path, commit: str) -> set[str]:
    """Every path of ``commit`` (one ``git ls-tree``)."""
    listing = _git(repo, ["ls-tree", "-r", "-z", "--name-only", commit])
    return {p for p in listing.decode("utf-8", "surrogateescape").split("\0") if p}


def score_instance(
    instance: dict[str, Any], table: UnitTable, ranking: IssueRanking, rows: Sequence[dict[str, Any]],
    files_at_base: set[str] | None, include_tests: bool, seconds: float = 0.0,
) -> InstanceResult:
    """Resolve ``rows`` (the instance's gold) against the index and score ``ranking``."""
    gold = resolve_gold(rows, table, files_at_base, include_tests)
    ranked_units = [unit for unit, _ in ranking.units]
    ranked_files = [path for path, _ in ranking.files]
    metrics = localization_metrics(ranked_files, ranked_units, gold)
    dropped = [f"{p} ({r})" for p, r in gold.dropped_files] + [f"{p} ({r})" for p, r in gold.dropped_items]
    dropped += [f"{i.path}::{i.qualname} (unmatched)" for i in gold.items if not i.units]
    return InstanceResult(
        instance_id=str(instance["instance_id"]),
        repo=str(instance["repo"]),
        metrics=metrics,
        gold_files=list(gold.files),
        gold_units=[f"{i.path}::{i.qualname}" for i in gold.items],
        top_files=ranked_files[:10],
        top_units=ranked_units[:10],
        dropped=dropped,
        seconds=round(seconds, 3),
    )


def evaluate_localization(
    instances_path: Path, gold_path: Path, repos_dir: Path, config: LocalizeConfig, show_progress: bool = False,
    *, encoder: "Encoder | None" = None,
) -> LocalizationReport:
    """Localize every instance whose repository is in ``repos_dir`` and score it against the gold.

    Each instance's repository is read at its ``base_commit`` (``repos_dir/owner__name``, bare
    or not, nothing checked out); its index is built once per commit and cached, and the
    embedding cache makes each further revision of a repository cost only its changed units.
    Instances whose repository is absent or that have no gold are skipped, with the reason.
    """
    started = time.perf_counter()
    instances = read_instances(instances_path)
    gold = read_gold(gold_path)
    rescorer = load_rescorer(config.rerank, config.rerank_fusion)
    results: list[InstanceResult] = []
    skipped: list[tuple[str, str]] = []
    for number, instance in enumerate(instances, start=1):
        instance_id = instance["instance_id"]
        repo = repo_directory(repos_dir, instance["repo"])
        if instance_id not in gold:
            skipped.append((instance_id, "no gold rows"))
            continue
        if not repo.exists():
            skipped.append((instance_id, f"repository {repo} not found"))
            continue
        if encoder is None:
            encoder = make_encoder(config)
        began = time.perf_counter()
        index = revision_index(repo, instance["base_commit"], config, encoder, show_progress)
        table = UnitTable(index)
        ranking = rank_issue(table, instance["problem_statement"], config, rescorer)
        result = score_instance(
            instance, table, ranking, gold[instance_id], files_at(repo, instance["base_commit"]), config.include_tests,
            time.perf_counter() - began,
        )
        if not result.metrics:
            skipped.append((instance_id, "no gold file at base_commit: " + "; ".join(result.dropped)))
            continue
        results.append(result)
        log.info("[%d/%d] %s file_mrr=%.3f function_mrr=%.3f", number, len(instances), instance_id,
                 result.metrics.get("file_mrr", 0.0), result.metrics.get("function_mrr", 0.0))
    return LocalizationReport(aggregate_metrics(results), results, skipped, time.perf_counter() - started)


def write_per_instance(path: Path, report: LocalizationReport) -> int:
    """Write one JSON line per evaluated instance (metrics, gold, top files and units, dropped gold), atomically."""
    from codehunt.index.storage import write_jsonl_atomic

    return write_jsonl_atomic(Path(path), [result.to_json() for result in report.per_instance])
