"""An index's ``corpus.jsonl`` as a sequence of chunks that are parsed when first read.

Why: a cold ``codehunt search --mode bm25`` over the standard library spent most of its 2 s parsing all 85k JSON
lines, though a query reads a few dozen of them (its BM25 candidates and hits). Opening the file maps it into
memory and finds its newlines (``mmap.find``, 40 ms for 245 MB); ``chunks[i]`` parses line ``i`` on first use and
keeps the result. Code that walks every chunk (the unit table, incremental builds) pays what a full parse paid
before, no more. The map keeps the file that was opened: an index republished in its place (a new directory
renamed over the old) does not change what an open index reads.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Sequence, overload

from codehunt.index.errors import CorruptIndexError
from codehunt.index.types import Chunk


class ChunkSequence(Sequence[Chunk]):
    """A read-only sequence of chunks that produces chunk ``i`` on demand (``_chunk``): indexing, slicing, equality
    with any sequence of chunks, and pickling as the list it stands for (Ray, multiprocessing)."""

    def _chunk(self, position: int) -> Chunk:
        raise NotImplementedError

    @overload
    def __getitem__(self, position: int) -> Chunk: ...

    @overload
    def __getitem__(self, position: slice) -> list[Chunk]: ...

    def __getitem__(self, position: int | slice) -> Chunk | list[Chunk]:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(f"chunk {position} of {len(self)}")
        return self._chunk(position)

    def __iter__(self) -> Iterator[Chunk]:
        for position in range(len(self)):
            yield self._chunk(position)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compared by content

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))


_SCAN_BLOCK = 64 << 20
"""Bytes compared per numpy pass when finding line ends: bounds the temporary mask however large the corpus."""


def _newline_offsets(data: "bytes | mmap.mmap", size: int) -> "np.ndarray":
    """Offsets of every ``\\n`` in ``data``, (lines,) int64: vectorised, block by block (a ``find`` loop took
    32 ms of a cold search on a 71 MB corpus)."""
    import numpy as np

    view = np.frombuffer(data, dtype=np.uint8) if size else np.zeros(0, dtype=np.uint8)
    blocks = [np.flatnonzero(view[start:start + _SCAN_BLOCK] == 10) + start for start in range(0, size, _SCAN_BLOCK)]
    del view  # release the buffer export, so the map can be closed
    return np.concatenate(blocks).astype(np.int64) if blocks else np.zeros(0, dtype=np.int64)


class ChunkFile(ChunkSequence):
    """The chunks of one ``corpus.jsonl`` (one JSON object per line), read lazily and cached.

    Corrupted lines raise :class:`CorruptIndexError` naming the file and line when they are read, not at open;
    the index's checksums (checked at load) are what catch a damaged file up front.
    """

    def __init__(self, path: Path):
        import mmap

        import numpy as np

        self.path = Path(path)
        if not self.path.is_file():
            raise CorruptIndexError(f"{self.path} is missing: rebuild the index")
        with self.path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            self._data: bytes | mmap.mmap = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        ends = _newline_offsets(self._data, size)
        if size and (not len(ends) or ends[-1] != size - 1):
            ends = np.append(ends, size)  # a last line without its newline
        self._ends = ends  # (lines,) int64 end offset of each line
        self._starts = np.concatenate([[0], self._ends[:-1] + 1]).astype(np.int64) if len(ends) else self._ends
        self._parsed: list[Chunk | None] = [None] * len(ends)

    def __len__(self) -> int:
        return len(self._parsed)

    def __getitem__(self, position: Any) -> Any:
        """``chunks[i]`` for a chunk already parsed in one list lookup: a hybrid search reads ~600 of them."""
        if type(position) is int and position >= 0:
            try:
                chunk = self._parsed[position]
            except IndexError:
                raise IndexError(f"chunk {position} of {len(self)}") from None
            if chunk is not None:
                return chunk
        return super().__getitem__(position)

    def _chunk(self, position: int) -> Chunk:
        chunk = self._parsed[position]
        if chunk is None:
            chunk = self._parse(position)
            self._parsed[position] = chunk
        return chunk

    def raw_lines(self, start: int, end: int) -> bytes:
        """Lines ``start..end-1`` as they are in the file, each with its newline: what an update copies unparsed."""
        if not 0 <= start <= end <= len(self):
            raise IndexError(f"lines {start}..{end} of {len(self)}")
        if start == end:
            return b""
        return self._data[int(self._starts[start]) : int(self._ends[end - 1])] + b"\n"

    def _parse(self, position: int) -> Chunk:
        line = self._data[int(self._starts[position]) : int(self._ends[position])]
        try:
            return Chunk.from_json(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
            raise CorruptIndexError(f"{self.path}:{position + 1} is corrupted ({exc}); rebuild the index") from exc
