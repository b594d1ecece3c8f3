"""Run the same task payloads on a Ray cluster (``curate run --executor ray``).

Nothing about a task changes: it is the same plain function of the same picklable payload as with
the local pool, it reads its inputs and writes its outputs (temp name, rename, done marker) in the
output folder itself, and results come back to the driver only as small stats dicts. So:

* with no ``address`` a local Ray instance with ``workers`` CPUs is started (and shut down after);
  it takes seconds, so the first tasks run in the driver (a thread) while it starts;
* with an ``address`` (``ray://host:10001``, ``host:6379`` or ``auto``) the tasks run on that
  cluster, which is left running. Every node must have ``curate`` installed and see the input
  files and the run folder **at the same paths** (a shared POSIX file system: NFS, Lustre; or,
  for inputs and a URI output, object storage read directly). Tasks rename files into place, so the
  mount must support rename. Before any task runs, one probe task per node checks that it can read
  a file the driver wrote into the run folder; a node that cannot refuses the run.

Global stages (dedup, mix) need no special support: their collect and apply halves run inside
phase tasks and their reduce steps are ordinary tasks reading and writing hash-partitioned files
under ``OUT/_work``. A worker that dies (OOM, node lost, ``kill -9``) is retried by Ray up to
``max_retries`` times; this is safe because tasks are idempotent. An exception raised *by* a task is
not retried: it fails the run with :class:`TaskFailed` naming the task, as with the local executor.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from curate.engine.errors import RunRefused, TaskFailed
from curate.engine.executor import describe


class RayExecutor:
    """Same interface as :class:`curate.engine.executor.LocalExecutor`, backed by Ray tasks.

    ``workers`` sizes the local instance started when no ``address`` is given; on an existing
    cluster every free CPU runs a task (each task asks for one CPU). A cluster that cannot be
    started or reached refuses the run (:class:`curate.engine.errors.RunRefused`, exit code 2).
    """

    def __init__(
        self, workers: int = 1, address: str | None = None, max_retries: int = 3, overlap_start: bool = True
    ):
        self.workers = max(1, workers)
        self.address = address
        self.max_retries = max_retries
        self.overlap_start = overlap_start
        self._started = False  # we started the Ray instance, so we shut it down
        self._ray = None
        self._check_folder = None  # check_shared's folder, probed once connected
        self.ran_in_driver: list[str] = []  # tasks the driver ran while Ray started (for tests)

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> RayExecutor:
        # A local instance we start ourselves takes seconds (ray.init ~4-9 s, then each worker's
        # imports): the first map() starts it while the driver runs tasks itself. A cluster to
        # join, or one a caller started, is connected at once.
        if not self._deferred():
            self._connect()
        return self

    def _deferred(self) -> bool:
        if not self.overlap_start or self.address or self._ray is not None:
            return False
        import ray

        return not ray.is_initialized()

    def __exit__(self, *exc) -> None:
        self.close()

    def _connect(self):
        if self._ray is not None:
            return self._ray
        try:
            import ray
        except ImportError as e:  # pragma: no cover - ray is a dependency, but may be stripped
            raise RuntimeError("--executor ray needs the `ray` package: pip install 'ray[default]'") from e
        self._ray = ray
        if ray.is_initialized():  # a caller (a notebook, a test) already connected: use it as it is
            return ray
        # Each task gets one CPU; Polars/Arrow inside it should not start a thread per core.
        env = {"POLARS_MAX_THREADS": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False, runtime_env={"env_vars": env})
            else:
                # Ray 2.60 writes ~/.ray/auth_token for a new cluster unless auth is off; a private
                # cluster on loopback that lives as long as this run needs none.
                os.environ.setdefault("RAY_AUTH_MODE", "disabled")
                ray.init(
                    num_cpus=self.workers,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                    runtime_env={"env_vars": env},
                )
        except Exception as e:
            self._ray = None
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            hint = (
                "check the address (ray status on the head node)"
                if self.address
                else "Ray needs the loopback interface and /tmp"
            )
            raise RunRefused(f"cannot start or reach {where}: {type(e).__name__}: {e} - {hint}") from e
        self._started = True
        return ray

    def close(self) -> None:
        if self._ray is not None and self._started:
            self._ray.shutdown()
        self._started = False
        self._ray = None

    def check_shared(self, folder) -> None:
        """Refuse a run whose folder some node of the cluster cannot see: tasks on that node would
        write phase outputs and done markers where the driver and the other nodes never look.
        Before a deferred start, the check waits for the connection (before any Ray task)."""
        if self._ray is None and self._deferred():
            self._check_folder = folder
            return
        ray = self._connect()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        blind = blind_nodes(ray, nodes, folder)
        if blind:
            raise RunRefused(
                f"the run folder {folder} is not visible from Ray node(s) {', '.join(blind)}; put OUT (or "
                "--work-dir, for a URI output) on storage that every node mounts at the same path (NFS, "
                "Lustre)"
            )

    # -- running tasks -----------------------------------------------------------------------------

    def map(self, fn: Callable[[Any], dict], tasks: Sequence[Any], on_done: Callable[[Any, dict], None],
            on_rows: Callable[[Any, int], None] | None = None) -> None:
        """Run ``fn(task)`` for every task on the cluster; ``on_done(task, result)`` as each finishes.
        ``on_rows`` is not called: rows read on Ray workers reach the bar when their task ends."""
        if not tasks:
            return
        queue = collections.deque(tasks)
        driver = None
        if self._ray is None and self._deferred():
            driver = self._work_while_starting(fn, queue)
        ray = self._connect()
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(fn)
        # With the driver working beside Ray (the first phase of a run that started Ray itself),
        # Ray holds only as many tasks as it has workers and the rest stay in the shared queue, so
        # the driver takes the next one when it finishes its own: with few, long tasks (one per
        # WARC file), queueing all of them in Ray left the last to run alone on one core.
        limit = self.workers if driver is not None else len(queue)
        refs: dict = {}
        try:
            while True:
                while len(refs) < limit:
                    t = driver.take() if driver is not None else (queue.popleft() if queue else None)
                    if t is None:
                        break
                    refs[remote.remote(t)] = t
                if driver is not None:
                    alive = driver.busy()  # read first: a thread found ended has handed in everything
                    driver.hand_on(on_done, self.ran_in_driver)
                    if not alive:
                        driver = None
                        continue
                if not refs:
                    if driver is None:
                        return
                    driver.thread.join(0.2)
                    continue
                # while the driver works, wake up now and then to hand its results on
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=None if driver is None else 0.2)
                for ref in ready:
                    t = refs.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as e:
                        raise TaskFailed(f"{describe(t)} failed: {_describe(ray, e)}") from e
                    on_done(t, result)
        except BaseException:
            # Stop the rest: queued tasks never start, running ones get KeyboardInterrupt and
            # clean up their temp files (a task's outputs only count once its done marker exists).
            if driver is not None:
                driver.stop.set()
            for ref in refs:
                ray.cancel(ref)
            raise

    def _work_while_starting(self, fn, queue: collections.deque) -> _DriverWork:
        """Start the local Ray instance (``ray.init`` wants the main thread) while a driver thread
        runs tasks from `queue` in this process, one at a time; it goes on taking them beside
        Ray's workers until the queue is empty. Tasks are idempotent and write the same bytes
        wherever they run, so the output does not change."""
        work = _DriverWork(fn, queue)
        try:
            self._connect()
            if self._check_folder is not None:
                folder, self._check_folder = self._check_folder, None
                self.check_shared(folder)
        except BaseException:
            work.stop.set()
            work.thread.join()
            raise
        return work


class _DriverWork:
    """A driver thread taking tasks one at a time from a queue it shares with the Ray loop."""

    def __init__(self, fn: Callable[[Any], dict], queue: collections.deque):
        self.fn, self.queue = fn, queue
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.finished: list[tuple[Any, dict]] = []
        self.failed: list[tuple[Any, BaseException]] = []
        self.thread = threading.Thread(target=self._work, name="curate-while-ray-starts", daemon=True)
        self.thread.start()

    def take(self) -> Any | None:
        """The next task for Ray (None: the queue is empty)."""
        with self.lock:  # the driver thread and the Ray loop never take the same task
            return self.queue.popleft() if self.queue else None

    def _work(self) -> None:
        while not self.stop.is_set():
            t = self.take()
            if t is None:
                return
            try:
                r = self.fn(t)
            except BaseException as e:  # reported by the main thread
                self.failed.append((t, e))
                return
            with self.lock:
                self.finished.append((t, r))

    def busy(self) -> bool:
        return self.thread.is_alive()

    def hand_on(self, on_done: Callable[[Any, dict], None], ran: list[str]) -> None:
        """Pass the results finished so far to `on_done` (main thread); raise the first failure."""
        with self.lock:
            done, self.finished = self.finished, []
        for t, r in done:
            ran.append(getattr(t, "name", str(t)))
            on_done(t, r)
        if self.failed:
            t, e = self.failed[0]
            raise TaskFailed(f"{describe(t)} failed: {type(e).__name__}: {e}") from e


def _read_probe(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


def blind_nodes(ray, nodes: list[dict], folder, token: str | None = None) -> list[str]:
    """Addresses of the ``nodes`` on which a file written to ``folder`` here cannot be read back
    (one zero-CPU task pinned to each node). ``token`` is what such a node must read (tests)."""
    import uuid
    from pathlib import Path

    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    written = uuid.uuid4().hex
    probe = Path(folder) / f".curate-probe-{written}"
    probe.write_text(written, encoding="utf-8")
    try:
        read = ray.remote(num_cpus=0)(_read_probe)
        refs = {
            n.get("NodeManagerAddress", n["NodeID"]): read.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote(str(probe))
            for n in nodes
        }
        want = token or written
        return sorted(addr for addr, ref in refs.items() if ray.get(ref, timeout=300) != want)
    finally:
        probe.unlink(missing_ok=True)


def _describe(ray, e: BaseException) -> str:
    """The task's own exception for a task error; Ray's message for a lost worker or node."""
    if isinstance(e, ray.exceptions.RayTaskError):
        cause = getattr(e, "cause", None)
        if cause is not None:
            return f"{type(cause).__name__}: {cause}"
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {first}"
