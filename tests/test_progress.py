"""Progress off a terminal: a plain line at most every LINE_EVERY_S seconds, and the last."""

import io

from rich.console import Console
from rich.progress import Progress

from genbench import progress


def _lines(monkeypatch, calls, every):
    """The lines written for ``calls`` of (seconds, steps done) of a 4,000-step run."""
    clock = iter(t for t, _ in calls)
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(progress, "LINE_EVERY_S", every)
    out = io.StringIO()
    bars = Progress(console=Console(file=out, width=200), disable=True)
    _, update = progress.step_callback(bars, "  gan ring8 s2", 4000)
    for _, done in calls:
        update(done)
    return out.getvalue().splitlines()


def test_each_line_has_the_step_the_rate_and_the_time_left(monkeypatch):
    lines = _lines(monkeypatch, [(100.0, 1000), (110.0, 2000), (130.0, 4000)], every=0)
    assert lines == [
        "gan ring8 s2: step 1,000/4,000 (25 %)",
        "gan ring8 s2: step 2,000/4,000 (50 %), 100.0 steps/s, 20 s left",
        "gan ring8 s2: step 4,000/4,000 (100 %), 100.0 steps/s",
    ]


def test_lines_come_at_most_every_interval_and_always_at_the_last_step(monkeypatch):
    calls = [(0.0, 1000), (30.0, 2000), (70.0, 3000), (80.0, 4000)]
    lines = _lines(monkeypatch, calls, every=60)
    assert [line.split(": ")[1].split(" (")[0] for line in lines] == [
        "step 1,000/4,000",
        "step 3,000/4,000",
        "step 4,000/4,000",
    ]
    assert lines[1].endswith("28.6 steps/s, 35 s left")


def test_durations_read_in_hours_minutes_or_seconds():
    durations = [progress._duration(s) for s in (12.4, 250, 3900)]
    assert durations == ["12 s", "4 min 10 s", "1 h 05 min"]


def test_a_count_that_goes_back_starts_the_rate_again(monkeypatch):
    """One callback serves the chunks of a seed group run one after the other."""
    calls = [(0.0, 1000), (10.0, 2000), (20.0, 1000), (30.0, 2000)]
    lines = _lines(monkeypatch, calls, every=0)
    assert lines[2] == "gan ring8 s2: step 1,000/4,000 (25 %)"
    assert lines[3].endswith("step 2,000/4,000 (50 %), 100.0 steps/s, 20 s left")
