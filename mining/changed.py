"""Which functions a diff changes, on the old side and the new side of one file.

A function is changed when a removed line falls inside it on the old side, or an added
line inside it on the new side. A function changed only by insertions is matched back to
its old version by qualified name, so the positive is the code as it was before the change
(what a searcher looking for "the code to fix" sees); a function that did not exist before
is only available on the new side.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from codehunt.index.chunking import ChunkConfig, chunk_source, language_for_path
from codehunt.index.corpus import decode_source
from codehunt.index.sources import SourceFile, is_vendored, looks_generated
from codehunt.index.types import Chunk

FUNCTION_KINDS = frozenset({"function", "method"})


def is_source_path(path: str | None) -> bool:
    """A file the chunker can cut into functions, outside vendored directories."""
    return bool(path) and language_for_path(path or "") is not None and not is_vendored(path or "")


def functions_in(path: str, data: bytes | None, config: ChunkConfig = ChunkConfig()) -> list[Chunk]:
    """The function and method chunks of one file's bytes ([] for binary, non-UTF-8 or generated files)."""
    if data is None:
        return []
    text, skip = decode_source(SourceFile(path, data, len(data)))
    if skip is not None or text is None or looks_generated(text):
        return []
    return [chunk for chunk in chunk_source(path, text, config).chunks if chunk.kind in FUNCTION_KINDS]


def _overlaps(chunk: Chunk, lines: set[int]) -> bool:
    return any(chunk.start_line <= line <= chunk.end_line for line in lines)


def _occurrence_keys(chunks: Iterable[Chunk]) -> dict[str, tuple[str, int]]:
    """doc_id -> (qualname, n-th definition of that name): two ``def f`` in one file stay apart."""
    seen: dict[str, int] = {}
    keys: dict[str, tuple[str, int]] = {}
    for chunk in sorted(chunks, key=lambda c: c.start_line):
        number = seen.get(chunk.qualname, 0)
        seen[chunk.qualname] = number + 1
        keys[chunk.doc_id] = (chunk.qualname, number)
    return keys


@dataclass(frozen=True)
class ChangedFunctions:
    """Changed functions of one file: ``old`` at the parent/base revision, ``new`` only where
    the function has no old version (it was added)."""

    old: list[Chunk]
    new: list[Chunk]


def changed_functions(old_chunks: list[Chunk], new_chunks: list[Chunk], removed: set[int], added: set[int]) -> ChangedFunctions:
    """Functions touched by ``removed`` (old line numbers) or ``added`` (new line numbers)."""
    old_keys = _occurrence_keys(old_chunks)
    old_by_key = {old_keys[chunk.doc_id]: chunk for chunk in old_chunks}
    new_keys = _occurrence_keys(new_chunks)
    chosen: dict[str, Chunk] = {chunk.doc_id: chunk for chunk in old_chunks if _overlaps(chunk, removed)}
    added_only: list[Chunk] = []
    for chunk in new_chunks:
        if not _overlaps(chunk, added):
            continue
        before = old_by_key.get(new_keys[chunk.doc_id])
        if before is not None:
            chosen.setdefault(before.doc_id, before)
        else:
            added_only.append(chunk)
    old = sorted(chosen.values(), key=lambda c: c.start_line)
    return ChangedFunctions(old, added_only)
