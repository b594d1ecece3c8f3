"""Task bodies: what one worker does for one unit through one phase, or one reduce partition.

Tasks are plain functions of a picklable payload so that any executor (a local process pool, Ray)
can run them. Each task writes its outputs under temporary names, renames them into place, and
only then writes its done marker (with its stats), so a task killed at any point is simply re-run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from curate.engine import progress
from curate.engine.compact import merge_bin
from curate.engine.errors import StageContractError
from curate.engine.layout import RunLayout
from curate.engine.plan import Phase, Unit
from curate.engine.registry import resolve_stage
from curate.engine.spec import PipelineSpec
from curate.engine.stage import REASON, GlobalStage, Stage, StageContext, StageResult
from curate.engine.stats import StageStats
from curate.io import storage
from curate.io.readers.base import RAW_SNIPPET_CHARS, Malformed, make_id, readers
from curate.io.writer import ParquetOptions, ShardWriter, write_json_atomic

READ_STAGE = "read"


@dataclasses.dataclass(frozen=True)
class PhaseTask:
    run_dir: str
    spec: dict
    phase: Phase
    unit: Unit
    n_tasks: int

    @property
    def name(self) -> str:
        return f"p{self.phase.index}-{self.unit.task_id}"

    @property
    def inputs(self) -> list[str]:
        """The input files of this task's unit (named when the task fails)."""
        return [f.path for f in self.unit.files]


@dataclasses.dataclass(frozen=True)
class ReduceTask:
    run_dir: str
    spec: dict
    stage_index: int
    step_index: int
    step_name: str
    part: int
    n_tasks: int

    @property
    def name(self) -> str:
        return f"r{self.stage_index:02d}-{self.step_index}-{self.step_name}-{self.part:04d}"


@dataclasses.dataclass(frozen=True)
class MergeTask:
    """Merge one bin of small shards (:mod:`curate.engine.compact`)."""

    run_dir: str
    spec: dict
    bin: dict

    @property
    def name(self) -> str:
        return "m-" + xxhash.xxh64_hexdigest(self.bin["out"].encode())


def run_merge_task(task: MergeTask) -> dict[str, Any]:
    t0 = time.perf_counter()
    rows = merge_bin(Path(task.run_dir), task.bin, parquet_options(spec_from_payload(task.spec)))
    result = {
        "task": task.name,
        "out": task.bin["out"],
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 6),
    }
    write_json_atomic(RunLayout(Path(task.run_dir)).done(task.name), result)
    return result


def spec_from_payload(d: dict) -> PipelineSpec:
    return PipelineSpec.model_validate(d)


def make_stage(spec: PipelineSpec, layout: RunLayout, index: int, task_id: str | None, n_tasks: int) -> Stage:
    s = spec.stages[index]
    cls = resolve_stage(s.stage)
    name = cls.name or s.stage
    ctx = StageContext(
        run_dir=layout.root,
        work_dir=layout.stage_work(index, name),
        stage_index=index,
        stage_name=name,
        seed=spec.seed,
        task_id=task_id,
        n_tasks=n_tasks,
    )
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    return cls(cls.Config(**s.config), ctx)


def output_route(spec: PipelineSpec, layout: RunLayout, n_tasks: int) -> str | None:
    """The column that names output subfolders: the last stage of the pipeline that routes."""
    route = None
    for i in range(len(spec.stages)):
        route = make_stage(spec, layout, i, None, n_tasks).route_column() or route
    return route


def parquet_options(spec: PipelineSpec) -> ParquetOptions:
    o = spec.output
    return ParquetOptions(o.compression, o.compression_level, o.row_group_rows)


def malformed_frame(items: list[Malformed], source: str, relpath: str) -> pl.DataFrame:
    """Rejected rows for input that could not be read: id, source, file, position, reason, raw."""
    return pl.DataFrame(
        {
            "id": [make_id(source, relpath, m.position) + "-malformed" for m in items],
            "source": [source] * len(items),
            "file": [m.file for m in items],
            "position": [m.position for m in items],
            REASON: [m.reason for m in items],
            "detail": [m.detail for m in items],
            "raw": [m.raw[:RAW_SNIPPET_CHARS] for m in items],
        },
        schema={
            "id": pl.Utf8,
            "source": pl.Utf8,
            "file": pl.Utf8,
            "position": pl.Int64,
            REASON: pl.Utf8,
            "detail": pl.Utf8,
            "raw": pl.Utf8,
        },
    )


