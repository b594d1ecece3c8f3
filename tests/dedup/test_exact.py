"""exact_dedup and url_dedup through the global-stage contract."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.dedup.exact import ExactDedup, normalise_text
from curate.dedup.synthetic import planted_corpus
from curate.dedup.url import UrlDedup, normalise_url
from tests.dedup.conftest import make, run_global


def test_exact_duplicates_all_found_none_wrong(tmp_path):
    df = planted_corpus(3000, near_fraction=0.2, exact_fraction=0.1, seed=2)
    run = run_global(ExactDedup, {}, df, tmp_path / "w", n_tasks=4)
    # truth: groups of identical texts, smallest id kept
    truth = (
        df.group_by("text")
        .agg(pl.col("id").min().alias("keeper"), pl.col("id"), pl.len())
        .filter(pl.col("len") > 1)
    )
    expected = {i: k for k, ids in zip(truth["keeper"], truth["id"], strict=True) for i in ids if i != k}
    got = dict(zip(run.dropped["id"], run.dropped["duplicate_of"], strict=True))
    assert got == expected and len(got) > 100  # precision and recall 100%
    assert set(run.dropped["reason"]) == {"exact_duplicate"}
    assert run.summary["duplicates"] == len(expected) and run.summary["duplicate_groups"] == truth.height
    assert run.kept.height + run.dropped.height == df.height
    assert run.kept["id"].to_list() == [i for i in df["id"] if i not in expected]  # order kept


def test_one_vs_many_tasks(tmp_path):
    df = planted_corpus(800, exact_fraction=0.2, seed=4)
    a = run_global(ExactDedup, {}, df, tmp_path / "a", n_tasks=1)
    b = run_global(
        ExactDedup, {"partitions": 3}, df, tmp_path / "b", n_tasks=5, batch_rows=50, shuffle_partitions=True
    )
    assert a.kept.equals(b.kept) and a.dropped.sort("id").equals(b.dropped.sort("id"))


@pytest.mark.parametrize(
    ("cfg", "dropped"),
    [
        ({}, ["b"]),  # whitespace only
        ({"lowercase": True}, ["b", "c"]),
        ({"lowercase": True, "punctuation": True}, ["b", "c", "d"]),
        ({"whitespace": False}, []),
    ],
)
def test_normalisation_switches(cfg, dropped, tmp_path):
    df = pl.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "text": ["Hello world.", " Hello   world. ", "hello WORLD.", "hello, world", "other"],
        }
    )
    run = run_global(ExactDedup, cfg, df, tmp_path / "w", n_tasks=2)
    assert sorted(run.dropped["id"].to_list()) == dropped
    assert set(run.dropped["duplicate_of"].to_list()) <= {"a"}


def test_keep_longest_and_null_text(tmp_path):
    df = pl.DataFrame({"id": ["a", "b", "c", "d"], "text": ["x", "x ", None, None]})
    run = run_global(ExactDedup, {"keep": "longest", "whitespace": True}, df, tmp_path / "w", n_tasks=2)
    assert run.dropped["id"].to_list() == ["a"] and run.dropped["duplicate_of"].to_list() == ["b"]
    assert run.kept["id"].to_list() == ["b", "c", "d"]  # rows without text take no part


def test_normalise_text():
    s = pl.Series(["A  b\n", "¡Hola, mundo!"])
    assert normalise_text(s, True, True, True).to_list() == ["a b", "hola mundo"]


def test_url_normalisation():
    s = pl.Series(
        [
            "https://www.Example.com/a/",
            "http://example.com/a#top",
            "example.com/a?x=1",
            "",
            None,
            "ftp://x.org",
        ]
    )
    assert normalise_url(s).to_list() == [
        "example.com/a",
        "example.com/a",
        "example.com/a?x=1",
        None,
        None,
        "x.org",
    ]
    assert normalise_url(s, strip_query=True).to_list()[2] == "example.com/a"


def test_url_dedup_keeps_longest(tmp_path):
    df = pl.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "url": ["http://x.org/p", "https://www.x.org/p/", None, "http://x.org/q", "http://x.org/p"],
            "text": ["short", "the longest text", "no url", "q", "mid text"],
        }
    )
    run = run_global(UrlDedup, {}, df, tmp_path / "w", n_tasks=3)
    assert run.kept["id"].to_list() == ["b", "c", "d"]
    assert dict(zip(run.dropped["id"], run.dropped["duplicate_of"], strict=True)) == {"a": "b", "e": "b"}
    assert set(run.dropped["reason"]) == {"url_duplicate"}


def test_url_dedup_without_url_column_keeps_all(tmp_path):
    df = pl.DataFrame({"id": ["a", "b"], "text": ["x", "x"]})
    run = run_global(UrlDedup, {}, df, tmp_path / "w", n_tasks=1)
    assert run.kept.height == 2


def test_process_before_reduce_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="groups"):
        make(ExactDedup, {}, tmp_path, "00000", 1).process(pl.DataFrame({"id": ["a"], "text": ["x"]}))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.sampled_from(["a", "A", "a ", "b", ""]) | st.none(), max_size=30),
    n_tasks=st.integers(1, 4),
)
def test_kept_plus_dropped_is_input(texts, n_tasks, tmp_path_factory):
    df = pl.DataFrame(
        {"id": [f"{i:03d}" for i in range(len(texts))], "text": texts},
        schema={"id": pl.Utf8, "text": pl.Utf8},
    )
    run = run_global(ExactDedup, {"partitions": 2}, df, tmp_path_factory.mktemp("h"), n_tasks=n_tasks)
    assert sorted(run.kept["id"].to_list() + run.dropped["id"].to_list()) == df["id"].to_list()
    kept_texts = [t.strip() for t in run.kept["text"].to_list() if t is not None]
    assert len(kept_texts) == len(set(kept_texts))


def test_keep_quality(tmp_path):
    df = pl.DataFrame({"id": ["a", "b", "c"], "text": ["x", "x", "x"], "q": [0.2, None, 0.9]})
    run = run_global(ExactDedup, {"keep": "quality", "quality_column": "q"}, df, tmp_path / "w", n_tasks=2)
    assert run.kept["id"].to_list() == ["c"] and set(run.dropped["duplicate_of"]) == {"c"}
    with pytest.raises(ValueError, match="quality_column"):
        ExactDedup.Config(keep="quality")
