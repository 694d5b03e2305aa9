"""What ``codehunt localize`` does, as one frozen config, and which paths it may rank."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from codehunt.index.errors import BadInputError
from codehunt.index.paths import is_test_path
from codehunt.index.sources import is_excluded

if TYPE_CHECKING:
    from codehunt.index.types import Chunk

LEVELS = ("function", "file", "both")
DENSE_QUERIES = ("max", "mean", "truncate")
BM25_QUERIES = ("full", "unique", "code")
RERANK_QUERIES = ("issue", "code")
"""What the reranker reads: the issue as written, or the identifiers-and-title query BM25 uses (``bm25_query``)."""
FILE_AGGREGATIONS = ("max", "rrf")

VENDORED_GLOBS: tuple[str, ...] = ("extern/*", "*/extern/*", "cextern/*", "*/cextern/*", "*/_vendor/*", "_vendor/*")
"""Vendored third-party trees the index layer does not already skip (it skips vendor/, third_party/...):
astropy's ``cextern/`` alone is 75% of its chunks (cfitsio, wcslib) and no fix edits it."""


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
    history_weight: float = field(
        default=0.0,
        metadata={"help": "boost for units of files that earlier commits with issue-like messages changed (BugLocator; 0: off)"},
    )
    history_commits: int = field(default=5000, metadata={"help": "newest commits before the revision whose messages are searched"})
    history_depth: int = field(default=20, metadata={"help": "most similar earlier commits that vote"})
    history_max_files: int = field(default=20, metadata={"help": "commits changing more files than this do not vote"})
    structure_weight: float = field(
        default=0.5,
        metadata={"help": "boost for the best candidates and their callers and callees (a name-based call graph; 0: off)"},
    )
    structure_top: int = field(default=10, metadata={"help": "best candidates whose callers and callees get the structure boost"})
    constructor_weight: float = field(
        default=0.25,
        metadata={"help": "boost for the __init__ (and, with --constructor-class, the class) of a class whose methods are "
                          "among the --structure-top best candidates (0: off)"},
    )
    constructor_class: bool = field(
        default=True,
        metadata={"help": "the constructor vote also lifts the class itself (its header and class attributes)"},
    )
    module_weight: float = field(
        default=1.0,
        metadata={"help": "boost for the module-level unit (imports, constants) of files holding the --structure-top best "
                          "candidates (0: off)"},
    )
    rerank: Path | None = field(default=None, metadata={"help": "cross-encoder directory that rescores the top units"})
    rerank_depth: int = field(
        default=10,
        metadata={"help": "units the reranker rescores (10: it reorders the top 10 and never changes which units "
                          "they are, so function Acc@10 cannot fall; 30 measured lower)"},
    )
    rerank_query: str = field(
        default="issue",
        metadata={"help": "what the reranker reads as the query: issue (its text, cut to the reranker's query length) "
                          "or code (its title + code identifiers and paths, the BM25 side's query)"},
    )
    rerank_fusion: float | None = field(
        default=None,
        metadata={"help": "weight of the first stage's order fused (RRF) with the reranker's; 0: reranker order alone "
                          "(default: the combination stored in the reranker directory, else 0)"},
    )
    model: str = field(default="default", metadata={"help": "embedding model for indexes built here"})
    cache_dir: Path | None = field(default=None, metadata={"help": "where revision indexes and embeddings are cached (default $CODEHUNT_CACHE or ~/.cache/codehunt)"})

    def __post_init__(self) -> None:
        checks = [
            (self.level in LEVELS, f"level must be one of {', '.join(LEVELS)}, got {self.level!r}"),
            (self.mode in ("dense", "bm25", "hybrid"), f"mode must be dense, bm25 or hybrid, got {self.mode!r}"),
            (self.dense_query in DENSE_QUERIES, f"dense_query must be one of {', '.join(DENSE_QUERIES)}, got {self.dense_query!r}"),
            (self.bm25_query in BM25_QUERIES, f"bm25_query must be one of {', '.join(BM25_QUERIES)}, got {self.bm25_query!r}"),
            (self.rerank_query in RERANK_QUERIES, f"rerank_query must be one of {', '.join(RERANK_QUERIES)}, got {self.rerank_query!r}"),
            (self.name_source in ("all", "prose"), f"name_source must be all or prose, got {self.name_source!r}"),
            (self.file_aggregation in FILE_AGGREGATIONS, f"file_aggregation must be max or rrf, got {self.file_aggregation!r}"),
            (self.k >= 1 and self.depth >= 1 and self.rerank_depth >= 0 and (self.rerank_fusion or 0.0) >= 0,
             "k and depth must be >= 1, rerank_depth and rerank_fusion >= 0"),
            (self.history_weight >= 0 and self.history_commits >= 1 and self.history_depth >= 1 and self.history_max_files >= 1,
             "history_weight must be >= 0 and history_commits, history_depth, history_max_files >= 1"),
            (self.structure_weight >= 0 and self.structure_top >= 1, "structure_weight must be >= 0 and structure_top >= 1"),
            (self.constructor_weight >= 0, "constructor_weight must be >= 0"),
            (self.module_weight >= 0, "module_weight must be >= 0"),
            (self.passage_chars >= 50 and self.max_passages >= 1, "passage_chars must be >= 50 and max_passages >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise BadInputError(message)


def candidate_filter(config: LocalizeConfig) -> Callable[["Chunk"], bool]:
    """The chunks ``config`` lets take a rank: not a test file (:func:`codehunt.index.paths.is_test_path`) unless
    ``include_tests``, and no path ``exclude`` names (an index given with ``--index`` may hold both)."""

    def keep(chunk: "Chunk") -> bool:
        if not config.include_tests and is_test_path(chunk.path):
            return False
        return not config.exclude or not is_excluded(chunk.path, config.exclude)

    return keep
