"""The driver: lock the output folder, plan, run phases (resuming), finalize the output contract.

``run_pipeline(spec, out)`` is the whole of ``curate run``. Re-running on the same folder resumes:
tasks with a done marker are skipped. The checks before any work (lock, changed config, inputs or
library versions) are :mod:`curate.engine.resume`; the end of a run (schemas, stats, manifest) is
:mod:`curate.engine.finalize`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from curate.engine.compact import plan_folder
from curate.engine.errors import RunRefused
from curate.engine.executor import make_executor
from curate.engine.finalize import final_shards, finalize, shard_folders, unify_shards
from curate.engine.fingerprint import fingerprint
from curate.engine.layout import RunLayout
from curate.engine.lock import DEFAULT_LEASE_SECONDS, RunLock
from curate.engine.plan import Phase, plan_phases, plan_units
from curate.engine.progress import Progress
from curate.engine.publish import Publisher, bind_work_dir, default_work_dir
from curate.engine.resume import check_or_record_spec, check_remote, run_lock, sweep
from curate.engine.spec import PipelineSpec, load_spec
from curate.engine.stage import GlobalStage
from curate.engine.tasks import (
    MergeTask,
    PhaseTask,
    ReduceTask,
    make_stage,
    parquet_options,
    run_merge_task,
    run_phase_task,
    run_reduce_task,
)
from curate.engine.workstore import Sync, open_mirror, work_store
from curate.io import storage
from curate.io.writer import write_json_atomic


@dataclasses.dataclass
class RunResult:
    """A finished run: where it is and what it wrote."""

    out: Path  # the run's local folder: OUT itself, or the work folder of a run published to a URI
    manifest: dict[str, Any]
    stats: dict[str, Any]
    location: str = ""  # where the output lives: OUT, or the URI it was published to

    @property
    def shards(self) -> list[Path]:
        return [self.out / s["path"] for s in self.manifest["shards"]]

    def frame(self):
        """All output rows as a Polars LazyFrame."""
        import polars as pl

        return pl.scan_parquet([str(p) for p in self.shards])


class RunLog:
    """Structured JSON-lines log in OUT/logs/run.jsonl."""

    def __init__(self, layout: RunLayout):
        layout.logs.mkdir(parents=True, exist_ok=True)
        self.fh = open(layout.logs / "run.jsonl", "a", encoding="utf-8")

    def __call__(self, event: str, **kw: Any) -> None:
        self.fh.write(json.dumps({"t": round(time.time(), 3), "event": event, **kw}, default=str) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


@dataclasses.dataclass
class RunContext:
    """What every step of the driver needs: the run's spec (and its picklable payload for tasks),
    its folder, the executor the tasks go to, whether to draw progress bars, and the run log."""

    spec: PipelineSpec
    layout: RunLayout
    executor: Any  # LocalExecutor or RayExecutor: same interface
    payload: dict
    quiet: bool
    log: RunLog
    sync: Sync | None = None  # work state in an object store; None: the folder is the state


def run_pipeline(
    spec: PipelineSpec | str | Path,
    out: str | Path | None = None,
    workers: int = 1,
    force: bool = False,
    quiet: bool = False,
    executor: str = "local",
    address: str | None = None,
    work_dir: str | Path | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> RunResult:
    """Run a pipeline into ``out`` (default: ``spec.output.path``), resuming if it was interrupted.

    ``out`` may be a URI (``s3://bucket/run``): the run then works in ``work_dir`` (default:
    :func:`~curate.engine.publish.default_work_dir`) and publishes its output there at the end.
    ``work_dir`` may itself be an object store URI (``s3://bucket/work``): the work state then
    lives there (:mod:`curate.engine.workstore`), so Ray workers on machines with no shared disk
    cooperate, and the lock is a lease of ``lease_seconds`` (:mod:`curate.engine.lock`).
    """
    if not isinstance(spec, PipelineSpec):
        spec = load_spec(spec)
    if out is None:
        if not spec.output.path:
            raise RunRefused("no output folder: give -o OUT or set output.path in the pipeline")
        out = spec.output.path
    target = str(out)
    remote = target if storage.is_uri(target) else None
    store = work_store(work_dir)
    if store is not None:  # work state in the store; the driver's own copy in a local folder
        layout = RunLayout((Path(storage.strip_file_scheme(target)) if not remote
                            else default_work_dir(store.uri)).resolve())
    elif remote:
        layout = RunLayout(Path(work_dir or default_work_dir(remote)).resolve())
    elif work_dir is not None:
        raise RunRefused(
            "--work-dir is for outputs on remote storage (s3://...) or for work state on an object "
            "store (--work-dir s3://...); a local OUT works in OUT/_work"
        )
    else:
        layout = RunLayout(Path(storage.strip_file_scheme(target)).resolve())
    units = plan_units(spec)
    inputs = fingerprint([f.path for u in units for f in u.files], [s.config for s in spec.stages])
    lock = RunLock.lease(store, lease_seconds) if store is not None else run_lock(layout)
    with lock:
        mirror = open_mirror(store, layout, force) if store is not None else None
        if remote:
            check_remote(layout, remote, spec, force)
        check_or_record_spec(layout, spec, inputs, force)
        if remote:
            bind_work_dir(layout, remote)
        sweep(layout)
        log = RunLog(layout)
        publisher = Publisher(layout, remote) if remote else None
        try:
            sync = Sync(mirror, lock) if mirror is not None else None
            result = _run(spec, layout, units, workers, quiet, executor, address, log, publisher, sync)
            if publisher is not None:
                info = publisher.finish()
                log("published", output=remote, **info)
                if not quiet:
                    print(
                        f"published {info['files']} files ({info['bytes'] / 1e6:.1f} MB) to {remote}; "
                        f"{info['seconds']:.1f} s after the run"
                    )
            result.location = remote or str(layout.root)
            return result
        except KeyboardInterrupt:
            log("run_interrupted")
            with contextlib.suppress(OSError):  # the stopped tasks' temp files (done markers stay)
                sweep(layout)
            raise
        except BaseException as e:
            log("run_failed", error=f"{type(e).__name__}: {e}")
            with contextlib.suppress(OSError):  # e.g. the partial files of a write that hit a full disk
                sweep(layout)
            raise
        finally:
            if publisher is not None:
                publisher.close()
            log.close()


def _run(
    spec: PipelineSpec,
    layout: RunLayout,
    units: list,
    workers: int,
    quiet: bool,
    executor: str,
    address: str | None,
    log: RunLog,
    publisher: Publisher | None = None,
    sync: Sync | None = None,
) -> RunResult:
    t0 = time.perf_counter()
    phases = plan_phases(spec)
    payload = spec.model_dump(mode="json")
    log(
        "run_start",
        pipeline=spec.name,
        tasks=len(units),
        phases=len(phases),
        workers=workers,
        executor=executor,
    )
    write_json_atomic(
        layout.work / "plan.json",
        {
            "phases": [dataclasses.asdict(p) for p in phases],
            "units": [
                {"task": u.task_id, "input": u.input_index, "files": [f.relpath for f in u.files]}
                for u in units
            ],
        },
    )
    results: list[dict] = []
    reduce_results: list[dict] = []
    summaries: dict[str, Any] = {}
    with make_executor(executor, workers, address) as ex:
        if sync is None:  # with a store, no node needs to see this folder
            ex.check_shared(layout.work)
        ctx = RunContext(spec, layout, ex, payload, quiet, log, sync)
        for phase in phases:
            tasks = [PhaseTask(str(layout.root), payload, phase, u, len(units)) for u in units]
            ship = None
            if publisher is not None and phase.final and sync is None:
                # upload each task's shards as it finishes (not the small ones that get merged:
                # they go up, merged, at the end); with a store the driver has them only after
                small = _min_shard_bytes(spec)

                def ship(r: dict, small: int = small) -> None:
                    publisher.send(
                        [layout.root / sh["path"] for sh in r["shards"] if sh.get("bytes", 0) >= small]
                    )

            results += _run_tasks(ctx, run_phase_task, tasks, f"phase {phase.index}", ship)
            if phase.collect is not None:
                rr, summary = _run_reduce(ctx, phase, len(units))
                reduce_results += rr
                summaries[spec.stages[phase.collect].stage] = summary
        plans = _merge_small_shards(ctx, final_shards(layout, phases, results))
    manifest, stats = finalize(
        spec, layout, phases, units, results, reduce_results, summaries, plans, time.perf_counter() - t0
    )
    if sync is not None:  # the finished run folder in the store too (a resume there finds it done)
        sync.before()
    empty = stats["empty"]
    log(
        "run_done",
        rows=manifest["rows"],
        shards=len(manifest["shards"]),
        seconds=stats["throughput"]["wall_seconds"],
        empty_sources=len(empty["sources"]),
        empty_files=len(empty["files"]),
    )
    return RunResult(layout.root, manifest, stats)


def _min_shard_bytes(spec: PipelineSpec) -> int:
    return int(spec.output.min_shard_mb * 1e6)


def _merge_small_shards(ctx: RunContext, shards: list[Path]) -> dict[str, list[dict]]:
    """Plan (in the driver, after unifying schemas) and run (as tasks) the merges of small shards."""
    spec, layout = ctx.spec, ctx.layout
    opts = parquet_options(spec)
    min_bytes = _min_shard_bytes(spec)
    plans: dict[str, list[dict]] = {}
    if min_bytes <= 0:
        return plans
    for name, files in shard_folders(layout, shards).items():
        plan_file = layout.work / f"compact-{name}.json"
        plans[name] = plan_folder(
            layout.root,
            files,
            spec.output.shard_rows,
            min_bytes,
            plan_file,
            before=lambda fs: unify_shards(fs, opts),
        )
    tasks = []
    for b in (b for bins in plans.values() for b in bins):
        if (layout.root / b["out"]).exists():  # merged before: members here now are re-run copies
            for m in b["members"]:
                (layout.root / m).unlink(missing_ok=True)
        else:
            tasks.append(MergeTask(str(layout.root), ctx.payload, b))
    if tasks:
        _run_tasks(ctx, run_merge_task, tasks, "merge small shards")
    return plans


def _run_tasks(ctx: RunContext, fn, tasks: list, label: str, on_result=None) -> list[dict]:
    """Run the tasks without a done marker; ``on_result(result)`` for every task, done before or now."""
    done: dict[str, dict] = {}
    pending = []
    for t in tasks:
        marker = ctx.layout.done(t.name)
        if marker.exists():
            done[t.name] = json.loads(marker.read_text())
        else:
            pending.append(t)
    if done:
        ctx.log("resume", phase=label, skipped=len(done), pending=len(pending))
    if on_result is not None:
        for r in done.values():
            on_result(r)
    with Progress(label, total=len(tasks), initial=len(done), quiet=ctx.quiet) as bar:

        def on_done(t, r: dict) -> None:
            done[t.name] = r
            if on_result is not None:
                on_result(r)
            rows = sum(s["in"] for s in r.get("stages", [])[:1]) if r.get("stages") else 0
            bar.advance(rows, t.name)
            ctx.log("task_done", task=t.name, seconds=r.get("seconds"), rows=rows)

        before = len(getattr(ctx.executor, "retried", []))
        before_driver = len(getattr(ctx.executor, "ran_in_driver", []))
        if ctx.sync is None:
            ctx.executor.map(fn, pending, on_done, on_rows=lambda t, n: bar.running(t.name, n))
        else:
            ctx.sync.before()
            run, staged = ctx.sync.wrap(fn, pending)
            ctx.executor.map(run, staged, on_done, on_rows=lambda t, n: bar.running(t.name, n))
            ctx.sync.after()
        for name in getattr(ctx.executor, "retried", [])[before:]:
            ctx.log("task_retried", task=name, why="its worker process died")
        for name in getattr(ctx.executor, "ran_in_driver", [])[before_driver:]:
            ctx.log("task_in_driver", task=name, why="run by the driver while Ray started")
    return [done[t.name] for t in tasks]


def _run_reduce(ctx: RunContext, phase: Phase, n_tasks: int) -> tuple[list[dict], dict]:
    idx = phase.collect
    stage = make_stage(ctx.spec, ctx.layout, idx, None, n_tasks)
    assert isinstance(stage, GlobalStage)
    out: list[dict] = []
    k = 0
    while k < len(steps := stage.reduce_steps()):  # asked after each step: rounds add steps
        step = steps[k]
        tasks = [
            ReduceTask(str(ctx.layout.root), ctx.payload, idx, k, step.name, p, n_tasks)
            for p in range(step.n_partitions)
        ]
        out += _run_tasks(ctx, run_reduce_task, tasks, f"{stage.ctx.stage_name}:{step.name}")
        k += 1
    for r in out:
        r["stage_index"] = idx
    return out, stage.reduce_summary()
