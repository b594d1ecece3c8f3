"""Progress bars per phase: tasks done, documents/s and ETA (tqdm on stderr; silent with --quiet).

The bar counts tasks (tqdm's ETA is over tasks left); the postfix shows the documents read in
this run divided by the time this bar has been open, so a resumed run does not report the skipped
tasks' documents as speed. Documents count as they are read, batch by batch, not only when a task
ends: a task calls ``report_rows`` for every batch it takes in, which reaches the bar through the
sink its executor installed (a direct call in process; a queue from a pool worker). A single large
file (a 17 s WARC) therefore moves the docs/s figure while it is read. Reduce steps have no
documents: tasks only.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tqdm import tqdm

REDRAW_SECONDS = 0.5  # live row counts redraw the bar at most this often

_sink: Callable[[int], None] | None = None  # where this process's running task reports its rows


def set_sink(sink: Callable[[int], None] | None) -> None:
    """Install (or with None remove) the function ``report_rows`` hands row counts to."""
    global _sink
    _sink = sink


def report_rows(n: int) -> None:
    """A task took in ``n`` more rows (called per batch; a no-op where no executor listens)."""
    if _sink is not None and n:
        _sink(n)


class Progress:
    """A tasks bar for one phase or reduce step, with docs/s over the documents read in this run."""

    def __init__(self, label: str, total: int, initial: int = 0, quiet: bool = False):
        self.quiet = quiet or total == 0
        self.t0 = time.perf_counter()
        self.rows = 0  # documents of the tasks finished in this run
        self.live: dict[str, int] = {}  # documents read so far by tasks still running
        self.finished: set[str] = set()
        self._drawn = 0.0
        self.bar = None
        if not self.quiet:
            self.bar = tqdm(
                total=total,
                initial=initial,
                desc=label,
                unit="task",
                file=sys.stderr,
                dynamic_ncols=True,
                leave=True,
            )

    @property
    def docs(self) -> int:
        """Documents read in this run: finished tasks' counts plus running tasks' partial counts."""
        return self.rows + sum(self.live.values())

    def running(self, task: str, rows: int) -> None:
        """Task ``task`` (still running) read ``rows`` more documents."""
        if task in self.finished:  # a late message from a task already counted in full
            return
        self.live[task] = self.live.get(task, 0) + rows
        now = time.perf_counter()
        if now - self._drawn >= REDRAW_SECONDS:
            self._drawn = now
            self._postfix(refresh=True)

    def advance(self, rows: int, task: str | None = None) -> None:
        """One task finished; ``rows`` documents went into it (0 for reduce partitions)."""
        if task is not None:
            self.finished.add(task)
            self.live.pop(task, None)
        self.rows += rows
        if self.bar is not None:
            self._postfix(refresh=False)
            self.bar.update(1)

    def _postfix(self, refresh: bool) -> None:
        if self.bar is None or not self.docs:
            return
        rate = self.docs / max(time.perf_counter() - self.t0, 1e-9)
        self.bar.set_postfix_str(f"{self.docs:,} docs, {rate:,.0f} docs/s", refresh=refresh)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
