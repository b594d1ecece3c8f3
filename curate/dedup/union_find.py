"""Connected components of a candidate-pair graph, vectorised (union-find by hooking + pointer jumping).

A Python union-find costs ~1 us per edge; dedup graphs have millions of edges, so we use the
array form of union-find (Shiloach-Vishkin style): every node points to a parent; each round hooks
the larger root of every edge onto the smaller one (``np.minimum.at``) and then compresses paths
by pointer jumping (``parent = parent[parent]``) until nothing changes. The result labels each
node with the smallest node index of its component, so it does not depend on edge order.
"""

from __future__ import annotations

import numpy as np


def connected_components(u: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """Component label (smallest member index) of each of ``n`` nodes given edges ``u[i] - v[i]``."""
    parent = np.arange(n, dtype=np.int64)
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    if len(u) == 0:
        return parent
    while True:
        pu, pv = parent[u], parent[v]
        lo = np.minimum(pu, pv)
        hi = np.maximum(pu, pv)
        differ = lo != hi
        if not differ.any():
            return parent
        # hook: each root seen as the larger end of an edge points to the smallest root it meets
        np.minimum.at(parent, hi[differ], lo[differ])
        while True:  # pointer jumping to full compression: every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand


def components_of_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (sorted unique keys appearing in pairs) and their component label (a node key)."""
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    k = len(a)
    labels = connected_components(inverse[:k], inverse[k:], len(nodes))
    return nodes, nodes[labels]
