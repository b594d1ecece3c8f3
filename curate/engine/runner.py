"""The driver: lock the output folder, plan, run phases (resuming), finalize the output contract.

``run_pipeline(spec, out)`` is the whole of ``curate run``. Re-running on the same folder resumes:
tasks with a done marker are skipped. A changed config on an existing folder is refused with the
changed keys named (``force=True`` starts over). Two runs on one folder: the second is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate import __version__
from curate.engine.compact import after_merges, plan_folder
from curate.engine.executor import make_executor
from curate.engine.fingerprint import changes as fingerprint_changes
from curate.engine.fingerprint import digest as fingerprint_digest
from curate.engine.fingerprint import fingerprint
from curate.engine.layout import RunLayout
from curate.engine.plan import Phase, plan_phases, plan_units
from curate.engine.progress import Progress
from curate.engine.publish import (
    Publisher,
    bind_work_dir,
    bound_output,
    clear,
    default_work_dir,
    remote_manifest,
)
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
from curate.io import storage
from curate.io.writer import (
    TMP_MARK,
    ParquetOptions,
    conform,
    sha256_file,
    sweep_temp_files,
    write_json_atomic,
)
from curate.report import report_or_warn


class RunRefused(Exception):
    """The run cannot start (locked folder, changed config); the message says what to do."""


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


@contextlib.contextmanager
def run_lock(layout: RunLayout) -> Iterator[None]:
    """An exclusive lock on the output folder for the run's duration (released by the OS on kill)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    fh = open(layout.lock, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise RunRefused(f"{layout.root} is in use by another curate run (pid {holder}); wait for it or use another -o") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(d, list):
        out = {}
        for i, v in enumerate(d):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out or {prefix: []}
    return {prefix: d}


def changed_keys(old: dict, new: dict) -> list[str]:
    a, b = _flatten(old), _flatten(new)
    return sorted(k for k in set(a) | set(b) if a.get(k, "<absent>") != b.get(k, "<absent>"))


def _check_or_record_spec(layout: RunLayout, spec: PipelineSpec, inputs: dict, force: bool) -> None:
    """Refuse to resume a folder whose run had another config or read other files; else record ours."""
    new = spec.hashed_dict()
    inputs_file = layout.work / "inputs.json"
    if layout.spec.exists() and not force:
        old = json.loads(layout.spec.read_text())
        if old.get("config_sha256") != spec.config_sha256():
            keys = changed_keys(old.get("config", {}), new)
            raise RunRefused(
                f"{layout.root} holds a run with a different config (changed: {', '.join(keys) or '?'}); "
                "use --force to start over, or another output folder"
            )
        now = library_versions()
        moved = {k: v for k, v in (old.get("versions") or {}).items() if now.get(k) != v}
        if moved:
            what = ", ".join(f"{k} {v} -> {now.get(k)}" for k, v in moved.items())
            pins = " ".join(f"{k}=={v}" for k, v in moved.items())
            raise RunRefused(
                f"{layout.root} was begun with other library versions ({what}); finished tasks "
                f"might not match new ones byte for byte. Reinstall them (pip install {pins}) to resume, "
                "or use --force to start over"
            )
        if old.get("inputs_sha256") not in (None, fingerprint_digest(inputs)):
            before = json.loads(inputs_file.read_text()) if inputs_file.exists() else {}
            what = "\n  ".join(fingerprint_changes(before, inputs)) or "?"
            raise RunRefused(
                f"{layout.root} was built from files that have changed since (finished tasks would be stale):\n  {what}\n"
                "use --force to start over, or another output folder"
            )
        return
    if force:
        for p in (layout.data, layout.rejects, layout.work, layout.logs):
            shutil.rmtree(p, ignore_errors=True)
        for p in (layout.manifest, layout.stats, layout.report, layout.root / "chat_template.jinja"):
            p.unlink(missing_ok=True)
    write_json_atomic(inputs_file, inputs)
    write_json_atomic(layout.spec, {
        "config": new,
        "config_sha256": spec.config_sha256(),
        "inputs_sha256": fingerprint_digest(inputs),
        "versions": library_versions(),
    })


