"""Progress bars for runs and suites (rich), quiet when stderr is not a terminal."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


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
    """A new bar of ``total`` steps and the ``progress(done)`` callback that advances it."""
    task = bars.add_task(description, total=total)

    def update(done: int) -> None:
        bars.update(task, completed=done)

    return task, update
