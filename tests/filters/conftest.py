"""Shared helpers for the filter tests: a stage context and a one-call runner."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from curate.engine.stage import StageContext


@pytest.fixture
def ctx(tmp_path: Path) -> StageContext:
    return StageContext(run_dir=tmp_path, work_dir=tmp_path, stage_index=0, stage_name="t")


def run_stage(stage_cls, texts, ctx, **config):
    """Run a stage on ``texts``; returns (result, {id: reason or None})."""
    df = pl.DataFrame(
        {"id": [str(i) for i in range(len(texts))], "source": ["web"] * len(texts), "text": texts},
        schema_overrides={"text": pl.Utf8},
    )
    stage = stage_cls(stage_cls.Config(**config), ctx)
    stage.setup()
    res = stage.process(df)
    reasons = {i: None for i in res.kept["id"].to_list()}
    if res.dropped is not None:
        reasons.update(dict(zip(res.dropped["id"].to_list(), res.dropped["reason"].to_list(), strict=True)))
    return res, [reasons[str(i)] for i in range(len(texts))]
