"""Connected components in rounds over partitions give union-find's components, labels included."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.dedup.components import PartitionedComponents, components_in_rounds
from curate.dedup.near import MinhashDedup
from curate.dedup.synthetic import planted_corpus
from curate.dedup.union_find import components_of_pairs
from curate.dedup.workfiles import task_ids
from tests.dedup.conftest import run_global

U64 = np.uint64


def _keys(nodes: list[int]) -> np.ndarray:
    # dedup node keys are task << 32 | row: spread nodes over a few "tasks"
    x = np.asarray(nodes, dtype=U64)
    return ((x % U64(3)) << U64(32)) | (x // U64(3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edges=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=150),
    partitions=st.integers(1, 7),
)
def test_rounds_equal_union_find_on_random_graphs(edges, partitions, tmp_path_factory):
    edges = [(a, b) for a, b in edges if a != b]
    a = _keys([e[0] for e in edges])
    b = _keys([e[1] for e in edges])
    nodes, labels, _ = components_in_rounds(a, b, tmp_path_factory.mktemp("cc"), partitions)
    ref_nodes, ref_labels = components_of_pairs(a, b)
    assert np.array_equal(nodes, ref_nodes)
    assert np.array_equal(labels, ref_labels)


def test_long_chain_converges_in_few_rounds(tmp_path):
    # a path of 3000 nodes in shuffled key order: many rounds for label propagation, log-ish here
    n = 3000
    perm = np.random.default_rng(3).permutation(n).astype(U64)
    a, b = perm[:-1], perm[1:]
    nodes, labels, rounds = components_in_rounds(a, b, tmp_path, 4)
    assert np.array_equal(nodes, np.arange(n, dtype=U64)) and (labels == 0).all()
    assert rounds <= 40, rounds


def test_memory_is_one_partition(tmp_path):
    # every round's input is split over the partitions: none holds much more than its share
    rng = np.random.default_rng(0)
    a = rng.integers(0, 20_000, 20_000).astype(U64)
    b = rng.integers(0, 20_000, 20_000).astype(U64)
    components_in_rounds(a[a != b], b[a != b], tmp_path, 8)
    cc = PartitionedComponents(tmp_path, 8)
    sizes = [
        sum(pl.read_parquet(f).height for f in (tmp_path / "r000" / f"p{p:03d}").glob("*")) for p in range(8)
    ]
    assert max(sizes) < 1.3 * sum(sizes) / 8
    assert cc.round_stats(0)["edges"] == sum(sizes)


@pytest.mark.parametrize("verify", [True, False])
def test_dedup_clusters_equal_union_find_of_its_pairs(verify, tmp_path):
    """On a planted corpus, the stage's clusters are union-find's over the same pairs."""
    df = planted_corpus(
        1200, near_fraction=0.3, exact_fraction=0.05, jaccard_range=(0.5, 1.0), family_max=4, seed=5
    )
    wd = tmp_path / "w"
    cfg = {"verify": verify, "partitions": 6, "cc_partition_edges": 40}  # several cc partitions
    run = run_global(MinhashDedup, cfg, df, wd, n_tasks=4)
    folder = "pairs_verified" if verify else "pairs"
    pairs = pl.concat([pl.read_parquet(f) for f in sorted((wd / folder).glob("p*.parquet"))]).unique()
    nodes, labels = components_of_pairs(pairs["a"].to_numpy(), pairs["b"].to_numpy())
    docs = pl.concat(
        [
            pl.read_parquet(wd / "docs" / f"{t}.parquet").with_columns(
                ((pl.lit(i, dtype=pl.UInt64) * (1 << 32)) + pl.col("row").cast(pl.UInt64)).alias("gkey")
            )
            for i, t in enumerate(task_ids(wd))
        ]
    )
    comp = pl.DataFrame({"gkey": nodes, "label": labels}).join(docs, on="gkey")
    expected = {frozenset(g["id"].to_list()) for _, g in comp.group_by("label")}
    kept_of = run.dropped.group_by("duplicate_of").agg(pl.col("id"))
    got = {frozenset([k, *ids]) for k, ids in kept_of.iter_rows()}
    assert len(expected) > 50
    assert got == expected
    # the survivor is each cluster's smallest id (keep: first), as the union-find step chose it
    for k, ids in kept_of.iter_rows():
        assert k == min([k, *ids])
    assert run.summary["clusters"] == len(expected) and run.summary["cc_rounds"] >= 1
    assert json.loads((wd / "cc" / "partitions.json").read_text())["partitions"] == 6
