"""minhash_dedup through the global-stage contract: accuracy vs brute force, determinism, resume."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.dedup.near import MinhashDedup
from curate.dedup.synthetic import pair_scores, planted_corpus, true_pairs
from tests.dedup.conftest import collect_phase, make, reduce_phase, run_global


@pytest.fixture(scope="module")
def corpus():
    df = planted_corpus(
        1500, near_fraction=0.3, exact_fraction=0.05, jaccard_range=(0.6, 1.0), family_max=2, seed=11
    )
    return df, true_pairs(df["text"].to_list(), 0.8)


def _scores(df, dropped, truth):
    s = pair_scores(df["id"].to_list(), dropped["id"].to_list(), dropped["duplicate_of"].to_list(), truth)
    return s["precision"], s["recall"], s["edge_precision"]


def test_precision_recall_vs_brute_force(corpus, tmp_path):
    df, truth = corpus
    run = run_global(MinhashDedup, {"threshold": 0.8}, df, tmp_path / "w", n_tasks=3)
    precision, recall, edge_precision = _scores(df, run.dropped, truth)
    assert recall >= 0.95, recall
    assert edge_precision >= 0.95, edge_precision
    assert precision >= 0.9, precision  # transitive clusters of copies of one source cost a little
    assert set(run.dropped["reason"].unique()) == {"near_duplicate"}
    assert run.kept.height + run.dropped.height == df.height
    s = run.summary
    assert s["clusters"] == len(set(run.dropped["duplicate_of"])) and s["duplicates"] == run.dropped.height
    assert sum(s["size_histogram"].values()) == s["clusters"]
    assert s["samples"] and s["samples"][0]["members"][0]["kept"]
    # every dropped doc's cluster_size is its cluster's size
    sizes = run.dropped.group_by("duplicate_of").agg(pl.len() + 1, pl.col("cluster_size").first())
    assert (sizes["len"] == sizes["cluster_size"]).all()


def test_without_verify_recall_holds(corpus, tmp_path):
    df, truth = corpus
    run = run_global(MinhashDedup, {"threshold": 0.8, "verify": False}, df, tmp_path / "w", n_tasks=2)
    _, recall, _ = _scores(df, run.dropped, truth)
    assert recall >= 0.95


def test_one_vs_many_tasks_identical(corpus, tmp_path):
    df, _ = corpus
    one = run_global(MinhashDedup, {}, df, tmp_path / "one", n_tasks=1)
    many = run_global(
        MinhashDedup,
        {"partitions": 5},
        df,
        tmp_path / "many",
        n_tasks=7,
        batch_rows=100,
        shuffle_partitions=True,
    )
    assert one.kept["id"].to_list() == many.kept["id"].to_list()
    assert one.dropped.sort("id").equals(many.dropped.sort("id"))


def test_rerun_of_reduce_and_collect_is_idempotent(corpus, tmp_path):
    df, _ = corpus
    cfg = {"partitions": 4}
    wd = tmp_path / "w"
    ref = run_global(MinhashDedup, cfg, df, wd, n_tasks=3)
    snapshot = {p.relative_to(wd): p.read_bytes() for p in wd.rglob("*.parquet")}
    # "killed during the bucket phase": lose some outputs, re-run the collect of a task and every step
    shutil.rmtree(wd / "cand")
    shutil.rmtree(wd / "cc" / "r001")  # and a round of the components
    (wd / "clusters.json").unlink()
    collect_phase(MinhashDedup, cfg, df, wd, 3)
    reduce_phase(MinhashDedup, cfg, wd, 3)
    again = {p.relative_to(wd): p.read_bytes() for p in wd.rglob("*.parquet")}
    assert snapshot.keys() == again.keys()
    assert all(pl.read_parquet(wd / k).equals(pl.read_parquet(tmp_path / "w" / k)) for k in snapshot)
    rerun = run_global(MinhashDedup, cfg, df, wd, n_tasks=3)
    assert rerun.dropped.equals(ref.dropped) and rerun.kept.equals(ref.kept)
    assert not [p for p in wd.rglob("*.tmp")]


def test_process_before_reduce_is_an_error(tmp_path):
    st = make(MinhashDedup, {}, tmp_path, "00000", 1)
    with pytest.raises(RuntimeError, match="clusters"):
        st.process(pl.DataFrame({"id": ["a"], "text": ["x"]}))


def _docs(texts, lengths=None):
    return pl.DataFrame({"id": [f"d{i}" for i in range(len(texts))], "text": texts})


BASE = " ".join(f"w{i}" for i in range(60))


@pytest.mark.parametrize(
    ("keep", "expected"),
    [("first", "d0"), ("longest", "d2"), ("quality", "d1")],
)
def test_keep_rules(keep, expected, tmp_path):
    texts = [BASE, BASE + " end", BASE + " the longest tail"]
    df = _docs(texts).with_columns(pl.Series("score", [0.1, 0.9, 0.5]))
    cfg = {"keep": keep, "quality_column": "score" if keep == "quality" else None, "threshold": 0.7}
    run = run_global(MinhashDedup, cfg, df, tmp_path / "w", n_tasks=2)
    assert run.kept["id"].to_list() == [expected]
    assert set(run.dropped["duplicate_of"]) == {expected} and set(run.dropped["cluster_size"]) == {3}


def test_empty_and_short_docs(tmp_path):
    df = _docs(["", "", "hi there", "hi there", "  ", BASE])
    run = run_global(MinhashDedup, {}, df, tmp_path / "w", n_tasks=2)
    # empty texts are not near-duplicates of each other (exact_dedup's job); short equal texts are
    assert run.kept["id"].to_list() == ["d0", "d1", "d2", "d4", "d5"]
    assert run.dropped["id"].to_list() == ["d3"]


def test_config_validation():
    with pytest.raises(ValueError):
        MinhashDedup.Config(bands=4)
    with pytest.raises(ValueError):
        MinhashDedup.Config(bands=20, rows=8, num_perm=128)
    with pytest.raises(ValueError):
        MinhashDedup.Config(keep="quality")
    assert MinhashDedup.Config(bands=14, rows=8).layout() == (112, 14, 8)
    assert MinhashDedup.Config().layout()[0] == 128


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(
        st.sampled_from(["", "a b c", BASE, BASE + " x", "z " * 30, "q w e r t y u"]) | st.text(max_size=40),
        max_size=25,
    ),
    n_tasks=st.integers(1, 4),
)
def test_kept_plus_dropped_is_input(texts, n_tasks, tmp_path_factory):
    df = _docs(texts)
    run = run_global(MinhashDedup, {"partitions": 3}, df, tmp_path_factory.mktemp("h"), n_tasks=n_tasks)
    assert sorted(run.kept["id"].to_list() + run.dropped["id"].to_list()) == sorted(df["id"].to_list())
    assert set(run.dropped["duplicate_of"].to_list()) <= set(run.kept["id"].to_list())


def test_char_shingles_find_near_duplicates(tmp_path):
    base = "Der schnelle braune Fuchs springt über den faulen Hund. " * 4
    df = _docs([base, base.replace("Hund.", "Hund!", 1), "völlig anderer Text ohne jede Ähnlichkeit " * 4])
    run = run_global(
        MinhashDedup, {"tokenizer": "chars", "ngram": 5, "threshold": 0.8}, df, tmp_path / "w", n_tasks=2
    )
    assert run.dropped["id"].to_list() == ["d1"] and run.dropped["duplicate_of"].to_list() == ["d0"]
