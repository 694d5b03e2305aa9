"""Plain progress lines for a redirected stderr: silent for a short build, then one per stage and per interval."""
from __future__ import annotations

import io

from codehunt.index.progress import BuildProgress
from codehunt.progress_lines import ProgressLines, format_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_silent_at_first_then_a_line_per_stage_and_per_interval_with_an_eta() -> None:
    stream, clock = io.StringIO(), Clock()
    lines = ProgressLines(interval=10, stream=stream, clock=clock)
    state = BuildProgress(stage="reading", files_read=3, units_chunked=40)
    lines(state)
    state.stage, state.units_to_embed = "embedding", 1000
    clock.now = 5
    lines(state)  # a build younger than the interval prints nothing, even on a new stage
    assert stream.getvalue() == ""
    state.units_embedded = 250
    clock.now = 15  # 250 embedded in the 10 s since the stage began: 750 left take 30 s
    lines(state)
    state.units_embedded = 300
    clock.now = 20
    lines(state)  # within the interval of the last line: nothing
    state.stage = "writing"
    lines(state)  # a new stage is shown at once
    assert stream.getvalue().splitlines() == [
        "codehunt: embedding units: 250 of 1,000 units embedded, about 30s left",
        "codehunt: writing",
    ]


def test_a_short_build_prints_nothing() -> None:
    stream, clock = io.StringIO(), Clock()
    lines = ProgressLines(interval=10, stream=stream, clock=clock)
    for stage in ("reading", "embedding", "indexing", "writing"):
        clock.now += 1
        lines(BuildProgress(stage=stage))
    assert stream.getvalue() == ""


def test_format_seconds() -> None:
    assert format_seconds(7) == "7s"
    assert format_seconds(75) == "1m15s"
    assert format_seconds(3600) == "60m00s"