class _Rejects:
    """Lazily opened reject writers, one per stage."""

    def __init__(self, layout: RunLayout, task_id: str, opts: ParquetOptions, keep: bool):
        self.layout, self.task_id, self.opts, self.keep = layout, task_id, opts, keep
        self.writers: dict[int, ShardWriter] = {}

    def write(self, index: int, name: str, df: pl.DataFrame) -> None:
        if not self.keep or df.height == 0:
            return
        w = self.writers.get(index)
        if w is None:
            w = ShardWriter(
                self.layout.stage_rejects(index, name), f"part-{self.task_id}", 1 << 40, self.opts
            )
            self.writers[index] = w
        w.write(df.with_columns(pl.lit(name).alias("stage")))

    def commit(self) -> None:
        for w in self.writers.values():
            w.commit()


def _source_counts(df: pl.DataFrame, counts: dict[str, dict[str, int]]) -> None:
    if "source" not in df.columns or df.height == 0:
        return
    tok = None
    if "n_tokens" in df.columns:
        tok = pl.col("n_tokens").cast(pl.Int64)
    elif "input_ids" in df.columns:
        tok = pl.col("input_ids").list.len().cast(pl.Int64)
    aggs = [pl.len().alias("rows")] + ([tok.sum().alias("tokens")] if tok is not None else [])
    for row in df.group_by("source").agg(aggs).iter_rows(named=True):
        c = counts.setdefault(str(row["source"]), {"rows": 0, "tokens": 0})
        c["rows"] += int(row["rows"])
        c["tokens"] += int(row.get("tokens") or 0)


def _input_batches(
    task: PhaseTask, spec: PipelineSpec, layout: RunLayout, read_stats: StageStats, rejects: _Rejects
) -> Iterator[pl.DataFrame]:
    """Phase 0: the unit's files through its reader. Later phases: the previous phase's output."""
    if task.phase.index == 0:
        inp = spec.inputs[task.unit.input_index]
        reader_cls = readers()[inp.reader]
        reader = reader_cls(reader_cls.Config(**inp.options), inp.source)
        files = {f.path: f for f in task.unit.files}
        # Readers that stream URIs read remote files where they are; others get local copies
        # (fetched one file ahead of the reader).
        sources = (
            ((p, p if storage.is_uri(p) else Path(p)) for p in files)
            if reader.reads_uris
            else storage.local_copies(list(files))
        )
        for path, local in sources:
            f = files[path]
            read_stats.counters["files"] += 1
            with contextlib.suppress(OSError):
                read_stats.counters["bytes"] += storage.size(local)
            t0 = time.perf_counter()
            for batch in reader.read(local, f.relpath):
                read_stats.seconds += time.perf_counter() - t0
                n_bad = sum(m.rows for m in batch.malformed)  # a bad row group stands for its rows
                read_stats.rows_in += batch.table.num_rows + n_bad
                read_stats.rows_out += batch.table.num_rows
                read_stats.emitted += batch.table.num_rows
                progress.report_rows(batch.table.num_rows + n_bad)
                if n_bad:
                    for m in batch.malformed:
                        read_stats.dropped[m.reason] += m.rows
                    rejects.write(-1, READ_STAGE, malformed_frame(batch.malformed, inp.source, f.relpath))
                if batch.table.num_rows:
                    yield pl.from_arrow(batch.table)
                t0 = time.perf_counter()
        return
    prev = layout.phase_output(task.phase.index - 1)
    for path in sorted(prev.glob(f"{task.unit.task_id}-*.parquet")):
        pf = pq.ParquetFile(path)
        for rb in pf.iter_batches(batch_size=spec.batch_rows):
            progress.report_rows(rb.num_rows)
            yield pl.from_arrow(pa.Table.from_batches([rb]))


