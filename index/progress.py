"""How far a build has got, in codehunt's words: files read, units chunked, units embedded of N.

Library code never draws: ``Index.build`` fills one :class:`BuildProgress` and hands it to the
caller's ``progress`` callback at every step; the CLI turns it into one rich bar on stderr
(``codehunt index build`` / ``update``), and the encoder's own per-batch bar stays off.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

STAGES = ("reading", "embedding", "indexing", "writing")
"""reading: files listed, read and chunked; embedding: new unit texts encoded; indexing: FAISS and BM25;
writing: the new index published."""


@dataclass
class BuildProgress:
    """A build's counters, updated in place.

    ``files_read``: files whose bytes were read; ``files_reused``: unchanged files whose chunks were
    taken from the previous index unread; ``units_to_embed`` is N, the distinct texts the store lacked.
    """

    stage: str = "reading"
    files_read: int = 0
    files_reused: int = 0
    units_chunked: int = 0
    units_embedded: int = 0
    units_to_embed: int = 0

    def summary(self) -> str:
        """One line for the end of a build: what was read, reused and embedded."""
        reused = f", {self.files_reused} unchanged" if self.files_reused else ""
        return (
            f"{self.files_read} files read{reused}, {self.units_chunked} units chunked, "
            f"{self.units_embedded} of {self.units_to_embed} new unit texts embedded"
        )


ProgressCallback = Callable[[BuildProgress], None]


def no_progress(progress: BuildProgress) -> None:
    """The callback of a build nobody watches."""
