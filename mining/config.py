"""``PairsConfig``, the settings of ``codehunt mine pairs``, and the JSON form configs take in reports.

Its own module so that ``mining.pairs`` (which picks a source) and the sources it picks
(``docstring_pairs``, ``commit_pairs``, ``issue_pairs``, ``pair_files``) all import it from
below instead of from each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from codehunt.index.errors import ConfigError
from codehunt.mining.query_style import QUERY_STYLES

PAIR_KINDS = ("auto", "docstring", "commits", "issues", "file")


def option(name: str) -> str:
    """``max_query_words`` -> ``--max-query-words``: config errors name the flag a user typed."""
    return "--" + name.replace("_", "-")


def require_at_least(config: Any, minimum: int, *names: str, optional: bool = False) -> None:
    """Raise ConfigError unless every field in ``names`` is >= ``minimum`` (or None, with ``optional``)."""
    for name in names:
        value = getattr(config, name)
        if optional and value is None:
            continue
        if not isinstance(value, (int, float)) or value < minimum:
            raise ConfigError(f"{option(name)} must be at least {minimum}, got {value!r}")


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
    drop_summary: bool = field(
        default=False,
        metadata={"help": "with --keep-docstring: the positive keeps its docstring without the summary paragraph the query was "
                          "taken from (so it holds no copy of its query)"},
    )
    query_style: str = field(
        default="as-is",
        metadata={"help": "as-is | web: rewrite queries as search-box queries ('python get number of items in queue'), for CoSQA-like users | "
                          "identifier: the query from the function's name ('python get optional release') | mixed: half each"},
    )
    query_language: str = field(
        default="",
        metadata={"help": "web: the language the queries name (default: each pair's own, from its file, else python)"},
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
    exclusions: Path | None = field(
        default=None,
        metadata={"help": "training_exclusions.txt: pairs from the projects it lists are dropped (and counted); "
                          "its evaluation corpora are refused"},
    )

    def __post_init__(self) -> None:
        if self.kind not in PAIR_KINDS:
            raise ConfigError(f"unknown pair source {self.kind!r}: choose one of {', '.join(PAIR_KINDS)}")
        if self.query_style not in QUERY_STYLES:
            raise ConfigError(f"unknown query style {self.query_style!r}: choose one of {', '.join(QUERY_STYLES)}")
        if self.limit is not None and self.limit <= 0:
            raise ConfigError(f"--limit must be positive, got {self.limit}")
        require_at_least(self, 0, "min_query_words", "min_code_lines", "min_message_words")
        require_at_least(self, 1, "max_query_words", "max_code_chars", "max_files_per_commit",
                         "max_functions_per_commit", "max_changed_lines")
        require_at_least(self, 1, "max_commits", optional=True)
        if self.max_query_words < self.min_query_words:
            raise ConfigError(f"--max-query-words {self.max_query_words} is below --min-query-words {self.min_query_words}")
        if self.query_language != self.query_language.strip() or " " in self.query_language:
            raise ConfigError(f"--query-language must be one word (python, ruby, c++), got {self.query_language!r}")
        if not self.query_field:
            raise ConfigError("--query-field must name a column")


def config_to_json(config: Any) -> dict[str, Any]:
    """A dataclass config as JSON-safe values (paths as strings), for reports."""
    result: dict[str, Any] = {}
    for item in fields(config):
        value = getattr(config, item.name)
        result[item.name] = str(value) if isinstance(value, Path) else value
    return result
