"""Executors run task payloads: in this process, on a local process pool, or on Ray.

They are interchangeable because a task is a plain function of a picklable payload whose outputs
are committed atomically with a done marker; an executor only decides where the call happens.

The local pool's workers die with their driver (a parent-death signal on Linux, and a thread that
watches the parent everywhere), ignore Ctrl-C (the driver stops them), and a worker that dies
mid-task (OOM killer, ``kill -9``) costs one retry: the tasks it may have been running are run
again, each alone on a fresh one-worker pool, and the one whose worker dies again fails the run
naming the task and its input files.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from curate.engine import progress
from curate.engine.errors import TaskFailed

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_SECONDS = 0.5  # how often a worker checks that its driver is still its parent
DRAIN_SECONDS = 0.5  # how often the driver reads its workers' messages while no task ends

_started = None  # in a worker: the queue on which it says which task it begins (and its rows read)
ROWS_SECONDS = 0.25  # a pool worker sends its task's rows read at most this often (the first batch at once)


def _die_with_driver(driver_pid: int) -> None:
    """Make this worker end when the driver does, however the driver ends (``kill -9`` too)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != driver_pid:  # the driver died before the signal was asked for
        os._exit(1)

    def watch() -> None:  # where prctl is missing (macOS) or failed: a reparented worker exits
        while True:
            time.sleep(WATCH_SECONDS)
            if os.getppid() != driver_pid:
                os._exit(1)

    threading.Thread(target=watch, name="curate-driver-watch", daemon=True).start()


def _worker_init(threads: int, driver_pid: int, started) -> None:
    global _started
    _die_with_driver(driver_pid)
    # Ctrl-C reaches the whole process group; the driver alone handles it (and stops the workers),
    # so a terminal shows one line, not a traceback per worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _started = started
    # Each worker gets its share of the cores; Polars/Arrow would otherwise each start one thread
    # per core in every worker and fight over them.
    os.environ["POLARS_MAX_THREADS"] = str(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _call(fn: Callable[[Any], dict], key: int, task: Any, report_rows: bool = True) -> dict:
    """``fn(task)`` in a worker, having told the driver it began (to know whom a dead worker held).
    While it runs, the rows it reads go to the driver as ``(key, rows)`` for the progress bar
    (not for a retry alone, whose queue nobody drains until it ends)."""
    if _started is None:
        return fn(task)
    _started.put(key)
    if not report_rows:
        return fn(task)
    pending, last = 0, 0.0

    def send(n: int) -> None:
        nonlocal pending, last
        pending += n
        now = time.monotonic()
        if now - last >= ROWS_SECONDS:  # batched, so the 64 KB pipe never fills between drains
            _started.put((key, pending))
            pending, last = 0, now

    progress.set_sink(send)
    try:
        return fn(task)
    finally:
        progress.set_sink(None)


def describe(task: Any) -> str:
    """A task's name and, where it has them, its input files (``task p0-00001 (input a.jsonl)``)."""
    name = f"task {getattr(task, 'name', task)}"
    files = list(getattr(task, "inputs", None) or [])
    if not files:
        return name
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return f"{name} (input {shown})"


def _exit_text(code: int | None) -> str:
    if code is None:
        return "its worker process died"
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = str(-code)
        hint = " - out of memory? (the OOM killer sends SIGKILL)" if -code == signal.SIGKILL else ""
        return f"its worker process was killed by {sig}{hint}"
    return f"its worker process exited with code {code}"


class _Pool:
    """A spawn-based process pool plus the queue on which its workers report the tasks they begin."""

    def __init__(self, workers: int, threads: int):
        # spawn, not fork: forking a process with Polars/Arrow thread pools can deadlock
        ctx = mp.get_context("spawn")
        self.started = ctx.SimpleQueue()
        self.pool = ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_worker_init, initargs=(threads, os.getpid(), self.started)
        )
        self._began: set[int] = set()

    def processes(self) -> list:
        return list((getattr(self.pool, "_processes", None) or {}).values())

    def began(self, on_rows: Callable[[int, int], None] | None = None) -> set[int]:
        """Keys of the tasks its workers have begun; ``on_rows(key, rows)`` for the rows they
        report. Called after every finished task and every DRAIN_SECONDS, so the pipe (64 KB)
        never fills and blocks a worker."""
        while not self.started.empty():
            msg = self.started.get()
            if isinstance(msg, tuple):
                if on_rows is not None:
                    on_rows(*msg)
            else:
                self._began.add(msg)
        return self._began

    def close(self, abort: bool = False) -> None:
        if abort:  # stop running tasks now (their temp files are swept; done markers are atomic)
            procs = self.processes()
            for p in procs:
                with contextlib.suppress(Exception):
                    p.terminate()
            for p in procs:
                with contextlib.suppress(Exception):
                    p.join(10)
        self.pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.started.close()


