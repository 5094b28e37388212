"""Progress for runs and suites: rich bars on a terminal, else a plain line a minute.

A suite left to run in the background (``nohup genbench suite ... > log``) would otherwise
say nothing until a run ends, hours later for a 400,000-step GAN.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Seconds between two progress lines when stderr is not a terminal (the last step's line
# is always written).
LINE_EVERY_S = 60.0


@contextmanager
def progress_bars():
    """A rich ``Progress`` on stderr; disabled (but usable) when stderr is not a TTY."""
    console = Console(stderr=True)
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not sys.stderr.isatty(),
    )
    with bars:
        yield bars


def step_callback(bars: Progress, description: str, total: int):
    """A new bar of ``total`` steps and the ``progress(done)`` callback that advances it;
    where the bars are disabled (stderr is not a terminal), the callback writes a line
    at most every ``LINE_EVERY_S`` seconds instead."""
    task = bars.add_task(description, total=total)
    if bars.disable:
        return task, ProgressLines(description.strip(), total, bars.console)

    def update(done: int) -> None:
        bars.update(task, completed=done)

    return task, update


class ProgressLines:
    """``progress(done)`` that prints ``LABEL: step DONE/TOTAL (P %), R steps/s, T left``.

    The rate is measured from the first call on (a resumed run starts at its checkpoint's
    step, and the first call follows compilation), so the first line has none. A count
    that goes back (the next chunk of a seed group that did not fit in memory, the next
    seed of a group trained one seed after the other) starts the measurement again.
    """

    def __init__(self, label: str, total: int, console: Console):
        self.label, self.total, self.console = label, max(total, 1), console
        self.first: tuple[float, int] | None = None
        self.last_done = 0
        self.last_line = -float("inf")

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if self.first is None or done <= self.last_done:
            self.first, self.last_line = (now, done), -float("inf")
        self.last_done = done
        if now - self.last_line < LINE_EVERY_S and done < self.total:
            return
        self.last_line = now
        line = f"{self.label}: step {done:,}/{self.total:,} ({100 * done / self.total:.0f} %)"
        seconds, steps = now - self.first[0], done - self.first[1]
        if seconds > 0 and steps > 0:
            rate = steps / seconds
            line += f", {rate:,.1f} steps/s"
            if done < self.total:
                line += f", {_duration((self.total - done) / rate)} left"
        self.console.print(line, soft_wrap=True, markup=False, highlight=False)


def _duration(seconds: float) -> str:
    """``1 h 05 min``, ``4 min 10 s`` or ``12 s``."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
