"""Plain progress lines for a redirected stderr: one per stage, then at most one per interval, with an ETA."""
from __future__ import annotations

import io

from codehunt.index.progress import BuildProgress
from codehunt.progress_lines import ProgressLines, format_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_line_per_stage_then_one_per_interval_with_an_eta() -> None:
    stream, clock = io.StringIO(), Clock()
    lines = ProgressLines(interval=10, stream=stream, clock=clock)
    state = BuildProgress(stage="reading", files_read=3, units_chunked=40)
    lines(state)
    state.files_read = 5
    clock.now = 4
    lines(state)  # within the interval: nothing
    state.stage, state.units_to_embed = "embedding", 1000
    clock.now = 5
    lines(state)  # a new stage is always shown
    state.units_embedded = 250
    clock.now = 15  # 250 done in 10 s -> 750 left take 30 s
    lines(state)
    state.stage = "writing"
    lines(state)
    printed = stream.getvalue().splitlines()
    assert printed == [
        "codehunt: reading files: 3 files read, 0 unchanged, 40 units chunked",
        "codehunt: embedding units: 0 of 1,000 units embedded",
        "codehunt: embedding units: 250 of 1,000 units embedded, about 30s left",
        "codehunt: writing",
    ]


def test_format_seconds() -> None:
    assert format_seconds(7) == "7s"
    assert format_seconds(75) == "1m15s"
    assert format_seconds(3600) == "60m00s"
