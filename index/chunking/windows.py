"""Line windows, the fallback unit, and the small line arithmetic the structural chunkers share.

A file with no parser, a parse error or no definitions is cut into overlapping windows of
``window_lines`` lines (``window_overlap`` shared between neighbours), the sliding-window
chunking used for code in RepoCoder and CodeRAG-Bench. Whitespace-only windows are dropped.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from codehunt.index.types import Chunk


def chunk_windows(
    path: str, text: str, language: str, *, window_lines: int = 60, window_overlap: int = 10
) -> list[Chunk]:
    """Cut ``text`` into windows ``L1-L60``, ``L51-L110``, ...; a whitespace-only text gives no chunks."""
    if window_lines < 1 or not 0 <= window_overlap < window_lines:
        raise ValueError(
            f"need window_lines >= 1 and 0 <= window_overlap < window_lines; got {window_lines}, {window_overlap}"
        )
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the empty string after a final newline is not a line
    step = window_lines - window_overlap
    chunks: list[Chunk] = []
    start = 0
    while start < len(lines):
        end = min(start + window_lines, len(lines))
        body = "\n".join(lines[start:end])
        if body.strip():
            qualname = f"L{start + 1}-L{end}"
            doc_id = f"{path}#{qualname}"
            chunks.append(
                Chunk(
                    doc_id=doc_id,
                    path=path,
                    qualname=qualname,
                    kind="window",
                    language=language,
                    start_line=start + 1,
                    end_line=end,
                    text=body,
                    unit_id=doc_id,
                )
            )
        if end == len(lines):
            break
        start += step
    return chunks


def to_ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted line numbers -> inclusive ``(first, last)`` runs: ``[1, 2, 3, 7]`` -> ``[(1, 3), (7, 7)]``."""
    ranges: list[tuple[int, int]] = []
    for number in sorted(set(numbers)):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], number)
        else:
            ranges.append((number, number))
    return ranges


def trim_blank(numbers: Iterable[int], lines: Sequence[str]) -> list[int]:
    """Drop blank lines at both ends of every run, so chunks neither start nor end on a blank line."""
    kept: list[int] = []
    for first, last in to_ranges(numbers):
        while first <= last and not lines[first - 1].strip():
            first += 1
        while last >= first and not lines[last - 1].strip():
            last -= 1
        kept.extend(range(first, last + 1))
    return kept


def join_lines(numbers: Sequence[int], lines: Sequence[str]) -> str:
    """The source lines with these 1-based numbers, joined by newlines."""
    return "\n".join(lines[number - 1] for number in numbers)
