"""A sequence of chunks drawn by row from other sequences, resolved when read.

Why: an update keeps almost every chunk of the index it replaces. Copying 85k parsed chunks (or parsing them from
``corpus.jsonl`` first, 1.8 s for the standard library) to change one file costs time in proportion to the corpus;
:class:`ChunkRows` records, per row, which base sequence and which row of it holds the chunk, and reads it from
there on access. Its :meth:`ChunkRows.runs` give the maximal stretches of consecutive rows of one base, so a
writer can copy a stretch of an old ``corpus.jsonl`` as one slice of bytes (:meth:`ChunkFile.raw_lines`).
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np

from codehunt.index.chunk_file import ChunkSequence
from codehunt.index.types import Chunk


class ChunkRows(ChunkSequence):
    """Row ``i`` is ``bases[base_of[i]][row_of[i]]``; built with :meth:`concat`, which flattens nested ones."""

    def __init__(self, bases: list[Sequence[Chunk]], base_of: np.ndarray, row_of: np.ndarray):
        if base_of.shape != row_of.shape:
            raise ValueError(f"base_of {base_of.shape} and row_of {row_of.shape} differ")
        self.bases = bases
        self.base_of = base_of  # (n,) int32
        self.row_of = row_of  # (n,) int64

    @classmethod
    def concat(cls, parts: Iterable[tuple[Sequence[Chunk], np.ndarray | range]]) -> "ChunkRows":
        """The rows ``rows`` of each ``sequence`` in turn; a part that is itself a ChunkRows is resolved to its bases."""
        bases: list[Sequence[Chunk]] = []
        number: dict[int, int] = {}  # id(base) -> its number in ``bases``
        base_pieces: list[np.ndarray] = []
        row_pieces: list[np.ndarray] = []

        def base_number(base: Sequence[Chunk]) -> int:
            if id(base) not in number:
                number[id(base)] = len(bases)
                bases.append(base)
            return number[id(base)]

        for sequence, rows in parts:
            rows = np.asarray(rows, dtype=np.int64)
            if len(rows) == 0:
                continue
            if isinstance(sequence, ChunkRows):
                remap = np.array([base_number(base) for base in sequence.bases], dtype=np.int32)
                base_pieces.append(remap[sequence.base_of[rows]])
                row_pieces.append(sequence.row_of[rows])
            else:
                base_pieces.append(np.full(len(rows), base_number(sequence), dtype=np.int32))
                row_pieces.append(rows)
        if not base_pieces:
            return cls([], np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64))
        return cls(bases, np.concatenate(base_pieces), np.concatenate(row_pieces))

    def __len__(self) -> int:
        return len(self.base_of)

    def _chunk(self, position: int) -> Chunk:
        return self.bases[int(self.base_of[position])][int(self.row_of[position])]

    def __iter__(self) -> Iterator[Chunk]:
        for base, row in zip(self.base_of.tolist(), self.row_of.tolist()):
            yield self.bases[base][row]

    def runs(self) -> Iterator[tuple[Sequence[Chunk], int, int]]:
        """``(base, start, end)``: maximal stretches of consecutive rows ``start..end-1`` of one base, in order."""
        if len(self) == 0:
            return
        breaks = np.flatnonzero((np.diff(self.base_of) != 0) | (np.diff(self.row_of) != 1)) + 1
        starts = np.concatenate([[0], breaks]).tolist()
        ends = np.concatenate([breaks, [len(self)]]).tolist()
        for start, end in zip(starts, ends):
            yield self.bases[int(self.base_of[start])], int(self.row_of[start]), int(self.row_of[start]) + end - start
