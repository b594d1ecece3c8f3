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

    def _read(self, r: int, part: int) -> pl.DataFrame:
        files = partition_files(self._in_dir(r, part))
        if not files:
            return pl.DataFrame(schema=_EDGE_SCHEMA)
        return pl.concat([pl.read_parquet(f) for f in files]).unique()

    def _send(self, r: int, sender: int, edges: pl.DataFrame) -> None:
        """Write ``edges`` (key ``u``) as round ``r``'s input, each row to its key's partition."""
        if edges.height == 0:
            return
        part = partition_of(edges["u"].to_numpy(), self.partitions)
        edges = edges.with_columns(pl.Series("_p", part))
        for (q,), sub in edges.partition_by("_p", as_dict=True).items():
            out = sub.drop("_p").unique().sort("u", "v")
            atomic_write_parquet(out, self._in_dir(r, int(q)) / f"{sender:04d}.parquet")

    def _route(self, r: int, sender: int, a: pl.Series | np.ndarray, b: pl.Series | np.ndarray) -> None:
        """Send undirected edges ``a - b`` to round ``r`` keyed as its kind needs."""
        a = np.asarray(a, dtype=U64)
        b = np.asarray(b, dtype=U64)
        if is_large(r):  # both ends see the edge
            u, v = np.concatenate([a, b]), np.concatenate([b, a])
        else:  # the larger end holds it
            u, v = np.maximum(a, b), np.minimum(a, b)
        keep = u != v
        self._send(r, sender, pl.DataFrame({"u": u[keep], "v": v[keep]}, schema=_EDGE_SCHEMA))

    # -- steps ------------------------------------------------------------------------------------
    def seed(self, sender: int, a: np.ndarray, b: np.ndarray) -> dict[str, int]:
        """Route one slice of the input edges (``a[i] - b[i]``) into round 0."""
        self._route(0, sender, a, b)
        return {"cc_input_edges": len(a)}

    def run_round(self, r: int, part: int) -> dict[str, int]:
        """One partition of round ``r``: its star operation, output routed to round ``r + 1``."""
        if r >= MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
        e = self._read(r, part)
        g = e.group_by("u").agg(pl.col("v").min().alias("m"), pl.len().alias("deg"))
        if is_large(r):
            # not a star forest where a node has a smaller neighbour and another neighbour too
            not_star = g.filter((pl.col("m") < pl.col("u")) & (pl.col("deg") > 1)).height
            g = g.with_columns(pl.min_horizontal("m", "u").alias("m"))
            up = e.join(g.select("u", "m"), on="u").filter(pl.col("v") > pl.col("u"))
            changed = up.filter(pl.col("m") != pl.col("u")).height
            self._route(r + 1, part, up["v"], up["m"])
            stats = {"edges": e.height, "changed": changed, "not_star": not_star}
        else:
            # all of S(u) are smaller than u, so m = min(S(u))
            changed = g.filter(pl.col("deg") > 1).height
            spokes = e.join(g.select("u", "m"), on="u").filter(pl.col("v") != pl.col("m"))
            a = pl.concat([g["u"], spokes["v"]])
            b = pl.concat([g["m"], spokes["m"]])
            self._route(r + 1, part, a, b)
            stats = {"edges": e.height, "changed": changed}
        write_json_atomic(self._stats_file(r, part), stats)  # last: the partition is done
        return {"cc_round_edges": e.height}

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
        e = self._read(converged + 1, part)
        roots = e.select(pl.col("v").unique().alias("u"), pl.col("v").unique().alias("v"))
        return pl.concat([e, roots]).rename({"u": "node", "v": "label"})


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
