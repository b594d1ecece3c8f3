"""Where Ray's time goes beside the work: start-up, first task per worker, per-task round trip.

    python -m bench.ray_overhead --workers 2 --tasks 200

Measures, against the local process pool with the same worker count:
  * start-up: ``ray.init`` (local instance) vs creating the spawn pool;
  * first tasks: a warm-up map and one full round of the no-op tasks (Ray's worker processes
    start, and import the curate stack, during that round: its first tasks run on the driver);
  * per-task overhead: ``--tasks`` no-op tasks whose payload is a real phase task (the web
    pipeline's spec dict), submitted all at once: (wall x workers) / tasks is the CPU-seconds one
    task costs beyond its work, timed on a second round (warm workers); extrapolated to 64
    workers as the driver's share (the driver submits and collects every task, so its per-task
    cost is serial).
Run it when the machine is quiet: the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

REPO = Path(__file__).resolve().parents[1]


def noop(task) -> dict:
    """A task that does nothing but unpack its payload like a phase task does."""
    from curate.engine.tasks import spec_from_payload

    spec_from_payload(task.spec)
    return {"task": task.name}


def warm(_task) -> dict:
    import curate.engine.tasks  # noqa: F401  (what every real task imports first)
    import curate.filters  # noqa: F401

    return {"pid": os.getpid()}


def payloads(n: int) -> list:
    os.environ.setdefault("CURATE_DATA", str(REPO / "out" / "demo-data"))
    from curate.engine.plan import Phase, Unit
    from curate.engine.spec import load_spec
    from curate.engine.tasks import PhaseTask

    spec = load_spec(REPO / "pipelines" / "web.yaml", check_inputs=False)
    payload = spec.model_dump(mode="json")
    phase = Phase(0, (0, 1, 2), collect=None)
    return [PhaseTask("/tmp/unused", payload, phase, Unit(i, 0, ()), n) for i in range(n)]


def measure(executor: str, workers: int, tasks: list) -> dict:
    from curate.engine.executor import make_executor

    t0 = time.perf_counter()
    ex = make_executor(executor, workers)
    ex.__enter__()
    out: dict = {}
    try:
        out["start_s"] = time.perf_counter() - t0
        # Ray runs the first tasks on a driver thread while it starts (RayExecutor's deferred
        # start), so the warm-up tasks do not start Ray's worker processes: the first full round
        # does. It counts as start-up; the per-task cost is a second round, on warm workers.
        t = time.perf_counter()
        ex.map(warm, tasks[:workers * 2], lambda t, r: None)
        ex.map(noop, tasks, lambda t, r: None)
        out["first_tasks_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ex.map(noop, tasks, lambda t, r: None)
        wall = time.perf_counter() - t
        out["per_task_ms"] = wall * 1000 / len(tasks)
        out["per_task_cpu_ms"] = wall * workers * 1000 / len(tasks)
    finally:
        ex.__exit__(None, None, None)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    tasks = payloads(a.tasks)
    rows = []
    for rep in range(a.repeat):
        for ex in ("local", "ray"):
            r = measure(ex, a.workers, tasks)
            rows.append((ex, rep, r))
            print(f"  {ex} #{rep}: {r}", flush=True)
    load = os.getloadavg()[0]
    print(f"\n{os.cpu_count()} CPUs, load average {load:.1f}; {a.workers} workers, {a.tasks} tasks")
    print(f"{'executor':<8} {'start s':>14} {'first tasks s':>14} {'ms/task (wall)':>18}")
    for ex in ("local", "ray"):
        rs = [r for e, _, r in rows if e == ex]

        def span(k: str, rs=rs) -> str:
            v = sorted(r[k] for r in rs)
            return f"{v[len(v) // 2]:.3f} ({v[0]:.3f}-{v[-1]:.3f})"

        print(f"{ex:<8} {span('start_s'):>14} {span('first_tasks_s'):>14} {span('per_task_ms'):>18}")
    ray_ms = sorted(r["per_task_ms"] for e, _, r in rows if e == "ray")[len(rows) // 4]
    print(
        f"\nray at 64 workers: the driver hands out and collects tasks one at a time, ~{ray_ms:.1f} ms "
        f"each -> at most {1000 / ray_ms:,.0f} tasks/s; 64 workers stay busy while a task lasts more "
        f"than {64 * ray_ms / 1000:.2f} s"
    )


if __name__ == "__main__":
    main()
