"""Executors run task payloads: in this process, on a local process pool, or on Ray.

They are interchangeable because a task is a plain function of a picklable payload whose outputs
are committed atomically with a done marker; an executor only decides where the call happens.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from curate.engine.errors import TaskFailed


def _worker_init(threads: int) -> None:
    # Each worker gets its share of the cores; Polars/Arrow would otherwise each start one thread
    # per core in every worker and fight over them.
    os.environ["POLARS_MAX_THREADS"] = str(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class LocalExecutor:
    """A process pool (``workers > 1``) or plain in-process calls (``workers == 1``)."""

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def check_shared(self, folder) -> None:
        """Every worker must see the run's folder; local workers share this machine's disk."""

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            # spawn, not fork: forking a process that has Polars/Arrow thread pools can deadlock.
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=mp.get_context("spawn"), initializer=_worker_init, initargs=(threads,)
            )
        return self._pool

    def map(self, fn: Callable[[Any], dict], tasks: Sequence[Any], on_done: Callable[[Any, dict], None]) -> None:
        """Run ``fn(task)`` for every task; ``on_done(task, result)`` as each finishes."""
        if not tasks:
            return
        if self.workers == 1 or len(tasks) == 1:
            for t in tasks:
                try:
                    r = fn(t)
                except Exception as e:
                    raise TaskFailed(f"task {getattr(t, 'name', t)} failed: {type(e).__name__}: {e}") from e
                on_done(t, r)
            return
        pool = self._get_pool()
        futures = {pool.submit(fn, t): t for t in tasks}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)  # report each task as it ends
            for f in done:
                t = futures[f]
                exc = f.exception()
                if exc is not None:
                    for p in pending:
                        p.cancel()
                    raise TaskFailed(f"task {getattr(t, 'name', t)} failed: {type(exc).__name__}: {exc}") from exc
                on_done(t, f.result())


def make_executor(kind: str, workers: int, address: str | None = None):
    """The executor named by ``--executor``."""
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        from curate.engine.ray_executor import RayExecutor

        return RayExecutor(workers, address)
    raise ValueError(f"unknown executor {kind!r}; valid: local, ray")
