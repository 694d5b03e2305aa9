"""Build progress as plain lines, for a stderr that is not a terminal (a log file, CI, ``nohup``).

Why: rich draws its bar only on a terminal; redirected, a transient bar prints nothing, and a build that
runs for minutes looked hung in its log. Here, once a build has run ``interval`` seconds, each stage change
and at most one line per ``interval`` seconds give the counters in codehunt's words, with an ETA while
embedding. A build that ends sooner prints nothing, as the transient bar does, so an error stays one line.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, TextIO

STAGE_WORDS = {"reading": "reading files", "embedding": "embedding units", "indexing": "FAISS and BM25",
               "writing": "writing"}


def format_seconds(seconds: float) -> str:
    """``75`` -> ``1m15s``: short enough for a log line."""
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


@dataclass
class ProgressLines:
    """A ``BuildProgress`` callback that prints a line per stage and then one per ``interval`` seconds."""

    interval: float = 10.0
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    clock: Callable[[], float] = time.monotonic
    _stage: str = ""
    _started: float | None = None
    _last_line: float = float("-inf")
    _stage_started: float = 0.0
    _embedded_at_start: int = 0

    def __call__(self, state) -> None:  # noqa: ANN001 - a BuildProgress
        now = self.clock()
        if self._started is None:
            self._started = now
        new_stage = state.stage != self._stage
        if new_stage:
            self._stage, self._stage_started, self._embedded_at_start = state.stage, now, state.units_embedded
        if now - self._started < self.interval or (not new_stage and now - self._last_line < self.interval):
            return
        self._last_line = now
        print(f"codehunt: {STAGE_WORDS.get(state.stage, state.stage)}: {self.detail(state, now)}".rstrip(": "),
              file=self.stream, flush=True)

    def detail(self, state, now: float) -> str:  # noqa: ANN001 - a BuildProgress
        if state.stage == "reading":
            return (f"{state.files_read:,} files read, {state.files_reused:,} unchanged, "
                    f"{state.units_chunked:,} units chunked")
        if state.stage != "embedding":
            return ""
        line = f"{state.units_embedded:,} of {state.units_to_embed:,} units embedded"
        done = state.units_embedded - self._embedded_at_start
        remaining = state.units_to_embed - state.units_embedded
        if done > 0 and remaining > 0:
            eta = (now - self._stage_started) / done * remaining
            line += f", about {format_seconds(eta)} left"
        return line
