"""Every filter stage: kept + dropped == input rows, ids preserved, reasons set on every dropped row."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.engine.stage import REASON, StageContext
from curate.filters.c4 import C4
from curate.filters.code_quality import CodeQuality
from curate.filters.fineweb import FineWebQuality
from curate.filters.gopher import GopherQuality, GopherRepetition
from curate.filters.langid import LangId
from curate.filters.length import Length
from curate.filters.normalize import Normalize
from curate.filters.pii import Pii
from curate.filters.synthetic import document
from curate.filters.url import UrlFilter

STAGES = [
    (GopherQuality, {}), (GopherRepetition, {}), (C4, {}), (FineWebQuality, {}), (CodeQuality, {}),
    (Length, {"unit": "words", "min": 5, "max": 200}), (Normalize, {}), (Pii, {"credit_card": True}),
    (UrlFilter, {"use_example_lists": True}), (LangId, {"keep": ["en"], "min_score": 0.3}),
]
CTX = StageContext(run_dir=".", work_dir=".", stage_index=0, stage_name="t")

texts = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.randoms(use_true_random=False).map(document),
)


@pytest.mark.parametrize(("cls", "cfg"), STAGES, ids=[c.__name__ for c, _ in STAGES])
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(batch=st.lists(texts, max_size=12))
def test_rows_are_conserved(cls, cfg, batch):
    n = len(batch)
    df = pl.DataFrame({
        "id": [f"r{i}" for i in range(n)], "source": ["web"] * n, "text": batch,
        "url": [f"https://{'spam-casino.example' if i % 3 == 0 else 'ok.org'}/p{i}" for i in range(n)],
    }, schema_overrides={"text": pl.Utf8, "url": pl.Utf8})
    stage = cls(cls.Config(**cfg), CTX)
    stage.setup()
    res = stage.process(df)
    dropped = res.dropped if res.dropped is not None else df.head(0).with_columns(pl.lit("").alias(REASON))
    assert res.kept.height + dropped.height == n
    assert sorted(res.kept["id"].to_list() + dropped["id"].to_list()) == sorted(df["id"].to_list())
    assert dropped[REASON].null_count() == 0
    assert REASON not in res.kept.columns
