"""A small stand-in for the engine's global-stage contract, so dedup stages are testable alone.

``run_global`` splits a DataFrame into tasks, runs collect/finish_collect per task (fresh stage
instance each, as separate worker processes would), the reduce steps partition by partition (fresh
instance per partition), then process per task, and returns kept and dropped rows.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import polars as pl
import pytest

from curate.engine.stage import GlobalStage, StageContext


@dataclasses.dataclass
class GlobalRun:
    kept: pl.DataFrame
    dropped: pl.DataFrame
    counters: dict
    reduce_counters: dict
    summary: dict
    work_dir: Path


def split_tasks(df: pl.DataFrame, n_tasks: int) -> list[pl.DataFrame]:
    size = -(-df.height // n_tasks) if df.height else 0
    return [df.slice(i * size, size) for i in range(n_tasks)]


def make(
    cls: type[GlobalStage], config: dict, work_dir: Path, task_id: str | None, n_tasks: int
) -> GlobalStage:
    ctx = StageContext(
        run_dir=work_dir.parent,
        work_dir=work_dir,
        stage_index=0,
        stage_name=cls.name,
        task_id=task_id,
        n_tasks=n_tasks,
    )
    return cls(cls.Config(**config), ctx)


def collect_phase(cls, config, df, work_dir, n_tasks, batch_rows=None):
    for t, part in enumerate(split_tasks(df, n_tasks)):
        st = make(cls, config, work_dir, f"{t:05d}", n_tasks)
        st.setup()
        step = batch_rows or max(part.height, 1)
        for off in range(0, max(part.height, 1), step):
            st.collect(part.slice(off, step))
        st.finish_collect()


def reduce_phase(cls, config, work_dir, n_tasks, shuffle_partitions=False):
    counters: dict = {}
    driver = make(cls, config, work_dir, None, n_tasks)
    i = 0
    while i < len(steps := driver.reduce_steps()):  # the list may grow as steps finish (rounds)
        step = steps[i]
        i += 1
        parts = list(range(step.n_partitions))
        if shuffle_partitions:
            random.Random(7).shuffle(parts)
        for p in parts:
            # a fresh instance per partition: a reduce task may run in any process
            fresh = make(cls, config, work_dir, None, n_tasks).reduce_step(i - 1, step.name)
            for k, v in fresh.run(p).items():
                counters[f"{step.name}.{k}"] = counters.get(f"{step.name}.{k}", 0) + v
    return counters


def apply_phase(cls, config, df, work_dir, n_tasks, batch_rows=None):
    kept, dropped, counters = [], [], {}
    for t, part in enumerate(split_tasks(df, n_tasks)):
        st = make(cls, config, work_dir, f"{t:05d}", n_tasks)
        st.setup()
        step = batch_rows or max(part.height, 1)
        for off in range(0, part.height, step):
            res = st.process(part.slice(off, step))
            kept.append(res.kept)
            if res.dropped is not None:
                dropped.append(res.dropped)
            for k, v in res.counters.items():
                counters[k] = counters.get(k, 0) + v
    kept_df = pl.concat(kept, how="diagonal_relaxed") if kept else df.clear()
    empty = pl.DataFrame(
        schema={**df.schema, "reason": pl.Utf8, "duplicate_of": pl.Utf8, "cluster_size": pl.Int64}
    )
    dropped_df = pl.concat(dropped, how="diagonal_relaxed") if dropped else empty
    return kept_df, dropped_df, counters


def run_global(
    cls,
    config: dict,
    df: pl.DataFrame,
    work_dir: Path,
    n_tasks: int = 1,
    batch_rows: int | None = None,
    shuffle_partitions: bool = False,
) -> GlobalRun:
    """Drive ``cls`` through collect -> reduce -> process like the engine does."""
    work_dir.mkdir(parents=True, exist_ok=True)
    collect_phase(cls, config, df, work_dir, n_tasks, batch_rows)
    reduce_counters = reduce_phase(cls, config, work_dir, n_tasks, shuffle_partitions)
    summary = make(cls, config, work_dir, None, n_tasks).reduce_summary()
    kept, dropped, counters = apply_phase(cls, config, df, work_dir, n_tasks, batch_rows)
    return GlobalRun(kept, dropped, counters, reduce_counters, summary, work_dir)


@pytest.fixture
def driver():
    return run_global
