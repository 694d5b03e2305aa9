"""``mine_pairs``: one entry point for every pair source, and the steps every source shares.

Sources (each a module that yields :class:`~codehunt.mining.records.Pair` records):

* ``docstring``: docstring -> function, the CodeSearchNet construction (Husain et al., 2019);
* ``commits``: commit message -> the functions the commit changed;
* ``issues``: SWE-bench problem statement -> the functions its gold patch edits;
* ``file``: an existing JSONL pair file or BEIR folder.

Shared steps, in order: de-duplication, ``--limit``, the optional web query style, and one
atomic write of ``pairs.jsonl``. The record and the config live below this module
(``mining.records``, ``mining.config``), so the sources never import it; ``Pair``,
``PairsConfig`` and ``read_pairs`` are re-exported here for callers of ``mine_pairs``.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from codehunt.index.errors import BadInputError
from codehunt.mining.config import PAIR_KINDS, PairsConfig, config_to_json
from codehunt.mining.query_style import query_language, styled_query
from codehunt.mining.records import PAIR_FIELDS, Pair, make_positive_id, normalize_whitespace, read_pairs, text_key

__all__ = [
    "PAIR_FIELDS", "PAIR_KINDS", "MinePairsResult", "Pair", "PairsConfig", "config_to_json", "dedupe_pairs",
    "detect_kind", "make_positive_id", "mine_pairs", "normalize_whitespace", "read_pairs", "text_key",
]

if TYPE_CHECKING:
    from codehunt.mining.exclusions import Exclusions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MinePairsResult:
    """What ``mine_pairs`` wrote."""

    output: Path
    kind: str
    pairs: int
    dropped: dict[str, int]  # reason -> count (trivial-query, duplicate, huge-commit, ...)


def dedupe_pairs(pairs: Iterable[Pair], dropped: Counter[str] | None = None) -> Iterator[Pair]:
    """Drop repeated pairs, keeping the first.

    Docstring pairs repeat when code is copied: the same function would be a positive and
    an in-batch negative at once, so they are keyed by their positive alone. Commit, issue
    and file pairs legitimately share a positive (one function fixed by two issues), so
    they are keyed by (query, positive). Texts are compared after whitespace normalisation.
    """
    seen: set[str] = set()
    for pair in pairs:
        key = text_key(pair.positive) if pair.source == "docstring" else text_key(f"{pair.query}\0{pair.positive}")
        if key in seen:
            if dropped is not None:
                dropped["duplicate"] += 1
            continue
        seen.add(key)
        yield pair


def detect_kind(source: Path) -> str:
    """Guess the pair source from the path: a BEIR folder or JSONL is a pair file, unless its
    records carry ``problem_statement`` and ``patch`` (SWE-bench); a directory is a codebase."""
    from codehunt.index.beir import is_beir_folder

    if source.is_dir():
        return "file" if is_beir_folder(source) else "docstring"
    if source.is_file() and source.suffix in (".jsonl", ".json"):
        with source.open(encoding="utf-8") as handle:
            first = next((line for line in handle if line.strip()), "")
        try:
            record = json.loads(first) if first else {}
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{source}:1 is not JSON ({exc}); pass a JSONL file") from exc
        if isinstance(record, dict) and "problem_statement" in record and "patch" in record:
            return "issues"
        return "file"
    raise BadInputError(f"{source} is neither a directory nor a .jsonl file: pass a codebase, a pair file or SWE-bench JSONL")


def mine_pairs(config: PairsConfig, show_progress: bool = False) -> MinePairsResult:
    """Mine pairs from ``config.source`` and write them to ``config.output`` atomically."""
    from codehunt.index.storage import write_jsonl_atomic

    source = Path(config.source)
    if not source.exists():
        raise BadInputError(f"{source} does not exist: pass a codebase, a git repository, a pair file or SWE-bench JSONL")
    kind = detect_kind(source) if config.kind == "auto" else config.kind
    dropped: Counter[str] = Counter()
    exclusions = None
    if config.exclusions is not None:
        from codehunt.mining.exclusions import Exclusions

        exclusions = Exclusions.read(Path(config.exclusions))
        exclusions.check_source(source)
    if kind == "docstring":
        from codehunt.mining.docstring_pairs import docstring_pairs

        pairs: Iterable[Pair] = docstring_pairs(source, config, dropped, show_progress)
    elif kind == "commits":
        from codehunt.mining.commit_pairs import commit_pairs

        pairs = commit_pairs(source, config, dropped, show_progress)
    elif kind == "issues":
        from codehunt.mining.issue_pairs import issue_pairs

        if config.repos is None:
            raise BadInputError("issue pairs need --repos DIR, a folder of owner__name git repositories")
        pairs = issue_pairs(source, Path(config.repos), config, dropped, show_progress)
    else:
        from codehunt.mining.pair_files import load_pair_file

        pairs = load_pair_file(source, config, dropped)
    if exclusions is not None:
        pairs = drop_excluded(pairs, exclusions, dropped)
    kept = _limit(dedupe_pairs(pairs, dropped) if config.dedupe else pairs, config.limit)
    if config.query_style != "as-is":
        kept = styled_pairs(kept, config.query_style, config.query_language)
    count = write_jsonl_atomic(Path(config.output), (pair.to_json() for pair in kept))
    log.info("wrote %d %s pairs to %s (dropped: %s)", count, kind, config.output, dict(dropped))
    return MinePairsResult(Path(config.output), kind, count, dict(sorted(dropped.items())))


def drop_excluded(pairs: Iterable[Pair], exclusions: "Exclusions", dropped: Counter[str]) -> Iterator[Pair]:
    """Pairs whose project is not excluded and whose positive is no copy of an evaluation document; each dropped
    one counts under ``excluded-project`` or ``evaluation-copy`` in the report."""
    for pair in pairs:
        reason = exclusions.pair_reason(pair)
        if reason is not None:
            dropped["evaluation-copy" if reason.startswith("copy") else "excluded-project"] += 1
            continue
        yield pair


def styled_pairs(pairs: Iterable[Pair], query_style: str, language: str = "") -> Iterator[Pair]:
    """Each query rewritten in ``query_style`` (``mining.query_style``: web, identifier or mixed) naming
    ``language``, else the pair's own language (its file's extension), else python; the positive's id
    picks the form."""
    for pair in pairs:
        named = language or query_language(path=pair.path)
        yield replace(pair, query=styled_query(pair.query, pair.qualname, pair.positive_id, query_style, language=named))


def _limit(pairs: Iterable[Pair], limit: int | None) -> Iterator[Pair]:
    for number, pair in enumerate(pairs):
        if limit is not None and number >= limit:
            return
        yield pair
