"""Vectorised connected components against a textbook union-find."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.dedup.union_find import components_of_pairs, connected_components


def _reference(n, edges):
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    labels = [find(x) for x in range(n)]
    smallest = {}
    for x, r in enumerate(labels):
        smallest.setdefault(r, x)
    return [smallest[r] for r in labels]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda n: st.tuples(
            st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=80)
        )
    )
)
def test_matches_reference(case):
    n, edges = case
    u = np.array([e[0] for e in edges], dtype=np.int64)
    v = np.array([e[1] for e in edges], dtype=np.int64)
    assert connected_components(u, v, n).tolist() == _reference(n, edges)


def test_long_chain_and_keys():
    n = 5000
    perm = np.random.default_rng(0).permutation(n)
    labels = connected_components(perm[:-1], perm[1:], n)
    assert (labels == 0).all()
    nodes, comp = components_of_pairs(np.array([10, 30, 50], np.uint64), np.array([20, 20, 60], np.uint64))
    assert nodes.tolist() == [10, 20, 30, 50, 60] and comp.tolist() == [10, 10, 10, 50, 50]
