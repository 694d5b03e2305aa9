"""The ``Pair`` record, ``pairs.jsonl`` IO, and ``mine_pairs``: one entry point for every pair source.

A pair is a natural-language query and the code that answers it, with its provenance
(which source mined it, from which repo, revision, file and function) so a user can trace
any training example back to the code it came from. Sources:

* ``docstring``: docstring -> function, the CodeSearchNet construction (Husain et al., 2019);
* ``commits``: commit message -> the functions the commit changed;
* ``issues``: SWE-bench problem statement -> the functions its gold patch edits;
* ``file``: an existing JSONL pair file or BEIR folder (loaded through ``datasets``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

from codehunt.index.errors import BadInputError
from codehunt.index.storage import read_jsonl_objects
from codehunt.mining.query_style import QUERY_STYLES, web_style_query

log = logging.getLogger(__name__)

PAIR_FIELDS = ("query", "positive", "positive_id", "source", "repo", "rev", "path", "qualname")
PAIR_KINDS = ("auto", "docstring", "commits", "issues", "file")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Pair:
    """One training pair: a query and its positive code, with provenance."""

    query: str
    positive: str
    positive_id: str
    source: str  # docstring | commit | issue | file
    repo: str = ""
    rev: str = ""
    path: str = ""
    qualname: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Pair":
        return cls(**{name: "" if record.get(name) is None else str(record[name]) for name in PAIR_FIELDS})


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace to one space: the key for exact-duplicate checks."""
    return _WHITESPACE.sub(" ", text).strip()


def text_key(text: str) -> str:
    """sha1 of the whitespace-normalised text (duplicate detection without holding texts twice)."""
    return hashlib.sha1(normalize_whitespace(text).encode("utf-8")).hexdigest()


def make_positive_id(doc_id: str, repo: str = "", rev: str = "") -> str:
    """``repo:path::qualname@rev12``: unique across repos and revisions, no whitespace."""
    pid = doc_id
    if repo:
        pid = f"{repo}:{pid}"
    if rev:
        pid = f"{pid}@{rev[:12]}"
    return _WHITESPACE.sub("_", pid)


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


