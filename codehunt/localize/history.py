"""History as evidence: earlier commits whose messages resemble the issue vote for the files they changed.

This is the "similar bug reports" signal of classical bug localization (BugLocator, Zhou et al.,
ICSE 2012): a bug in a file tends to be reported again in similar words, and the commits that
fixed the earlier reports say where. Here the earlier reports are the repository's own commit
messages. For an issue localized at revision ``R``:

1. read the last ``history_commits`` non-merge commits that are ancestors of ``R`` (``R``
   itself left out, so nothing at or after the revision, in particular not the fix, is read),
   each with the files it changed; commits touching more than ``history_max_files`` files
   (mass reformatting, renames, releases) are skipped;
2. rank those messages by BM25 against the issue's words and keep the best ``history_depth``;
3. every kept commit gives each file it changed ``similarity / files changed`` (BugLocator's
   SimiScore), similarity being its BM25 score divided by the best one; a file's vote is the
   sum, divided by the largest vote, so it lies in [0, 1].

The ranking adds ``history_weight`` x vote, in units of one RRF list's top rank, to every
candidate unit of a voted file (``codehunt.localize.ranking``). No training, no model.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codehunt.localize.config import LocalizeConfig

from codehunt.index.git import git
from codehunt.index.tokenize import tokenize_code

RECORD, FIELD = "\x1e", "\x1f"


@dataclass(frozen=True)
class PastCommit:
    """One commit before the revision being localized: its message and the files it changed."""

    sha: str
    message: str
    files: tuple[str, ...]


def read_history(repo: Path, commit: str, max_commits: int, max_files: int) -> list[PastCommit]:
    """Of the newest ``max_commits`` non-merge ancestors of ``commit`` (``commit`` excluded), those changing 1..``max_files`` files.

    The window counts skipped commits too, so it spans the same stretch of history whatever they touch.
    """
    output = git(
        ["log", "--no-merges", f"--max-count={max_commits + 1}", "--name-only", "--no-renames",
         f"--format={RECORD}%H{FIELD}%B{FIELD}", commit],
        Path(repo),
    ).decode("utf-8", "replace")
    commits = []
    for record in output.split(RECORD):
        if not record.strip():
            continue
        sha, message, names = (record.split(FIELD, 2) + ["", ""])[:3]
        if sha == commit or sha.startswith(commit) or commit.startswith(sha):
            continue
        files = tuple(line.strip() for line in names.splitlines() if line.strip())
        if 1 <= len(files) <= max_files:
            commits.append(PastCommit(sha=sha, message=message.strip(), files=files))
    return commits[:max_commits]


def file_votes(issue: str, commits: list[PastCommit], depth: int, known_paths: set[str] | None = None) -> dict[str, float]:
    """Per file, the SimiScore vote of the ``depth`` commits most similar to ``issue``, scaled to a maximum of 1.

    ``known_paths``, when given, keeps only votes for files that exist at the revision (paths
    deleted or renamed since the old commit cannot be ranked).
    """
    from codehunt.index.bm25 import BM25Index

    documents = [tokenize_code(c.message) for c in commits]
    query = tokenize_code(issue)
    if not commits or not query or not any(documents):
        return {}
    index = BM25Index.build(documents)
    ids, scores = index.top_k(query, depth)
    if len(scores) == 0 or scores[0] <= 0:
        return {}
    votes: dict[str, float] = defaultdict(float)
    for doc_id, score in zip(ids, scores):
        if score <= 0:
            break
        files = [f for f in commits[int(doc_id)].files if known_paths is None or f in known_paths]
        for path in files:
            votes[path] += float(score / scores[0]) / len(commits[int(doc_id)].files)
    if not votes:
        return {}
    top = max(votes.values())
    return {path: vote / top for path, vote in votes.items()}


def history_votes(repo: Path, commit: str, issue: str, config: "LocalizeConfig", known_paths: set[str]) -> dict[str, float]:
    """The file votes of ``config``'s history settings for ``issue`` at ``repo``@``commit`` ({} when switched off)."""
    if config.history_weight <= 0:
        return {}
    commits = read_history(repo, commit, config.history_commits, config.history_max_files)
    return file_votes(issue, commits, config.history_depth, known_paths)
