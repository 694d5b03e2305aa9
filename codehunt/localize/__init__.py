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
3. **Fusion** by reciprocal rank (Cormack et al., 2009), test files
   (:func:`codehunt.index.paths.is_test_path`) left out of each list first, so they never take a rank.
4. **Evidence boosts.** A unit named by a traceback frame (same file, same function), a unit
   in a file the issue names (path, GitHub link or dotted module), and a unit whose name the
   issue uses as an identifier can get extra score, in units of one RRF list's top rank
   (``1 / (rrf_k + 1)``); the name boost is divided by how many units share the name, so
   ``__init__`` or ``get`` count for little. Units named by a frame (or by name inside a
   named file) join the candidates even if neither retriever found them. Measured on 116 dev
   instances, only the frame boost is (slightly) positive; path and name boosts lower file
   Acc@1 (the issue names the API it calls more often than the code at fault, and the
   identifier BM25 query already rewards mentions), so their default weight is 0.
   **History** (optional, ``history_weight``): earlier commits whose messages resemble the issue
   vote for the files they changed (BugLocator; :mod:`codehunt.localize.history`), in the same units.
   **Structure** (optional, ``structure_weight``): the callers and callees of the best candidates, by a
   name-based call graph, share their rank (:mod:`codehunt.localize.structure`), in the same units; and
   (``constructor_weight``) the best candidate methods vote for their class and its ``__init__``, and
   (``module_weight``) every best candidate votes for its file's module-level unit (imports, constants).
5. **Reranking** (optional): a cross-encoder rescores the top ``rerank_depth`` units (default 10: the
   top 10 are reordered, never replaced, so function Acc@10 is the first stage's), reading the issue
   (``rerank_query``: its text, or its identifiers + title).
6. **Files** are ranked from the unit ranking: ``max`` (a file's best unit, i.e. the unit
   ranking de-duplicated by file, the CoRNStack/SweRank convention) or ``rrf`` (a file
   scores the sum of ``1 / (file_rrf_k + rank)`` over its units, so a file with several
   good units rises).

Gold matching (``resolve_gold``) is documented there.

Modules: ``config`` (:class:`LocalizeConfig`, which paths may rank), ``units`` (the index's unit table and
which files an issue names), ``ranking`` (steps 1-6), ``boosts`` (step 4), ``history`` (step 4's commit
votes), ``structure`` (step 4's call-graph votes), ``revisions`` (an index per commit, cached), ``issue`` (read, localize and print one issue), ``gold``, ``metrics`` and ``evaluate``
(scoring on SWE-bench-style instances). Every public name is importable from ``codehunt.localize``.
"""
from __future__ import annotations

from codehunt.index.paths import is_test_path
from codehunt.localize.boosts import Boosts, evidence_boosts, framed_unit
from codehunt.localize.config import (
    BM25_QUERIES,
    DENSE_QUERIES,
    FILE_AGGREGATIONS,
    LEVELS,
    VENDORED_GLOBS,
    LocalizeConfig,
    candidate_filter,
)
from codehunt.localize.evaluate import (
    InstanceResult,
    LocalizationReport,
    evaluate_localization,
    read_instances,
    repo_directory,
    score_instance,
    write_per_instance,
)
from codehunt.localize.gold import Gold, GoldItem, read_gold, resolve_gold
from codehunt.localize.issue import Localization, format_localization, localize_issue, localize_with_index, read_issue
from codehunt.localize.metrics import FILE_KS, FUNCTION_KS, aggregate_metrics, localization_metrics
from codehunt.localize.ranking import IssueRanking, bm25_query, bm25_ranking, dense_ranking, rank_files, rank_issue, rerank_units
from codehunt.localize.revisions import (
    INDEX_KEY_VERSION,
    cache_root,
    files_at,
    index_config_for,
    make_encoder,
    revision_index,
    revision_index_path,
)
from codehunt.localize.units import UnitTable

__all__ = [
    "BM25_QUERIES", "DENSE_QUERIES", "FILE_AGGREGATIONS", "FILE_KS", "FUNCTION_KS", "INDEX_KEY_VERSION", "LEVELS",
    "VENDORED_GLOBS", "Boosts", "Gold", "GoldItem", "InstanceResult", "IssueRanking", "Localization", "LocalizationReport",
    "LocalizeConfig", "UnitTable", "aggregate_metrics", "bm25_query", "bm25_ranking", "cache_root", "candidate_filter",
    "dense_ranking", "evaluate_localization", "evidence_boosts", "files_at", "format_localization", "framed_unit",
    "index_config_for", "is_test_path", "localization_metrics", "localize_issue", "localize_with_index",
    "make_encoder", "rank_files", "rank_issue", "read_gold", "read_instances", "read_issue", "repo_directory",
    "rerank_units", "resolve_gold", "revision_index", "revision_index_path", "score_instance", "write_per_instance",
]