def read_pairs(path: Path) -> list[Pair]:
    """Read a ``pairs.jsonl``; every line needs at least ``query`` and ``positive``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} does not exist: pass a pairs.jsonl written by `codehunt mine pairs`")
    pairs: list[Pair] = []
    for number, record in read_jsonl_objects(path, "a pair record (string fields query and positive)"):
        if not isinstance(record.get("query"), str) or not isinstance(record.get("positive"), str):
            raise BadInputError(f"{path}:{number}: not a pair record (expected an object with string fields query and positive)")
        pair = Pair.from_json(record)
        if not pair.positive_id:
            pair = Pair(**{**pair.to_json(), "positive_id": f"pair-{number}"})
        pairs.append(pair)
    if not pairs:
        raise BadInputError(f"{path} holds no pairs")
    return pairs


@dataclass(frozen=True)
class PairsConfig:
    """``codehunt mine pairs SOURCE -o pairs.jsonl``: where pairs come from and which are kept."""

    source: Path = field(metadata={"help": "codebase dir / git repo, SWE-bench JSONL, pair JSONL or BEIR folder"})
    output: Path = field(metadata={"help": "pairs.jsonl to write"})
    kind: str = field(default="auto", metadata={"help": "auto | docstring | commits | issues | file"})
    rev: str | None = field(
        default=None,
        metadata={"help": "docstring: the revision to read; commits: a rev or range (default HEAD)"},
    )
    repos: Path | None = field(default=None, metadata={"help": "issues: folder holding owner__name git repos"})
    limit: int | None = field(default=None, metadata={"help": "stop after this many pairs"})
    dedupe: bool = field(default=True, metadata={"help": "drop pairs whose positive was already seen"})
    # docstring pairs
    min_query_words: int = field(default=3, metadata={"help": "queries with fewer words are dropped"})
    max_query_words: int = field(default=128, metadata={"help": "queries are cut to this many words"})
    min_code_lines: int = field(default=3, metadata={"help": "positives with fewer non-blank lines are dropped"})
    max_code_chars: int = field(default=20_000, metadata={"help": "positives longer than this are dropped"})
    include_tests: bool = field(default=False, metadata={"help": "keep test functions and files under test dirs"})
    include_dunder: bool = field(default=False, metadata={"help": "keep __dunder__ methods (CodeSearchNet drops them)"})
    keep_docstring: bool = field(
        default=False,
        metadata={"help": "keep the docstring in the positive (it then holds the query): for corpora that keep docstrings, as CoSQA's"},
    )
    query_style: str = field(
        default="as-is",
        metadata={"help": "as-is | web: rewrite queries as search-box queries ('python get number of items in queue'), for CoSQA-like users"},
    )
    # commit pairs
    max_commits: int | None = field(default=None, metadata={"help": "commits: read at most this many (newest first)"})
    max_files_per_commit: int = field(default=20, metadata={"help": "commits touching more files are skipped as huge"})
    max_functions_per_commit: int = field(default=10, metadata={"help": "commits changing more functions are skipped"})
    max_changed_lines: int = field(default=1000, metadata={"help": "commits changing more lines are skipped"})
    min_message_words: int = field(default=3, metadata={"help": "commit messages with fewer words are skipped"})
    # pair files
    query_field: str = field(default="query", metadata={"help": "file: the query column of a JSONL pair file"})
    positive_field: str = field(default="", metadata={"help": "file: the code column (default: positive, code or text)"})
    split: str = field(default="", metadata={"help": "file: the BEIR qrels split (default: test, else the only one)"})

    def __post_init__(self) -> None:
        if self.kind not in PAIR_KINDS:
            raise BadInputError(f"unknown pair source {self.kind!r}: choose one of {', '.join(PAIR_KINDS)}")
        if self.query_style not in QUERY_STYLES:
            raise BadInputError(f"unknown query style {self.query_style!r}: choose one of {', '.join(QUERY_STYLES)}")
        if self.limit is not None and self.limit <= 0:
            raise BadInputError(f"--limit must be positive, got {self.limit}")


@dataclass(frozen=True)
class MinePairsResult:
    """What ``mine_pairs`` wrote."""

    output: Path
    kind: str
    pairs: int
    dropped: dict[str, int]  # reason -> count (trivial-query, duplicate, huge-commit, ...)


def detect_kind(source: Path) -> str:
    """Guess the pair source from the path: a BEIR folder or JSONL is a pair file, unless its
    records carry ``problem_statement`` and ``patch`` (SWE-bench); a directory is a codebase."""
    if source.is_dir():
        if (source / "corpus.jsonl").is_file() and (source / "queries.jsonl").is_file():
            return "file"
        return "docstring"
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
    kept = _limit(dedupe_pairs(pairs, dropped) if config.dedupe else pairs, config.limit)
    if config.query_style == "web":
        kept = _web_style(kept)
    count = write_jsonl_atomic(Path(config.output), (pair.to_json() for pair in kept))
    log.info("wrote %d %s pairs to %s (dropped: %s)", count, kind, config.output, dict(dropped))
    return MinePairsResult(Path(config.output), kind, count, dict(sorted(dropped.items())))


def _web_style(pairs: Iterable[Pair]) -> Iterator[Pair]:
    """Rewrite each query as a search-box query (``mining.query_style``); the positive's id picks the form."""
    for pair in pairs:
        yield replace(pair, query=web_style_query(pair.query, pair.positive_id))


def _limit(pairs: Iterable[Pair], limit: int | None) -> Iterator[Pair]:
    for number, pair in enumerate(pairs):
        if limit is not None and number >= limit:
            return
        yield pair


def config_to_json(config: Any) -> dict[str, Any]:
    """A dataclass config as JSON-safe values (paths as strings), for reports."""
    result: dict[str, Any] = {}
    for item in fields(config):
        value = getattr(config, item.name)
        result[item.name] = str(value) if isinstance(value, Path) else value
    return result
