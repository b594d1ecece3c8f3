"""A small stand-in for the engine's driver of a GlobalStage (the runner's contract).

Phase 1: per task a fresh stage, ``setup``, ``collect`` per batch, ``finish_collect``. Then every
reduce step's partitions, then ``reduce_summary``. Phase 2: per task a fresh stage, ``setup``,
``process`` per batch. Tasks are contiguous slices of the input frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curate.engine.stage import StageContext, StageResult


def drive_global(
    stage_cls,
    config,
    df: pl.DataFrame,
    work_dir: Path,
    n_tasks: int = 1,
    batch_rows: int = 1000,
    seed: int = 0,
):
    """Run ``stage_cls`` over ``df`` split into ``n_tasks``; return (kept, dropped, summary, results)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, df.height, n_tasks + 1).astype(int)
    tasks = [df.slice(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def ctx(i):
        return StageContext(run_dir=work_dir.parent, work_dir=work_dir, stage_index=0, stage_name="mix",
                            seed=seed, task_id=None if i is None else f"task-{i:04d}", n_tasks=n_tasks)

    for i, t in enumerate(tasks):
        s = stage_cls(config, ctx(i))
        s.setup()
        for b in t.iter_slices(batch_rows):
            s.collect(b)
        s.finish_collect()
    driver = stage_cls(config, ctx(None))
    for step in driver.reduce_steps():
        for part in range(step.n_partitions):
            step.run(part)
    summary = driver.reduce_summary()
    results: list[StageResult] = []
    for i, t in enumerate(tasks):
        s = stage_cls(config, ctx(i))
        s.setup()
        for b in t.iter_slices(batch_rows):
            r = s.process(b)
            assert b.height == r.n_out + r.n_dropped  # in == consumed + dropped, every batch
            results.append(r)
    kept = pl.concat([r.kept for r in results])
    dropped = [r.dropped for r in results if r.dropped is not None]
    dropped = pl.concat(dropped) if dropped else df.clear().with_columns(pl.lit("").alias("reason"))
    return kept, dropped, summary, results


@pytest.fixture
def drive(tmp_path):
    counter = iter(range(10_000))

    def run(stage_cls, config, df, **kw):
        return drive_global(stage_cls, config, df, tmp_path / f"work{next(counter)}", **kw)

    return run


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    """A tiny byte-level BPE trained on generated text (offline, ~1 s)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.train.tokenizer import train_tokenizer

    d = tmp_path_factory.mktemp("tok")
    texts = [f"word{i % 37} text {i} tokens and more words" for i in range(500)]
    pq.write_table(pa.table({"text": texts}), d / "s.parquet")
    return train_tokenizer([d / "s.parquet"], d / "tokenizer", vocab_size=300)
