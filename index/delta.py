"""An update assembled by row: the new index's chunks, ids and vectors taken from the old index where they did not change.

:func:`~codehunt.index.incremental.scan_source` says, for every code chunk of the new index, which row of the old
index it is (or that it is new). This module extends that to the whole index without reading the old rows:

* summary chunks (:func:`~codehunt.index.corpus.with_summary_chunks`: one per documented unit, after every code
  chunk, in the order of the units' first chunks) are found by id. A unit's first chunk has the unit's id as its
  doc id, so a reused code row with doc id ``d`` keeps the old summary ``d~summary`` where the old index had one;
  summaries of new chunks are made from them;
* doc ids come from the old ``ids.json`` and the unit count from the old manifest, less the units of the old rows
  that are gone (parsed: they are what changed), plus the new ones;
* vectors of reused rows are the old index's vectors (exact for flat, HNSW and IVF-flat indexes); only new texts go
  through the embedding store;
* ``corpus.jsonl`` is written by copying each stretch of reused rows as one slice of the old file's bytes.

The result is what a fresh build writes, byte for byte (``tests/index/test_incremental.py``); its cost is a few
vectorised passes over the rows instead of parsing, hashing and dumping every chunk (``benchmarks/incremental_update.py``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from codehunt.index.chunk_file import ChunkFile
from codehunt.index.chunk_rows import ChunkRows
from codehunt.index.corpus import summary_chunk, summary_id
from codehunt.index.incremental import SUMMARY_SUFFIX, Scan
from codehunt.index.storage import atomic_file
from codehunt.index.types import Chunk


@dataclass(frozen=True)
class AssembledRows:
    """Every chunk of the new index (code chunks, then summaries) and, per row, the old row it is (-1: new)."""

    chunks: ChunkRows
    origins: np.ndarray  # (n,) int64
    doc_ids: list[str]
    n_code: int
    unit_count: int

    @property
    def new_rows(self) -> np.ndarray:
        return np.flatnonzero(self.origins < 0)


def assemble_rows(scan: Scan, summaries: bool = True) -> AssembledRows:
    """The rows of the index ``scan`` makes, with summaries (``summaries``: the corpus config's), ids and unit count,
    reading only the rows that changed."""
    previous = scan.previous
    if previous is None or scan.origins is None:
        raise ValueError("assemble_rows needs a scan onto a previous index")
    old_ids = previous.doc_ids
    code = scan.chunks
    origins = scan.origins
    summary_rows = {old_ids[row]: row for row in range(previous.n_code, len(old_ids)) if old_ids[row].endswith(SUMMARY_SUFFIX)}
    doc_ids: list[str] = []
    summary_parts: list[tuple[Sequence[Chunk], list[int]]] = []
    summary_origins: list[int] = []
    summary_ids: list[str] = []
    made: list[Chunk] = []  # summaries of new chunks
    seen_new: set[str] = set()
    old_rows: list[int] = []
    for number, origin in enumerate(origins.tolist()):
        if origin >= 0:
            doc_id = old_ids[origin]
            doc_ids.append(doc_id)
            row = summary_rows.get(doc_id + SUMMARY_SUFFIX)
            if row is not None:
                old_rows.append(row)
                summary_origins.append(row)
                summary_ids.append(old_ids[row])
            continue
        chunk = code[number]
        doc_ids.append(chunk.doc_id)
        if chunk.unit in seen_new:
            continue
        seen_new.add(chunk.unit)
        summary = summary_chunk(chunk) if summaries else None
        if summary is not None:
            if old_rows:
                summary_parts.append((previous.chunks, old_rows))
                old_rows = []
            summary_parts.append((made, [len(made)]))
            made.append(summary)
            summary_origins.append(-1)
            summary_ids.append(summary_id(chunk.unit))
    if old_rows:
        summary_parts.append((previous.chunks, old_rows))
    chunks = ChunkRows.concat([(code, range(len(code))), *((base, np.asarray(rows)) for base, rows in summary_parts)])
    kept = np.zeros(previous.n_code, dtype=bool)
    kept[origins[origins >= 0]] = True
    gone_units = {previous.chunks[row].unit for row in np.flatnonzero(~kept).tolist()}
    new_units = {code[number].unit for number in np.flatnonzero(origins < 0).tolist()}
    return AssembledRows(
        chunks=chunks,
        origins=np.concatenate([origins, np.asarray(summary_origins, dtype=np.int64)]),
        doc_ids=doc_ids + summary_ids,
        n_code=len(code),
        unit_count=previous.unit_count - len(gone_units) + len(new_units),
    )


def gather_vectors(rows: AssembledRows, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """(n, dim) float32: the old index's vector for each reused row, ``new`` (in row order) for the rest."""
    vectors = np.empty((len(rows.origins), old.shape[1]), dtype=np.float32)  # (n, dim)
    reused = rows.origins >= 0
    vectors[reused] = old[rows.origins[reused]]
    vectors[~reused] = new
    return vectors


def write_corpus(path: Path, chunks: Sequence[Chunk]) -> None:
    """``corpus.jsonl``: one JSON object per chunk; rows a :class:`ChunkRows` takes from a ``corpus.jsonl`` are copied
    as they were written, a stretch at a time, and the rest dumped as a fresh build dumps them."""
    with atomic_file(path, "wb") as handle:
        runs = chunks.runs() if isinstance(chunks, ChunkRows) else [(chunks, 0, len(chunks))]
        for base, start, end in runs:
            if isinstance(base, ChunkFile):
                handle.write(base.raw_lines(start, end))
                continue
            for row in range(start, end):
                handle.write(json.dumps(vars(base[row]), ensure_ascii=False).encode("utf-8"))
                handle.write(b"\n")