# Libraries whose version can change output bytes (hashing, parsing, writing, extraction, tokens).
VERSIONED = ("curate", "polars", "pyarrow", "numpy", "orjson", "xxhash", "fastwarc", "trafilatura",
             "resiliparse", "fasttext-predict", "tokenizers")


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries a run's bytes depend on (recorded when a run begins)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


class _Log:
    """Structured JSON-lines log in OUT/logs/run.jsonl."""

    def __init__(self, layout: RunLayout):
        layout.logs.mkdir(parents=True, exist_ok=True)
        self.fh = open(layout.logs / "run.jsonl", "a", encoding="utf-8")

    def __call__(self, event: str, **kw: Any) -> None:
        self.fh.write(json.dumps({"t": round(time.time(), 3), "event": event, **kw}, default=str) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def run_pipeline(
    spec: PipelineSpec | str | Path,
    out: str | Path | None = None,
    workers: int = 1,
    force: bool = False,
    quiet: bool = False,
    executor: str = "local",
    address: str | None = None,
    work_dir: str | Path | None = None,
) -> RunResult:
    """Run a pipeline into ``out`` (default: ``spec.output.path``), resuming if it was interrupted.

    ``out`` may be a URI (``s3://bucket/run``): the run then works in ``work_dir`` (default:
    :func:`~curate.engine.publish.default_work_dir`) and publishes its output there at the end.
    """
    if not isinstance(spec, PipelineSpec):
        spec = load_spec(spec)
    if out is None:
        if not spec.output.path:
            raise RunRefused("no output folder: give -o OUT or set output.path in the pipeline")
        out = spec.output.path
    target = str(out)
    remote = target if storage.is_uri(target) else None
    if remote:
        layout = RunLayout(Path(work_dir or default_work_dir(remote)).resolve())
    elif work_dir is not None:
        raise RunRefused("--work-dir is for outputs on remote storage (s3://...); a local OUT works in OUT/_work")
    else:
        layout = RunLayout(Path(storage.strip_file_scheme(target)).resolve())
    units = plan_units(spec)
    inputs = fingerprint([f.path for u in units for f in u.files], [s.config for s in spec.stages])
    with run_lock(layout):
        if remote:
            _check_remote(layout, remote, spec, force)
        _check_or_record_spec(layout, spec, inputs, force)
        if remote:
            bind_work_dir(layout, remote)
        sweep_temp_files(layout.root)
        log = _Log(layout)
        publisher = Publisher(layout, remote) if remote else None
        try:
            result = _run(spec, layout, units, workers, quiet, executor, address, log, publisher)
            if publisher is not None:
                info = publisher.finish()
                log("published", output=remote, **info)
                if not quiet:
                    print(f"published {info['files']} files ({info['bytes'] / 1e6:.1f} MB) to {remote}; {info['seconds']:.1f} s after the run")
            result.location = remote or str(layout.root)
            return result
        except BaseException as e:
            log("run_failed", error=f"{type(e).__name__}: {e}")
            raise
        finally:
            if publisher is not None:
                publisher.close()
            log.close()


def _check_remote(layout: RunLayout, uri: str, spec: PipelineSpec, force: bool) -> None:
    """A URI output: refuse a work folder that serves another output, or overwriting another
    config's output; ``force`` clears the output's contract files first."""
    bound = bound_output(layout)
    if bound not in (None, uri):
        raise RunRefused(f"work folder {layout.root} belongs to the run publishing to {bound}; give another --work-dir")
    if force:
        clear(uri)
        return
    old = remote_manifest(uri)
    if old is not None and old.get("config_sha256") != spec.config_sha256():
        keys = changed_keys(old.get("config", {}), spec.hashed_dict())
        raise RunRefused(
            f"{uri} holds the output of a run with a different config (changed: {', '.join(keys) or '?'}); "
            "use --force to replace it, or another output"
        )


def _run(
    spec: PipelineSpec,
    layout: RunLayout,
    units: list,
    workers: int,
    quiet: bool,
    executor: str,
    address: str | None,
    log: _Log,
    publisher: Publisher | None = None,
) -> RunResult:
    t0 = time.perf_counter()
    phases = plan_phases(spec)
    payload = spec.model_dump(mode="json")
    log("run_start", pipeline=spec.name, tasks=len(units), phases=len(phases), workers=workers, executor=executor)
    write_json_atomic(layout.work / "plan.json", {
        "phases": [dataclasses.asdict(p) for p in phases],
        "units": [{"task": u.task_id, "input": u.input_index, "files": [f.relpath for f in u.files]} for u in units],
    })
    results: list[dict] = []
    reduce_results: list[dict] = []
    summaries: dict[str, Any] = {}
    with make_executor(executor, workers, address) as ex:
        ex.check_shared(layout.work)
        for phase in phases:
            tasks = [PhaseTask(str(layout.root), payload, phase, u, len(units)) for u in units]
            ship = None
            if publisher is not None and phase.final:  # upload each task's shards as it finishes
                # (not the small ones that get merged: they go up, merged, at the end)
                small = _min_shard_bytes(spec)

                def ship(r: dict, small: int = small) -> None:
                    publisher.send([layout.root / sh["path"] for sh in r["shards"] if sh.get("bytes", 0) >= small])

            results += _run_tasks(ex, run_phase_task, tasks, layout, f"phase {phase.index}", quiet, log, ship)
            if phase.collect is not None:
                rr, summary = _run_reduce(ex, spec, layout, phase, payload, len(units), quiet, log)
                reduce_results += rr
                summaries[spec.stages[phase.collect].stage] = summary
        plans = _merge_small_shards(ex, spec, layout, _final_shards(layout, phases, results), payload, quiet, log)
    manifest, stats = _finalize(spec, layout, phases, results, reduce_results, summaries, plans, time.perf_counter() - t0)
    log("run_done", rows=manifest["rows"], shards=len(manifest["shards"]), seconds=stats["throughput"]["wall_seconds"])
    return RunResult(layout.root, manifest, stats)


def _min_shard_bytes(spec: PipelineSpec) -> int:
    return int(spec.output.min_shard_mb * 1e6)


def _final_shards(layout: RunLayout, phases: list[Phase], results: list[dict]) -> list[Path]:
    return [layout.root / s["path"] for r in results if r["phase"] == phases[-1].index for s in r["shards"]]


def _shard_folders(layout: RunLayout, shards: list[Path]) -> dict[str, list[Path]]:
    """The run's shard lists by plan name: ``data`` and ``rejects-<stage folder>``."""
    groups = {"data": shards}
    if layout.rejects.exists():  # each stage's rejects read as one table too
        for d in sorted(p for p in layout.rejects.iterdir() if p.is_dir()):
            groups[f"rejects-{d.name}"] = sorted(d.glob("*.parquet"))
    return groups


def _merge_small_shards(ex, spec: PipelineSpec, layout: RunLayout, shards: list[Path], payload: dict, quiet: bool, log: _Log) -> dict[str, list[dict]]:
    """Plan (in the driver, after unifying schemas) and run (as tasks) the merges of small shards."""
    opts = parquet_options(spec)
    min_bytes = _min_shard_bytes(spec)
    plans: dict[str, list[dict]] = {}
    if min_bytes <= 0:
        return plans
    for name, files in _shard_folders(layout, shards).items():
        plan_file = layout.work / f"compact-{name}.json"
        plans[name] = plan_folder(layout.root, files, spec.output.shard_rows, min_bytes, plan_file, before=lambda fs: unify_shards(fs, opts))
    tasks = []
    for b in (b for bins in plans.values() for b in bins):
        if (layout.root / b["out"]).exists():  # merged before: members here now are re-run copies
            for m in b["members"]:
                (layout.root / m).unlink(missing_ok=True)
        else:
            tasks.append(MergeTask(str(layout.root), payload, b))
    if tasks:
        _run_tasks(ex, run_merge_task, tasks, layout, "merge small shards", quiet, log)
    return plans


def _run_tasks(ex, fn, tasks: list, layout: RunLayout, label: str, quiet: bool, log: _Log, on_result=None) -> list[dict]:
    """Run the tasks without a done marker; ``on_result(result)`` for every task, done before or now."""
    done: dict[str, dict] = {}
    pending = []
    for t in tasks:
        marker = layout.done(t.name)
        if marker.exists():
            done[t.name] = json.loads(marker.read_text())
        else:
            pending.append(t)
    if done:
        log("resume", phase=label, skipped=len(done), pending=len(pending))
    if on_result is not None:
        for r in done.values():
            on_result(r)
    with Progress(label, total=len(tasks), initial=len(done), quiet=quiet) as bar:

        def on_done(t, r: dict) -> None:
            done[t.name] = r
            if on_result is not None:
                on_result(r)
            rows = sum(s["in"] for s in r.get("stages", [])[:1]) if r.get("stages") else 0
            bar.advance(rows)
            log("task_done", task=t.name, seconds=r.get("seconds"), rows=rows)

        ex.map(fn, pending, on_done)
    return [done[t.name] for t in tasks]


def _run_reduce(ex, spec, layout, phase: Phase, payload, n_tasks, quiet, log) -> tuple[list[dict], dict]:
    idx = phase.collect
    stage = make_stage(spec, layout, idx, None, n_tasks)
    assert isinstance(stage, GlobalStage)
    out: list[dict] = []
    for k, step in enumerate(stage.reduce_steps()):
        tasks = [ReduceTask(str(layout.root), payload, idx, k, step.name, p, n_tasks) for p in range(step.n_partitions)]
        out += _run_tasks(ex, run_reduce_task, tasks, layout, f"{stage.ctx.stage_name}:{step.name}", quiet, log)
    for r in out:
        r["stage_index"] = idx
    return out, stage.reduce_summary()


# --------------------------------------------------------------------------- finalize


def _common_schema(schemas: list[pa.Schema]) -> pa.Schema:
    """The schema all shards can share: types promoted where Arrow can, JSON text where it cannot."""
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    # A column that is an int in one shard and a string in another: store it as text everywhere.
    by_name: dict[str, list[pa.DataType]] = {}
    for s in schemas:
        for f in s:
            by_name.setdefault(f.name, []).append(f.type)
    fields = []
    for name, types in by_name.items():
        try:
            fields.append(pa.unify_schemas([pa.schema([pa.field(name, t)]) for t in types], promote_options="permissive").field(0))
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            fields.append(pa.field(name, pa.large_string()))
    return pa.schema(fields)


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as (JSON) text, for values whose types cannot share one Arrow type."""
    try:
        return col.cast(pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        import orjson

        return pa.chunked_array([pa.array([None if v is None else orjson.dumps(v, default=str).decode() for v in col.to_pylist()], type=pa.large_string())])


def unify_shards(paths: list[Path], opts: ParquetOptions | None = None) -> pa.Schema | None:
    """Give every shard the same schema (new columns as nulls, types promoted), rewriting only the odd ones."""
    if not paths:
        return None
    schemas = [pq.read_schema(p).remove_metadata() for p in paths]
    unified = _common_schema(schemas)
    for p, s in zip(paths, schemas, strict=True):
        if s.equals(unified):
            continue
        table = pq.ParquetFile(p).read()
        for f in unified:
            if f.name in table.column_names and pa.types.is_large_string(f.type) and table.schema.field(f.name).type != f.type:
                table = table.set_column(table.column_names.index(f.name), f.name, _as_text(table.column(f.name)))
        table = conform(table, unified)
        if table is None:
            raise RuntimeError(f"cannot bring {p} to the run's common schema {unified}")
        # Rewritten with the run's own writer settings, so a unified shard looks like any other.
        opts = opts or ParquetOptions()
        tmp = p.with_name(p.name + f"{TMP_MARK}{os.getpid()}")
        with pq.ParquetWriter(tmp, table.schema, **opts.writer_kwargs(table.schema)) as w:
            w.write_table(table, row_group_size=opts.row_group_rows)
        os.replace(tmp, p)
    return unified


def _finalize(spec, layout: RunLayout, phases, results, reduce_results, summaries, plans: dict[str, list[dict]], wall: float):
    # A worker killed mid-write (and retried elsewhere, as Ray does) can leave a temp file behind.
    sweep_temp_files(layout.root)
    final = [r for r in results if r["phase"] == phases[-1].index]
    opts = parquet_options(spec)
    groups = {k: after_merges(layout.root, v, plans.get(k, [])) for k, v in _shard_folders(layout, _final_shards(layout, phases, results)).items()}
    for files in groups.values():
        unify_shards(files, opts)  # a no-op where the merge step's unification already ran
    shard_paths = groups["data"]
    committed = {layout.root / s["path"]: s for r in final for s in r["shards"]}
    shards = []
    for p in shard_paths:
        st, c = p.stat(), committed.get(p, {})
        # The task's hash holds while the file is the one it wrote (finalize may have rewritten it).
        same = c.get("sha256") and (c.get("bytes"), c.get("mtime_ns")) == (st.st_size, st.st_mtime_ns)
        shards.append({
            "path": str(p.relative_to(layout.root)),
            "rows": c["rows"] if same else pq.ParquetFile(p).metadata.num_rows,
            "bytes": st.st_size,
            "sha256": c["sha256"] if same else sha256_file(p),
        })
    sources: dict[str, dict[str, int]] = {}
    for r in final:
        for src, c in r["sources"].items():
            agg = sources.setdefault(src, {"rows": 0, "tokens": 0})
            agg["rows"] += c["rows"]
            agg["tokens"] += c["tokens"]
    stages = _merge_stage_stats(spec, results, reduce_results)
    read = next((s for s in stages if s["name"] == "read"), None)
    n_in = read["in"] if read else 0
    n_bytes = read["counters"].get("bytes", 0) if read else 0
    stats = {
        "pipeline": spec.name,
        "stages": stages,
        "global": summaries,
        "totals": {
            "input_records": n_in,
            "output_rows": sum(s["rows"] for s in shards),
            "dropped": sum(sum(s["dropped"].values()) for s in stages),
        },
        "throughput": {
            "wall_seconds": round(wall, 3),
            "docs_per_s": round(n_in / wall, 1) if wall > 0 else None,
            "input_mb_per_s": round(n_bytes / 1e6 / wall, 2) if wall > 0 else None,
        },
    }
    manifest = {
        "name": spec.name,
        "tool": {"name": "curate", "version": __version__, "libraries": library_versions()},
        "config": spec.hashed_dict(),
        "config_sha256": spec.config_sha256(),
        "origin": spec.origin,
        "overrides": spec.overrides,
        "rows": sum(s["rows"] for s in shards),
        "shards": shards,
        "sources": dict(sorted(sources.items())),
        "global": summaries,
    }
    write_json_atomic(layout.stats, stats)
    write_json_atomic(layout.manifest, manifest)
    report_or_warn(layout.root)  # OUT/report.html; a report failure is a warning, never a failed run
    return manifest, stats


def _merge_stage_stats(spec: PipelineSpec, results: list[dict], reduce_results: list[dict]) -> list[dict]:
    merged: dict[int, dict] = {}

    def slot(index: int, name: str) -> dict:
        return merged.setdefault(index, {"name": name, "index": index, "in": 0, "out": 0, "emitted": 0, "dropped": {}, "counters": {}, "seconds": 0.0})

    for r in results:
        for s in r["stages"]:
            m = slot(s["index"], s["name"])
            for k in ("in", "out", "emitted"):
                m[k] += s[k]
            m["seconds"] += s["seconds"]
            for k, v in s["dropped"].items():
                m["dropped"][k] = m["dropped"].get(k, 0) + v
            for k, v in s["counters"].items():
                m["counters"][k] = m["counters"].get(k, 0) + v
        if r.get("collect"):
            c = r["collect"]
            slot(c["index"], c["name"])["seconds"] += c["seconds"]
    for r in reduce_results:
        m = merged.get(r["stage_index"])
        if m is not None:
            m["seconds"] += r["seconds"]
            for k, v in (r.get("counters") or {}).items():
                if isinstance(v, int | float):
                    m["counters"][k] = m["counters"].get(k, 0) + v
    out = []
    for index in sorted(merged):
        m = merged[index]
        m["seconds"] = round(m["seconds"], 3)
        m["dropped"] = dict(sorted(m["dropped"].items()))
        m["counters"] = dict(sorted(m["counters"].items()))
        if m["in"] != m["out"] + sum(m["dropped"].values()):
            raise RuntimeError(f"stage {m['name']} does not balance: {m}")
        out.append(m)
    return out
