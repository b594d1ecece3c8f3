from __future__ import annotations

from pathlib import Path

import polars as pl

from curate.engine.registry import resolve_stage
from curate.engine.stage import StageContext


def _run(fraction: float, ids: list[str], seed: int = 0) -> set[str]:
    cls = resolve_stage("sample")
    ctx = StageContext(run_dir=Path("."), work_dir=Path("."), stage_index=0, stage_name="sample", seed=seed)
    res = cls(cls.Config(fraction=fraction), ctx).process(pl.DataFrame({"id": ids, "text": ["x"] * len(ids)}))
    assert res.kept.height + res.dropped.height == len(ids)
    assert set(res.dropped["reason"]) <= {"sampled_out"}
    return set(res.kept["id"])


def test_sample_fraction_nested_and_deterministic():
    ids = [f"s-{i:06d}" for i in range(20000)]
    small, big = _run(0.1, ids), _run(0.3, ids)
    assert 0.09 < len(small) / len(ids) < 0.11
    assert small <= big
    assert _run(0.1, list(reversed(ids))) == small  # order does not matter
    assert _run(0.1, ids, seed=1) != small
