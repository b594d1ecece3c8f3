"""The end of a run: one schema for all shards, the run's stats, the manifest and the report.

Called by the driver once every task is done; everything here reads the run folder and the tasks'
results, and writes the contract files last (``stats.json``, ``manifest.json``, ``report.html``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate import __version__
from curate.engine.compact import after_merges
from curate.engine.empty import empty_inputs
from curate.engine.layout import RunLayout
from curate.engine.plan import Phase, Unit
from curate.engine.resume import library_versions, sweep
from curate.engine.spec import PipelineSpec
from curate.engine.stats import TaskResult
from curate.engine.tasks import make_stage, parquet_options
from curate.io.writer import TMP_MARK, ParquetOptions, conform, sha256_file, write_json_atomic
from curate.report import report_or_warn


def final_shards(layout: RunLayout, phases: list[Phase], results: list[dict]) -> list[Path]:
    """The shards the last phase's tasks wrote, as the tasks reported them."""
    return [layout.root / s["path"] for r in results if r["phase"] == phases[-1].index for s in r["shards"]]


def shard_folders(layout: RunLayout, shards: list[Path]) -> dict[str, list[Path]]:
    """The run's shard lists by plan name: ``data`` and ``rejects-<stage folder>``."""
    groups = {"data": shards}
    if layout.rejects.exists():  # each stage's rejects read as one table too
        for d in sorted(p for p in layout.rejects.iterdir() if p.is_dir()):
            groups[f"rejects-{d.name}"] = sorted(d.glob("*.parquet"))
    return groups


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
            fields.append(
                pa.unify_schemas(
                    [pa.schema([pa.field(name, t)]) for t in types], promote_options="permissive"
                ).field(0)
            )
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            fields.append(pa.field(name, pa.large_string()))
    return pa.schema(fields)


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as (JSON) text, for values whose types cannot share one Arrow type."""
    try:
        return col.cast(pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        import orjson

        return pa.chunked_array(
            [
                pa.array(
                    [None if v is None else orjson.dumps(v, default=str).decode() for v in col.to_pylist()],
                    type=pa.large_string(),
                )
            ]
        )


def unify_shards(paths: list[Path], opts: ParquetOptions | None = None) -> pa.Schema | None:
    """Give every shard the same schema (new columns as nulls, types promoted), rewriting only the odd
    ones."""
    if not paths:
        return None
    schemas = [pq.read_schema(p).remove_metadata() for p in paths]
    unified = _common_schema(schemas)
    for p, s in zip(paths, schemas, strict=True):
        if s.equals(unified):
            continue
        table = pq.ParquetFile(p).read()
        for f in unified:
            if (
                f.name in table.column_names
                and pa.types.is_large_string(f.type)
                and table.schema.field(f.name).type != f.type
            ):
                table = table.set_column(
                    table.column_names.index(f.name), f.name, _as_text(table.column(f.name))
                )
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


def finalize(
    spec: PipelineSpec,
    layout: RunLayout,
    phases: list[Phase],
    units: list[Unit],
    results: list[dict],
    reduce_results: list[dict],
    summaries: dict[str, Any],
    plans: dict[str, list[dict]],
    wall: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Unify shard schemas, merge the tasks' stats, write ``stats.json``, ``manifest.json`` and the
    report; returns (manifest, stats)."""
    # A worker killed mid-write (and retried elsewhere, as Ray does) can leave a temp file behind.
    sweep(layout)
    final = [r for r in results if r["phase"] == phases[-1].index]
    opts = parquet_options(spec)
    groups = {
        k: after_merges(layout.root, v, plans.get(k, []))
        for k, v in shard_folders(layout, final_shards(layout, phases, results)).items()
    }
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
    # Exports derived from the final shards (format's megatron/nanogpt/mds), before the manifest.
    exports = None
    if spec.stages:
        exports = make_stage(spec, layout, len(spec.stages) - 1, None, len(units)).finish_run(shards)
    total = sum((TaskResult.from_dict(r) for r in results + reduce_results), start=TaskResult())
    total.check_balance()
    stages = [s.to_dict(digits=3) for s in total.stage_list()]
    sources = total.sources
    read = next((s for s in stages if s["name"] == "read"), None)
    n_in = read["in"] if read else 0
    n_bytes = read["counters"].get("bytes", 0) if read else 0
    stats = {
        "pipeline": spec.name,
        "stages": stages,
        "global": summaries,
        "empty": empty_inputs(spec, units, results, phases[-1].index),
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
        "sources": sources,
        "global": summaries,
    }
    if exports:
        manifest["exports"] = exports
    write_json_atomic(layout.stats, stats)
    write_json_atomic(layout.manifest, manifest)
    report_or_warn(layout.root)  # OUT/report.html; a report failure is a warning, never a failed run
    return manifest, stats
