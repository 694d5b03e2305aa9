"""Commit message -> changed function pairs from a git history.

For each non-merge commit the query is its message (subject and body, trailers such as
``Signed-off-by`` removed) and the positives are the functions whose lines the diff
touches: the parent's version for removed or changed code, the commit's version for
functions it adds. Test code is left out (``--include-tests`` keeps it): localization never
ranks it, and without the rule 44% of the pairs mined from 27 repositories were tests.
Commits that teach nothing about code meaning are skipped: reverts, version bumps,
merge-style messages, one-word messages, formatting-only changes (the same code once
whitespace is removed) and huge commits (too many files, lines or functions: mass renames
and vendored imports).
"""
from __future__ import annotations

import logging
import textwrap
import re
from collections import Counter
from pathlib import Path
from typing import Iterator

from codehunt.index.chunking import ChunkConfig
from codehunt.index.errors import BadInputError
from codehunt.index.types import Chunk
from codehunt.mining.changed import changed_functions, functions_in, is_source_path
from codehunt.mining.diffs import FileDiff, parse_unified_diff
from codehunt.mining.docstring_pairs import is_test_code
from codehunt.mining.gitio import BlobReader, Commit, is_git_repository, iter_commits
from codehunt.mining.config import PairsConfig
from codehunt.mining.records import Pair, make_positive_id, source_name

log = logging.getLogger(__name__)

_TRAILER = re.compile(
    r"^\s*(?:signed-off-by|co-authored-by|reviewed-by|acked-by|tested-by|reported-by|suggested-by|helped-by|"
    r"cc|change-id|reviewed-on|bug|fixes|closes|resolves|see-also|pr-url|git-svn-id|"
    r"differential revision|pull request resolved)\s*:.*$|^\s*\(cherry picked from commit [0-9a-f]+\)\s*$",
    re.IGNORECASE,
)
_REVERT = re.compile(r"^\s*revert\b|this reverts commit [0-9a-f]{7,}", re.IGNORECASE | re.MULTILINE)
_VERSION_BUMP = re.compile(
    r"^\W*(?:(?:bump(?:ed|s|ing)?|release[ds]?|releasing|prepar(?:e|ing)(?: for)? release|version|tag(?:ged)?)\b.*\d+\.\d+"
    r"|(?:bump|update|increment)\w*\s+(?:the\s+)?(?:version|changelog)\b"
    r"|v?\d+\.\d+(?:\.\d+)*(?:[-.+]?\w+)?\W*$)",
    re.IGNORECASE,
)
_MERGE_MESSAGE = re.compile(r"^\s*merge (?:branch|pull request|remote-tracking branch|tag)\b", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def clean_message(message: str) -> str:
    """Subject and body with trailers and cherry-pick notes removed; paragraphs joined by newlines."""
    lines = [line for line in message.strip().split("\n") if not _TRAILER.match(line)]
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", "\n".join(lines))]
    return "\n".join(p for p in paragraphs if p)


def message_problem(message: str, config: PairsConfig) -> str | None:
    """Why a commit message is not a usable query (None when it is)."""
    subject = message.strip().split("\n", 1)[0]
    if _REVERT.search(message):
        return "revert"
    if _MERGE_MESSAGE.match(subject):
        return "merge-message"
    if _VERSION_BUMP.match(subject):
        return "version-bump"
    if len(re.findall(r"[A-Za-z0-9]+", message)) < config.min_message_words:
        return "short-message"
    return None


def is_formatting_only(files: list[FileDiff]) -> bool:
    """True when the commit changes code but the removed and added code are equal once every
    whitespace character is removed (re-indentation, line wrapping, trailing spaces)."""
    removed_all, added_all = [], []
    for diff in files:
        removed, added = diff.changed_texts()
        removed_all.append(_SPACE.sub("", "".join(removed)))
        added_all.append(_SPACE.sub("", "".join(added)))
    removed_code, added_code = "".join(removed_all), "".join(added_all)
    return bool(removed_code or added_code) and removed_code == added_code


def commit_positives(commit: Commit, files: list[FileDiff], blobs: BlobReader, chunk_config: ChunkConfig) -> list[tuple[str, Chunk]]:
    """(revision, function chunk) for every function the commit changes."""
    positives: list[tuple[str, Chunk]] = []
    for diff in files:
        if diff.binary or not (is_source_path(diff.old_path) or is_source_path(diff.new_path)):
            continue
        old_chunks: list[Chunk] = []
        new_chunks: list[Chunk] = []
        if diff.old_path and commit.parent and is_source_path(diff.old_path):
            old_chunks = functions_in(diff.old_path, blobs.read(commit.parent, diff.old_path), chunk_config)
        if diff.new_path and is_source_path(diff.new_path):
            new_chunks = functions_in(diff.new_path, blobs.read(commit.sha, diff.new_path), chunk_config)
        changed = changed_functions(old_chunks, new_chunks, diff.removed_lines(), diff.added_lines())
        positives.extend((commit.parent or commit.sha, chunk) for chunk in changed.old)
        positives.extend((commit.sha, chunk) for chunk in changed.new)
    return positives


def commit_pairs(repo: Path, config: PairsConfig, dropped: Counter[str], show_progress: bool = False) -> Iterator[Pair]:
    """Pairs from every non-merge commit reachable from ``config.rev`` (default HEAD), newest first."""
    if not is_git_repository(repo):
        raise BadInputError(f"{repo} is not a git repository: commit pairs need a work tree or a bare repository")
    name = source_name(repo)
    chunk_config = ChunkConfig()
    commits = 0
    with BlobReader(repo) as blobs:
        for commit in iter_commits(repo, config.rev or "HEAD", config.max_commits):
            commits += 1
            problem = message_problem(commit.message, config)
            if problem is None:
                files = [diff for diff in parse_unified_diff(commit.diff) if not diff.binary]
                changed_lines = sum(len(d.removed_lines()) + len(d.added_lines()) for d in files)
                if len(files) > config.max_files_per_commit or changed_lines > config.max_changed_lines:
                    problem = "huge-commit"
                elif is_formatting_only(files):
                    problem = "formatting-only"
            if problem is not None:
                dropped[problem] += 1
                continue
            positives = commit_positives(commit, files, blobs, chunk_config)
            if not positives:
                dropped["no-function-changed"] += 1
                continue
            if len(positives) > config.max_functions_per_commit:
                dropped["huge-commit"] += 1
                continue
            query = clean_message(commit.message)
            words = query.split(" ")
            if len(words) > config.max_query_words:
                query = " ".join(words[: config.max_query_words])
            for rev, chunk in positives:
                if not config.include_tests and is_test_code(chunk.path, chunk.qualname):
                    dropped["test-code"] += 1  # the commit's size counted them; a test is not what a fix localizes
                    continue
                if len(chunk.text) > config.max_code_chars:
                    dropped["long-code"] += 1
                    continue
                yield Pair(
                    query=query,
                    positive=textwrap.dedent(chunk.text),
                    positive_id=make_positive_id(chunk.doc_id, rev=rev),
                    source="commit",
                    repo=name,
                    rev=rev,
                    path=chunk.path,
                    qualname=chunk.qualname,
                )
    log.info("commit pairs: read %d commits of %s", commits, repo)
