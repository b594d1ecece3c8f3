"""Progress bars per phase: tasks done, documents/s and ETA (tqdm on stderr; silent with --quiet).

The bar counts tasks (tqdm's ETA is over tasks left); the postfix shows the documents that went
into the tasks finished *in this run* divided by the time this bar has been open, so a resumed run
does not report the skipped tasks' documents as speed. Reduce steps have no documents: tasks only.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    """A tasks bar for one phase or reduce step, with docs/s over the tasks finished in this run."""

    def __init__(self, label: str, total: int, initial: int = 0, quiet: bool = False):
        self.quiet = quiet or total == 0
        self.t0 = time.perf_counter()
        self.rows = 0
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

    def advance(self, rows: int) -> None:
        """One task finished; ``rows`` documents went into it (0 for reduce partitions)."""
        self.rows += rows
        if self.bar is not None:
            if self.rows:
                rate = self.rows / max(time.perf_counter() - self.t0, 1e-9)
                self.bar.set_postfix_str(f"{self.rows:,} docs, {rate:,.0f} docs/s", refresh=False)
            self.bar.update(1)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
