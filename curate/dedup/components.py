"""Connected components over hash-partitioned edge files, in rounds (large-star / small-star).

The dedup graphs of a web snapshot have billions of edges: one process holding them all (the
vectorised union-find of :mod:`curate.dedup.union_find`) is the memory ceiling of the whole run.
Here every round is a set of independent tasks, one per hash partition of the node keys, and a
task holds only its partition's edges. The algorithm is the alternating large-star / small-star
of Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014):

* **large-star** (keyed by each end, so a task sees a node's whole neighbourhood ``N(u)``): with
  ``m = min(N(u) + {u})``, replace every edge ``(u, v)`` with ``v > u`` by ``(v, m)``.
* **small-star** (keyed by the larger end, so a task sees a node's smaller neighbours ``S(u)``):
  with ``m = min(S(u) + {u})``, replace every edge by ``(x, m)`` for ``x`` in ``S(u) + {u}``.

Both keep the components and both shrink toward stars rooted at each component's smallest node;
together they converge in O(log^2 n) rounds. A large-star round also checks whether its input is
already a star forest (every node has all neighbours larger, or exactly one neighbour): then its
output is that forest, ``(child, root)`` with ``root`` the component's smallest key - the same label
:func:`~curate.dedup.union_find.components_of_pairs` gives, so the clusters do not change.

Files (``root`` is the caller's folder; ``P`` partitions; every file written atomically):

* ``r{r:03d}/p{q:03d}/{sender:04d}.parquet``: round ``r``'s input for partition ``q`` (``u`` = key,
  ``v`` = neighbour), written by the tasks of round ``r - 1`` (or by :meth:`seed`);
* ``r{r:03d}/stats/p{q:03d}.json``: what partition ``q`` of round ``r`` saw (written last).

Memory of one task: its partition's edges, ~ ``2 x edges / P`` rows of two uint64 (plus Polars'
group-by); the driver holds nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from curate.dedup.minhash import splitmix64
from curate.dedup.workfiles import atomic_write_parquet, partition_files
from curate.io.writer import write_json_atomic

U64 = np.uint64
MAX_ROUNDS = 200  # O(log^2 n) rounds: 2^64 nodes would need fewer than this
_EDGE_SCHEMA = {"u": pl.UInt64, "v": pl.UInt64}


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """Hash partition of node keys (splitmix64: task-numbered keys spread evenly)."""
    return ((splitmix64(keys.astype(U64)) >> U64(40)) % U64(partitions)).astype(np.int64)


def is_large(r: int) -> bool:
    """Round ``r``'s kind: even rounds are large-star, odd rounds small-star."""
    return r % 2 == 0