class LocalExecutor:
    """A process pool (``workers > 1``) or plain in-process calls (``workers == 1``)."""

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)
        self._pool: _Pool | None = None
        self.retried: list[str] = []  # tasks run again after their worker died (for the log)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # A failed task lets the others running finish (their done markers save work for the
        # re-run); Ctrl-C or any other error stops them at once.
        self.close(abort=exc_type is not None and not issubclass(exc_type, TaskFailed))

    def check_shared(self, folder) -> None:
        """Every worker must see the run's folder; local workers share this machine's disk."""

    def close(self, abort: bool = False) -> None:
        if self._pool is not None:
            self._pool.close(abort)
            self._pool = None

    def _threads(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.workers)

    def _get_pool(self) -> _Pool:
        if self._pool is None:
            self._pool = _Pool(self.workers, self._threads())
        return self._pool

    def map(self, fn: Callable[[Any], dict], tasks: Sequence[Any], on_done: Callable[[Any, dict], None],
            on_rows: Callable[[Any, int], None] | None = None) -> None:
        """Run ``fn(task)`` for every task; ``on_done(task, result)`` as each finishes, and
        ``on_rows(task, rows)`` as a running task reads its input (for progress bars)."""
        if not tasks:
            return
        if self.workers == 1 or len(tasks) == 1:
            for t in tasks:
                progress.set_sink((lambda n, t=t: on_rows(t, n)) if on_rows is not None else None)
                try:
                    r = fn(t)
                except Exception as e:
                    raise TaskFailed(f"{describe(t)} failed: {type(e).__name__}: {e}") from e
                finally:
                    progress.set_sink(None)
                on_done(t, r)
            return
        todo = list(tasks)
        while todo:
            held, todo = self._run_on_pool(fn, todo, on_done, on_rows)
            if held:  # a worker died: its pool is gone; retry what it may have held, one by one
                self.close(abort=True)
                names = [getattr(t, "name", str(t)) for t in held]
                self.retried += names
                print(
                    f"warning: a worker process died; running {', '.join(names)} again, each on a fresh "
                    "worker",
                    file=sys.stderr,
                )
                self._retry_alone(fn, held, on_done)

    def _run_on_pool(self, fn, tasks: list, on_done, on_rows=None) -> tuple[list, list]:
        """Run ``tasks`` on the pool. Returns ([], []) when all finished, or, when a worker died,
        (tasks begun but not finished, tasks never begun)."""
        pool = self._get_pool()
        futures: dict = {}
        lost: list[int] = []
        for i, t in enumerate(tasks):
            try:
                futures[pool.pool.submit(_call, fn, i, t)] = i
            except BrokenProcessPool:  # a worker died while tasks were still being handed out
                lost += range(i, len(tasks))
                break
        pending = set(futures)

        def rows(i: int, n: int) -> None:
            if on_rows is not None:
                on_rows(tasks[i], n)

        try:
            while pending:
                # report each task as it ends, and the rows running tasks read meanwhile
                done, pending = wait(pending, timeout=DRAIN_SECONDS, return_when=FIRST_COMPLETED)
                pool.began(rows)
                for f in sorted(done, key=futures.__getitem__):
                    i = futures[f]
                    exc = f.exception()
                    if isinstance(exc, BrokenProcessPool):
                        lost.append(i)
                    elif exc is not None:
                        raise TaskFailed(f"{describe(tasks[i])} failed: {type(exc).__name__}: {exc}") from exc
                    else:
                        on_done(tasks[i], f.result())
        except BaseException:
            for p in pending:
                p.cancel()
            raise
        if not lost:
            return [], []
        began = pool.began()
        lost.sort()
        return [tasks[i] for i in lost if i in began], [tasks[i] for i in lost if i not in began]

    def _retry_alone(self, fn, tasks: list, on_done) -> None:
        """Run each task once more, each on its own one-worker pool (at once): a worker that dies
        now was killed by that task, which fails the run."""
        pools = [_Pool(1, self._threads()) for _ in tasks]
        try:
            futures = {
                p.pool.submit(_call, fn, 0, t, False): (p, t) for p, t in zip(pools, tasks, strict=True)
            }
            procs = {f: p.processes() for f, (p, _) in futures.items()}
            for f in futures:  # in task order, so the error names the first task that failed
                _, t = futures[f]
                exc = f.exception()
                if isinstance(exc, BrokenProcessPool):
                    # The pool's own thread reaps the dead worker: once it is done, the exit code is there.
                    futures[f][0].pool.shutdown(wait=True)
                    code = next((pr.exitcode for pr in procs[f] if pr.exitcode is not None), None)
                    raise TaskFailed(
                        f"{describe(t)} failed: {_exit_text(code)}, twice (it was retried once on a fresh "
                        "worker)"
                    )
                if exc is not None:
                    raise TaskFailed(f"{describe(t)} failed: {type(exc).__name__}: {exc}") from exc
                on_done(t, f.result())
        except BaseException as e:
            for p in pools:
                p.close(abort=not isinstance(e, TaskFailed))
            raise
        for p in pools:
            p.close()


def make_executor(kind: str, workers: int, address: str | None = None):
    """The executor named by ``--executor``."""
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        from curate.engine.ray_executor import RayExecutor

        return RayExecutor(workers, address)
    raise ValueError(f"unknown executor {kind!r}; valid: local, ray")
