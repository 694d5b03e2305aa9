"""Issue -> fixed function pairs from SWE-bench-style instances (Jimenez et al., 2024).

Each instance carries ``repo`` (``owner/name``), ``base_commit``, ``problem_statement`` and
the gold ``patch``. The positives are the functions the patch edits, taken at
``base_commit``: what a localiser searching the unfixed repository should find. Functions
changed only by insertions are found on the patched side (the patch is applied to the base
text in memory) and mapped back to their base version by qualified name; functions the
patch creates have no base version and are not positives.

Repositories are looked up as ``REPOS/owner__name`` (a work tree or a bare clone, the
layout SWE-bench harnesses use); nothing is checked out.
"""
from __future__ import annotations

import logging
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from codehunt.index.chunking import ChunkConfig
from codehunt.index.corpus import decode_source
from codehunt.index.errors import BadInputError
from codehunt.index.sources import SourceFile
from codehunt.index.storage import read_jsonl_objects
from codehunt.index.types import Chunk
from codehunt.mining.changed import changed_functions, functions_in, is_source_path
from codehunt.mining.diffs import PatchError, apply_file_diff, parse_unified_diff
from codehunt.mining.gitio import BlobReader, is_git_repository
from codehunt.mining.config import PairsConfig
from codehunt.mining.records import Pair, make_positive_id

log = logging.getLogger(__name__)

REQUIRED_FIELDS = ("repo", "base_commit", "problem_statement", "patch")


def repo_directory(repos: Path, repo: str) -> Path:
    """``owner/name`` -> ``repos/owner__name`` (also accepts ``repos/owner__name.git``)."""
    base = repos / repo.replace("/", "__")
    if not base.exists() and base.with_name(base.name + ".git").exists():
        return base.with_name(base.name + ".git")
    return base


def read_instances(path: Path, required: tuple[str, ...] = REQUIRED_FIELDS) -> Iterator[dict[str, Any]]:
    """SWE-bench instances from a JSONL file, each checked for the ``required`` string fields."""
    for number, record in read_jsonl_objects(path, f"a SWE-bench instance ({', '.join(required)})"):
        missing = [name for name in required if not isinstance(record.get(name), str)]
        if missing:
            raise BadInputError(f"{path}:{number}: a SWE-bench instance needs {', '.join(missing)}")
        yield record


def patch_positives(blobs: BlobReader, base_commit: str, patch: str, chunk_config: ChunkConfig, dropped: Counter[str]) -> list[Chunk]:
    """The functions ``patch`` edits, as they are at ``base_commit``."""
    positives: dict[str, Chunk] = {}
    for diff in parse_unified_diff(patch):
        if diff.binary or diff.old_path is None or not is_source_path(diff.old_path):
            continue  # new files and non-code files hold no base function
        data = blobs.read(base_commit, diff.old_path)
        if data is None:
            dropped["file-missing-at-base"] += 1
            continue
        old_chunks = functions_in(diff.old_path, data, chunk_config)
        new_chunks: list[Chunk] = []
        if diff.new_path is not None and is_source_path(diff.new_path):
            text, skip = decode_source(SourceFile(diff.old_path, data, len(data)))
            if text is not None and skip is None:
                try:
                    patched = apply_file_diff(text, diff)
                except PatchError as exc:
                    log.warning("patch does not apply at %s: %s", base_commit[:12], exc)
                    dropped["patch-does-not-apply"] += 1
                    continue
                new_chunks = functions_in(diff.new_path, patched.encode("utf-8"), chunk_config)
        changed = changed_functions(old_chunks, new_chunks, diff.removed_lines(), diff.added_lines())
        for chunk in changed.old:
            positives.setdefault(chunk.doc_id, chunk)
    return list(positives.values())


def issue_pairs(
    instances: Path, repos: Path, config: PairsConfig, dropped: Counter[str], show_progress: bool = False
) -> Iterator[Pair]:
    """Pairs (problem statement, edited function at base_commit) for every instance whose repo is present."""
    if not repos.is_dir():
        raise BadInputError(f"--repos {repos} is not a directory: pass a folder holding owner__name git repositories")
    chunk_config = ChunkConfig()
    missing_repos: set[str] = set()
    for instance in read_instances(instances):
        directory = repo_directory(repos, instance["repo"])
        if not is_git_repository(directory):
            if instance["repo"] not in missing_repos:
                log.warning("no git repository for %s at %s: its instances are skipped", instance["repo"], directory)
                missing_repos.add(instance["repo"])
            dropped["repo-missing"] += 1
            continue
        base = instance["base_commit"]
        with BlobReader(directory) as blobs:
            positives = patch_positives(blobs, base, instance["patch"], chunk_config, dropped)
        if not positives:
            dropped["no-function-edited"] += 1
            continue
        query = instance["problem_statement"].strip()
        for chunk in positives:
            if len(chunk.text) > config.max_code_chars:
                dropped["long-code"] += 1
                continue
            yield Pair(
                query=query,
                positive=textwrap.dedent(chunk.text),
                positive_id=make_positive_id(chunk.doc_id, repo=directory.name.removesuffix(".git"), rev=base),
                source="issue",
                repo=instance["repo"],
                rev=base,
                path=chunk.path,
                qualname=chunk.qualname,
            )