class PartitionedComponents:
    """The rounds of one components computation under ``root``, ``partitions`` tasks each."""

    def __init__(self, root: Path, partitions: int):
        self.root = root
        self.partitions = partitions

    # -- files ------------------------------------------------------------------------------------
    def _in_dir(self, r: int, part: int) -> Path:
        return self.root / f"r{r:03d}" / f"p{part:03d}"

    def _stats_file(self, r: int, part: int) -> Path:
        return self.root / f"r{r:03d}" / "stats" / f"p{part:03d}.json"

    def _read(self, r: int, part: int) -> tuple[np.ndarray, np.ndarray]:
        """Round ``r``'s distinct edges of partition ``part``, sorted by (u, v)."""
        files = partition_files(self._in_dir(r, part))
        if not files:
            return np.zeros(0, U64), np.zeros(0, U64)
        e = pl.concat([pl.read_parquet(f) for f in files])
        u, v = e["u"].to_numpy(), e["v"].to_numpy()
        del e
        order = np.lexsort((v, u))
        u, v = u[order], v[order]
        del order
        new = np.ones(len(u), bool)
        new[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        return u[new], v[new]

    def _send(self, r: int, sender: int, u: np.ndarray, v: np.ndarray) -> None:
        """Write edges ``u -> v`` (key ``u``) as round ``r``'s input, each to its key's partition."""
        if len(u) == 0:
            return
        part = partition_of(u, self.partitions)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.partitions + 1))
        for q in range(self.partitions):
            lo, hi = bounds[q], bounds[q + 1]
            if hi > lo:
                sel = order[lo:hi]
                out = pl.DataFrame({"u": u[sel], "v": v[sel]}, schema=_EDGE_SCHEMA)
                atomic_write_parquet(out, self._in_dir(r, q) / f"{sender:04d}.parquet")

    def _route(self, r: int, sender: int, a: np.ndarray, b: np.ndarray) -> None:
        """Send undirected edges ``a - b`` to round ``r`` keyed as its kind needs."""
        a = np.asarray(a, dtype=U64)
        b = np.asarray(b, dtype=U64)
        if is_large(r):  # both ends see the edge
            u, v = np.concatenate([a, b]), np.concatenate([b, a])
        else:  # the larger end holds it
            u, v = np.maximum(a, b), np.minimum(a, b)
        keep = u != v
        self._send(r, sender, u[keep], v[keep])

    # -- steps ------------------------------------------------------------------------------------
    def seed(self, sender: int, a: np.ndarray, b: np.ndarray) -> dict[str, int]:
        """Route one slice of the input edges (``a[i] - b[i]``) into round 0."""
        self._route(0, sender, a, b)
        return {"cc_input_edges": len(a)}

    def run_round(self, r: int, part: int) -> dict[str, int]:
        """One partition of round ``r``: its star operation, output routed to round ``r + 1``.

        NumPy on the (u, v)-sorted edges: a node's neighbours are a run, ``minimum.reduceat`` its
        smallest; memory is a few arrays of the partition's edge count."""
        if r >= MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
        u, v = self._read(r, part)
        n = len(u)
        if n:
            starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
            keys = u[starts]
            m = np.minimum.reduceat(v, starts)
            deg = np.diff(np.r_[starts, n])
        else:
            keys = m = np.zeros(0, U64)
            deg = np.zeros(0, np.int64)
        if is_large(r):
            # not a star forest where a node has a smaller neighbour and another neighbour too
            not_star = int(((m < keys) & (deg > 1)).sum())
            mrow = np.repeat(np.minimum(m, keys), deg)
            up = v > u
            changed = int((mrow[up] != u[up]).sum())
            self._route(r + 1, part, v[up], mrow[up])
            stats = {"edges": n, "changed": changed, "not_star": not_star}
        else:
            # all of S(u) are smaller than u, so m = min(S(u)); (u, m) plus a spoke per other neighbour
            changed = int((deg > 1).sum())
            mrow = np.repeat(m, deg)
            spokes = v != mrow
            self._route(r + 1, part, np.concatenate([keys, v[spokes]]), np.concatenate([m, mrow[spokes]]))
            stats = {"edges": n, "changed": changed}
        write_json_atomic(self._stats_file(r, part), stats)  # last: the partition is done
        return {"cc_round_edges": n}

    def round_stats(self, r: int) -> dict[str, int] | None:
        """Round ``r``'s counters summed over its partitions, or None while any is missing."""
        total: dict[str, int] = {}
        for p in range(self.partitions):
            f = self._stats_file(r, p)
            if not f.exists():
                return None
            for k, v in json.loads(f.read_text()).items():
                total[k] = total.get(k, 0) + v
        return total

    def progress(self) -> tuple[int, int | None]:
        """(rounds finished, the converged round or None): the converged round is a large-star
        round whose input was a star forest; its output is the final forest."""
        r = 0
        while True:
            st = self.round_stats(r)
            if st is None:
                return r, None
            if is_large(r) and st["not_star"] == 0:
                return r + 1, r
            r += 1

    def forest(self, converged: int, part: int) -> pl.DataFrame:
        """Partition ``part`` of the final forest: (node, label) for every node keyed here.

        The converged large-star round sent each ``(child, root)`` to the child's partition
        (small-star keying); the roots are labelled by themselves, once per partition they appear
        in (callers deduplicate across partitions)."""
        child, root = self._read(converged + 1, part)
        roots = np.unique(root)
        return pl.DataFrame(
            {"node": np.concatenate([child, roots]), "label": np.concatenate([root, roots])},
            schema={"node": pl.UInt64, "label": pl.UInt64},
        )


def components_in_rounds(
    a: np.ndarray, b: np.ndarray, root: Path, partitions: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """All rounds in this process (tests, benches): ``(nodes, labels, rounds)`` as
    :func:`~curate.dedup.union_find.components_of_pairs` returns them, plus the round count."""
    cc = PartitionedComponents(root, partitions)
    cc.seed(0, a, b)
    r = 0
    while True:
        for p in range(partitions):
            cc.run_round(r, p)
        done, converged = cc.progress()
        if converged is not None:
            break
        r = done
    forest = pl.concat([cc.forest(converged, p) for p in range(partitions)]).unique().sort("node")
    return forest["node"].to_numpy(), forest["label"].to_numpy(), converged + 1