def run_phase_task(task: PhaseTask) -> dict[str, Any]:
    """Run one unit through one phase; returns (and records in its done marker) its stats."""
    t_start = time.perf_counter()
    spec = spec_from_payload(task.spec)
    layout = RunLayout(Path(task.run_dir))
    tid = task.unit.task_id
    opts = parquet_options(spec)
    stages = [make_stage(spec, layout, i, tid, task.n_tasks) for i in task.phase.stages]
    collector: GlobalStage | None = None
    if task.phase.collect is not None:
        g = make_stage(spec, layout, task.phase.collect, tid, task.n_tasks)
        assert isinstance(g, GlobalStage)
        collector = g
    for s in stages + ([collector] if collector else []):
        s.setup()
    stats = [StageStats(s.ctx.stage_name, s.ctx.stage_index) for s in stages]
    read_stats = StageStats(READ_STAGE, -1)
    rejects = _Rejects(layout, tid, opts, spec.output.keep_rejects)
    if task.phase.final:
        # The routing stage (langid route: true) often runs in an earlier phase than the writer.
        route = output_route(spec, layout, task.n_tasks)
        out = ShardWriter(layout.data, f"part-{tid}", spec.output.shard_rows, opts, route=route)
    else:
        out = ShardWriter(layout.phase_output(task.phase.index), tid, 1 << 40, opts)
    source_counts: dict[str, dict[str, int]] = {}
    stats_collect = (
        StageStats(collector.ctx.stage_name, collector.ctx.stage_index) if collector else StageStats("", -2)
    )

    def push(df: pl.DataFrame, start: int) -> None:
        for j in range(start, len(stages)):
            if df.height == 0:
                return
            df = _apply(stages[j], stats[j], df, rejects)
        _emit(df)

    def _emit(df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        if collector is not None:
            t0 = time.perf_counter()
            collector.collect(df)
            stats_collect.seconds += time.perf_counter() - t0
            stats_collect.rows_in += df.height
        if task.phase.final:
            _source_counts(df, source_counts)
        out.write(df)

    try:
        for df in _input_batches(task, spec, layout, read_stats, rejects):
            push(df, 0)
        for j, s in enumerate(stages):
            t0 = time.perf_counter()
            res = s.flush()
            stats[j].seconds += time.perf_counter() - t0
            if res is not None:
                _account(s, stats[j], 0, res, rejects)
                push(res.kept, j + 1)
        if collector is not None:
            t0 = time.perf_counter()
            collector.finish_collect()
            stats_collect.seconds += time.perf_counter() - t0
        shards = out.commit(checksum=task.phase.final)
        rejects.commit()
    except BaseException:
        out.abort()
        raise
    result = {
        "task": task.name,
        "phase": task.phase.index,
        "unit": task.unit.index,
        "files": [f.relpath for f in task.unit.files],
        "stages": ([read_stats.to_dict()] if task.phase.index == 0 else []) + [s.to_dict() for s in stats],
        "collect": stats_collect.to_dict() if collector else None,
        "shards": [dict(sh, path=str(sh["path"].relative_to(layout.root))) for sh in shards]
        if task.phase.final
        else [],
        "sources": source_counts,
        "seconds": round(time.perf_counter() - t_start, 6),
    }
    write_json_atomic(layout.done(task.name), result)
    return result


def _apply(stage: Stage, st: StageStats, df: pl.DataFrame, rejects: _Rejects) -> pl.DataFrame:
    t0 = time.perf_counter()
    res = stage.process(df)
    st.seconds += time.perf_counter() - t0
    _account(stage, st, df.height, res, rejects)
    return res.kept


def _account(stage: Stage, st: StageStats, n_in: int, res: StageResult, rejects: _Rejects) -> None:
    if n_in != res.n_out + res.n_dropped:
        raise StageContractError(
            f"stage {stage.ctx.stage_name!r} broke the filter contract: in={n_in} != "
            f"out={res.n_out} + dropped={res.n_dropped}"
        )
    st.rows_in += n_in
    st.rows_out += res.n_out
    st.emitted += res.kept.height
    st.counters.update(res.counters)
    if res.dropped is not None and res.dropped.height:
        if REASON not in res.dropped.columns:
            raise StageContractError(
                f"stage {stage.ctx.stage_name!r} dropped rows without a {REASON!r} column"
            )
        for reason, n in res.dropped.group_by(REASON).len().iter_rows():
            st.dropped[str(reason)] += int(n)
        rejects.write(stage.ctx.stage_index, stage.ctx.stage_name, res.dropped)


def run_reduce_task(task: ReduceTask) -> dict[str, Any]:
    """Run one partition of one reduce step of a global stage."""
    t0 = time.perf_counter()
    spec = spec_from_payload(task.spec)
    layout = RunLayout(Path(task.run_dir))
    stage = make_stage(spec, layout, task.stage_index, None, task.n_tasks)
    assert isinstance(stage, GlobalStage)
    step = stage.reduce_step(task.step_index, task.step_name)
    counters = step.run(task.part) or {}
    result = {"task": task.name, "counters": counters, "seconds": round(time.perf_counter() - t0, 6)}
    write_json_atomic(layout.done(task.name), result)
    return result
