"""``minhash_dedup``: near-duplicates by MinHash + banded LSH, as a global stage with on-disk shuffles.

Work files under ``work_dir`` (``gkey`` = task number << 32 | row number within the task):

* collect, per task: ``bands/p{part:03d}/{task}.parquet`` (band key, row) hash-partitioned by band
  key; ``docs/{task}.parquet`` (row, id, length, quality, snippet); with ``verify``,
  ``shingles/{task}.parquet`` (row, sorted distinct shingles); ``tasks/{task}.json`` last.
* step ``buckets`` (one task per partition): rows sharing a band key are candidates (files
  below). Memory: one partition's band keys (``docs x bands / partitions``).
* with ``verify: true``, step ``route`` (one task per collect task): reads that task's shingle file
  once and sends the sets of its candidate documents to the partition of each of their pairs
  (``verify_in/p{vp:03d}/{task}.parquet``); step ``verify`` (one task per pair partition): exact
  Jaccard of its pairs, keeps those ``>= threshold`` (``pairs_verified/p{vp:03d}.parquet``).
  Memory: one partition's candidate shingle sets.
* ``buckets`` with ``verify`` writes its pairs shuffled at once: ``cand/v{vp:03d}/{part}.parquet``
  (a, b) to their verify partition and ``need/{task}/{part}.parquet`` (gkey, vp) to the collect
  task of each end; without ``verify`` ``pairs/p{part:03d}.parquet``.
* steps ``cc-seed``, ``cc-r000``, ``cc-r001``...: connected components of the (verified) pairs in
  rounds of large-star / small-star over ``partitions`` node partitions
  (:mod:`curate.dedup.components`, files under ``cc/``); rounds are added until one finds a star
  forest, so the step list grows as they finish. Memory: one partition's edges.
* ``cc-labels`` (per partition): each node's label (its component's smallest key) to the collect
  task of the node, ``cc/labels/{task}/``; ``cc-members`` (per collect task): those documents'
  metadata, to the partition of their label, ``cc/members/q{q:03d}/{task}.parquet``; ``cc-keep``
  (per label partition, whole clusters): one survivor per cluster by the keep rule, drops to
  ``drop/{task}/q{q:03d}.parquet`` (id, duplicate_of, cluster_size) and a partial summary;
  ``clusters`` (one small task): ``clusters.json`` from the partial summaries, written last.
  No step holds all pairs or all clustered documents.
* process, per task: drops the rows listed in ``drop/{task}/*.parquet``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, model_validator

from curate.dedup.common import (
    CLUSTER_SIZE,
    DUPLICATE_OF,
    KeepRule,
    apply_drops,
    keeper_order,
    merge_histograms,
    resolve_partitions,
    size_histogram,
)
from curate.dedup.components import PartitionedComponents, partition_of
from curate.dedup.minhash import MinHasher, choose_bands_rows, splitmix64
from curate.dedup.workfiles import (
    atomic_write_parquet,
    mark_task_done,
    partition_files,
    task_ids,
)
from curate.engine.registry import register
from curate.engine.stage import GlobalStage, ReduceStep, StageConfig, StageResult
from curate.io.writer import write_json_atomic

U64 = np.uint64
_ALL_PAIRS_MAX = 64
_COLLECT_ROWS = 4096  # with verify: all pairs of a bucket up to this size, a star beyond


@register("minhash_dedup")
class MinhashDedup(GlobalStage):
    """Near-duplicate documents (MinHash-LSH): one per cluster survives, the rest are dropped.

    Dropped rows get reason ``near_duplicate``, ``duplicate_of`` (the cluster's kept id) and
    ``cluster_size``. With ``verify: true`` a candidate pair counts only if the true Jaccard of
    its shingle sets reaches ``threshold`` (more disk: the shingles are kept until the reduce).
    """

    class Config(StageConfig):
        text_column: str = Field("text", description="column to deduplicate on")
        ngram: int = Field(5, ge=1, le=64, description="shingle size in tokens")
        tokenizer: Literal["words", "chars"] = Field(
            "words", description="tokens: Unicode words or characters"
        )
        num_perm: int | None = Field(
            None, ge=1, le=1024, description="signature length (default bands*rows, else 128)"
        )
        bands: int | None = Field(
            None, ge=1, description="LSH bands (with rows; default: chosen from threshold)"
        )
        rows: int | None = Field(None, ge=1, description="signature values per band")
        threshold: float = Field(
            0.8, gt=0.0, le=1.0, description="Jaccard similarity that makes a near-duplicate"
        )
        seed: int = Field(1, description="seed of the hash functions (same seed = same signatures)")
        verify: bool = Field(
            True,
            description="check candidate pairs by true Jaccard on the stored shingles (false: trust LSH, "
                        "less disk, more false positives)",
        )
        keep: KeepRule = Field(
            "first", description="survivor of a cluster: smallest id, longest, or highest quality_column"
        )
        quality_column: str | None = Field(None, description="numeric column for keep: quality")
        lowercase: bool = Field(True, description="lowercase before shingling")
        partitions: int | None = Field(
            None,
            ge=1,
            le=4096,
            description="hash partitions of the band-key shuffle (default: one per task, at least 16)",
        )
        sample_clusters: int = Field(5, ge=0, le=100, description="clusters shown in stats/report")
        cc_partition_edges: int = Field(
            4_000_000,
            ge=1,
            description="pairs per partition of the connected-components rounds (their task memory: "
                        "~250 bytes a pair); at most `partitions` partitions",
        )

        @model_validator(mode="after")
        def _check(self):
            if (self.bands is None) != (self.rows is None):
                raise ValueError("give both bands and rows, or neither")
            if (
                self.bands is not None
                and self.num_perm is not None
                and self.bands * self.rows > self.num_perm
            ):
                raise ValueError(f"bands*rows={self.bands * self.rows} > num_perm={self.num_perm}")
            if self.keep == "quality" and not self.quality_column:
                raise ValueError("keep: quality needs quality_column")
            return self

        def layout(self) -> tuple[int, int, int]:
            """(num_perm, bands, rows) after defaults."""
            num_perm = self.num_perm or (self.bands * self.rows if self.bands else 128)
            if self.bands is None:
                bands, rows = choose_bands_rows(self.threshold, num_perm)
            else:
                bands, rows = self.bands, self.rows
            return num_perm, bands, rows

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.partitions = resolve_partitions(config.partitions, ctx.n_tasks)
        self.num_perm, self.bands, self.rows = config.layout()
        self.hasher = MinHasher(
            num_perm=self.num_perm,
            ngram=config.ngram,
            tokenizer=config.tokenizer,
            seed=config.seed,
            lowercase=config.lowercase,
        )
        self._n = 0
        self._bands: list[pl.DataFrame] = []
        self._docs: list[pl.DataFrame] = []
        self._shingles: list[pl.DataFrame] = []
        self._drops: pl.DataFrame | None = None
        self._cc_done: tuple[int, int] | None = None

    @property
    def wd(self) -> Path:
        return self.ctx.work_dir

    # -- phase 1: signatures per task ----------------------------------------------------------------
    def collect(self, df: pl.DataFrame) -> None:
        # slices bound the NumPy temporaries (tokens x several uint64 arrays) whatever the batch size
        for off in range(0, df.height, _COLLECT_ROWS):
            self._collect_slice(df.slice(off, _COLLECT_ROWS))

    def _collect_slice(self, df: pl.DataFrame) -> None:
        c = self.config
        n = df.height
        texts = df[c.text_column]
        row = np.arange(self._n, self._n + n, dtype=np.uint32)
        self._n += n
        sh = self.hasher.shingles(texts)
        sig = self.hasher.signatures_from_shingles(sh)
        has = sh.counts > 0  # documents without a single token never match anything
        keys = self.hasher.band_keys(sig[has], self.bands, self.rows)
        self._bands.append(pl.DataFrame({"key": keys.reshape(-1), "row": np.repeat(row[has], self.bands)}))
        docs = {
            "row": row,
            "id": df["id"].cast(pl.Utf8),
            "length": texts.cast(pl.Utf8).str.len_chars().fill_null(0).cast(pl.Int64),
            "quality": df[c.quality_column].cast(pl.Float64)
            if c.keep == "quality"
            else pl.Series([None] * n, dtype=pl.Float64),
        }
        if c.sample_clusters:
            docs["snippet"] = texts.cast(pl.Utf8).str.slice(0, 300)
        self._docs.append(pl.DataFrame(docs))
        if c.verify:
            u = sh.unique_per_doc()
            lists = pl.from_arrow(
                pa.LargeListArray.from_arrays(
                    _arrow(u.offsets, pa.int64()), _arrow(u.values.astype(np.uint32), pa.uint32())
                )
            )
            self._shingles.append(pl.DataFrame({"row": row, "shingles": lists}).filter(pl.Series(has)))

    def finish_collect(self) -> None:
        task = str(self.ctx.task_id)
        c = self.config
        bands = (
            pl.concat(self._bands)
            if self._bands
            else pl.DataFrame(schema={"key": pl.UInt64, "row": pl.UInt32})
        )
        part = (bands["key"].to_numpy() >> U64(40)) % U64(self.partitions)
        bands = bands.with_columns(pl.Series("_part", part))
        for p in range(self.partitions):
            atomic_write_parquet(
                bands.filter(pl.col("_part") == p).drop("_part"),
                self.wd / "bands" / f"p{p:03d}" / f"{task}.parquet",
            )
        if c.verify:
            sh = (
                pl.concat(self._shingles)
                if self._shingles
                else pl.DataFrame(schema={"row": pl.UInt32, "shingles": pl.List(pl.UInt32)})
            )
            atomic_write_parquet(sh, self.wd / "shingles" / f"{task}.parquet")
        docs = pl.concat(self._docs) if self._docs else pl.DataFrame(schema=self._docs_schema())
        atomic_write_parquet(docs, self.wd / "docs" / f"{task}.parquet")
        mark_task_done(self.wd, task, self._n)
        self._bands, self._docs, self._shingles = [], [], []

    def _docs_schema(self) -> dict[str, pl.DataType]:
        schema = {"row": pl.UInt32, "id": pl.Utf8, "length": pl.Int64, "quality": pl.Float64}
        if self.config.sample_clusters:
            schema["snippet"] = pl.Utf8
        return schema

    # -- reduce --------------------------------------------------------------------------------------
    def reduce_steps(self) -> list[ReduceStep]:
        """The steps so far: the connected components add a round at a time until they converge,
        so the list grows as rounds finish (the driver asks again after each step)."""
        steps = [ReduceStep("buckets", self.partitions, self._buckets)]
        if self.config.verify:
            # one route task per collect task (reads that task's shingle file once), then one
            # verify task per pair partition (holds only its pairs' shingles)
            steps.append(ReduceStep("route", self._n_collect_tasks(), self._route))
            steps.append(ReduceStep("verify", self.partitions, self._verify))
        steps.append(ReduceStep("cc-seed", self.partitions, self._cc_seed))
        if not all((self.wd / "cc" / "seed" / f"p{p:03d}.json").exists() for p in range(self.partitions)):
            return steps  # the rounds' partitions follow from the pairs the seed counted
        parts = self._cc_partitions()
        done, converged = self._cc_progress()
        for r in range(done if converged is not None else done + 1):
            steps.append(ReduceStep(f"cc-r{r:03d}", parts, self._cc_round(r)))
        if converged is not None:
            steps += [
                ReduceStep("cc-labels", parts, self._cc_labels),
                ReduceStep("cc-members", self._n_collect_tasks(), self._cc_members),
                ReduceStep("cc-keep", parts, self._cc_keep),
                ReduceStep("clusters", 1, self._clusters),
            ]
        return steps

    def reduce_step(self, index: int, name: str) -> ReduceStep:
        # the components' steps by name, without reading every round's stats in every task
        if name.startswith("cc-r"):
            r = int(name.removeprefix("cc-r"))
            return ReduceStep(name, self._cc_partitions(), self._cc_round(r))
        by_name = {
            "cc-seed": lambda: ReduceStep(name, self.partitions, self._cc_seed),
            "cc-labels": lambda: ReduceStep(name, self._cc_partitions(), self._cc_labels),
            "cc-members": lambda: ReduceStep(name, self._n_collect_tasks(), self._cc_members),
            "cc-keep": lambda: ReduceStep(name, self._cc_partitions(), self._cc_keep),
            "clusters": lambda: ReduceStep(name, 1, self._clusters),
        }
        if name in by_name:
            return by_name[name]()
        return super().reduce_step(index, name)

    def _cc_partitions(self) -> int:
        """Partitions of the components rounds: enough for ``cc_partition_edges`` pairs each, at
        most ``partitions``. Every task computes the same number from the pair files (and the
        first one stores it: the rounds must agree even if files are touched later)."""
        f = self.wd / "cc" / "partitions.json"
        if f.exists():
            return int(json.loads(f.read_text())["partitions"])
        if self.config.verify:
            files = [p.with_suffix(".json") for p in self._pair_files()]
            pairs = sum(json.loads(p.read_text())["verified_pairs"] for p in files)
        else:
            pairs = sum(pq.ParquetFile(p).metadata.num_rows for p in self._pair_files())
        n = min(self.partitions, max(1, -(-pairs // self.config.cc_partition_edges)))
        write_json_atomic(f, {"partitions": n, "pairs": pairs})
        return n

    def _n_collect_tasks(self) -> int:
        return max(self.ctx.n_tasks, len(task_ids(self.wd)), 1)

    @property
    def _cc(self) -> PartitionedComponents:
        return PartitionedComponents(self.wd / "cc", self._cc_partitions())

    def _cc_progress(self) -> tuple[int, int | None]:
        """(rounds finished, converged round); a converged answer is kept (it cannot change)."""
        if self._cc_done is None:
            f = self.wd / "cc" / "converged.json"
            if f.exists():
                d = json.loads(f.read_text())
                self._cc_done = (d["rounds"], d["converged"])
                return self._cc_done
            done, converged = self._cc.progress()
            if converged is None:
                return done, None
            self._cc_done = (done, converged)
            write_json_atomic(f, {"rounds": done, "converged": converged})  # same answer for all
        return self._cc_done

    def _task_numbers(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(task_ids(self.wd))}

    def _buckets(self, part: int) -> dict[str, Any]:
        """Candidate pairs of one band-key partition: documents that share a band key."""
        number = self._task_numbers()
        keys, gkeys = [], []
        for f in partition_files(self.wd / "bands" / f"p{part:03d}"):
            t = f.name.removesuffix(".parquet")
            if t not in number:
                continue  # a file from a task that never finished: not part of this run
            df = pl.read_parquet(f)
            keys.append(df["key"].to_numpy())
            gkeys.append((U64(number[t]) << U64(32)) | df["row"].to_numpy().astype(U64))
        a, b = _bucket_pairs(
            np.concatenate(keys) if keys else np.zeros(0, U64),
            np.concatenate(gkeys) if gkeys else np.zeros(0, U64),
            all_pairs=self.config.verify,
        )
        if not self.config.verify:
            atomic_write_parquet(pl.DataFrame({"a": a, "b": b}), self.wd / "pairs" / f"p{part:03d}.parquet")
            return {"candidate_pairs": len(a)}
        # with verify, shuffle the pairs at once: to their verify partition (``cand/v{vp}/``) and,
        # as (document, vp), to the collect task of each end (``need/{task}/``) for step 'route'
        vp = self._pair_partition(a, b)
        pairs = pl.DataFrame({"a": a, "b": b, "vp": vp})
        for (q,), sub in pairs.partition_by("vp", as_dict=True).items():
            out = sub.select("a", "b")
            atomic_write_parquet(out, self.wd / "cand" / f"v{int(q):03d}" / f"{part:03d}.parquet")
        need = pl.concat(
            [pairs.select(pl.col("a").alias("gkey"), "vp"), pairs.select(pl.col("b").alias("gkey"), "vp")]
        ).unique()
        need = need.with_columns(pl.Series("_t", (need["gkey"].to_numpy() >> U64(32)).astype(np.int64)))
        names = {i: t for t, i in number.items()}
        for (t,), sub in need.partition_by("_t", as_dict=True).items():
            out = sub.drop("_t").sort("gkey", "vp")
            atomic_write_parquet(out, self.wd / "need" / names[int(t)] / f"{part:03d}.parquet")
        return {"candidate_pairs": len(a)}

    def _pair_partition(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        mixed = splitmix64(a ^ (b * U64(0x9E3779B97F4A7C15)))
        return ((mixed >> U64(40)) % U64(self.partitions)).astype(np.int64)

    def _route(self, part: int) -> dict[str, Any]:
        """Send the shingle sets of task ``part``'s candidate documents to the verify partitions of
        their pairs: ``verify_in/p{vp:03d}/{task}.parquet`` (gkey, shingles)."""
        tasks = task_ids(self.wd)
        if part >= len(tasks):
            return {}
        task = tasks[part]
        files = partition_files(self.wd / "need" / task)
        need = (
            pl.concat([pl.read_parquet(f) for f in files]).unique()
            if files
            else pl.DataFrame(schema={"gkey": pl.UInt64, "vp": pl.Int64})
        )
        rows = np.unique(need["gkey"].to_numpy() & U64(0xFFFFFFFF)).astype(np.uint32)
        sh = (
            pl.scan_parquet(self.wd / "shingles" / f"{task}.parquet")
            .filter(pl.col("row").is_in(pl.Series(rows).implode()))
            .collect()
        )
        sh = sh.with_columns(
            pl.Series("gkey", (U64(part) << U64(32)) | sh["row"].to_numpy().astype(U64))
        ).drop("row")
        routed = need.join(sh, on="gkey", how="left")
        if routed["shingles"].null_count():
            raise RuntimeError(f"minhash_dedup: shingles/{task}.parquet lacks rows of candidate pairs")
        for p in range(self.partitions):
            out = routed.filter(pl.col("vp") == p).select("gkey", "shingles").sort("gkey")
            atomic_write_parquet(out, self.wd / "verify_in" / f"p{p:03d}" / f"{task}.parquet")
        return {"routed_docs": need.height}

    def _verify(self, part: int) -> dict[str, Any]:
        """Keep this partition's candidate pairs whose true Jaccard reaches the threshold."""
        cand = partition_files(self.wd / "cand" / f"v{part:03d}")
        pairs = (
            pl.concat([pl.read_parquet(f) for f in cand]).unique().sort("a", "b")
            if cand
            else pl.DataFrame(schema={"a": pl.UInt64, "b": pl.UInt64})
        )
        a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
        files = partition_files(self.wd / "verify_in" / f"p{part:03d}")
        sh = (
            pl.concat([pl.read_parquet(f) for f in files]).sort("gkey")
            if files
            else pl.DataFrame(schema={"gkey": pl.UInt64, "shingles": pl.List(pl.UInt32)})
        )
        nodes = sh["gkey"].to_numpy()
        counts = sh["shingles"].list.len().to_numpy().astype(np.int64)
        flat = sh["shingles"].explode().drop_nulls().to_numpy().astype(np.uint32)
        offsets = np.zeros(len(nodes) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        ia, ib = np.searchsorted(nodes, a), np.searchsorted(nodes, b)
        if len(a) and not (
            np.array_equal(nodes[np.minimum(ia, len(nodes) - 1)], a)
            and np.array_equal(nodes[np.minimum(ib, len(nodes) - 1)], b)
        ):
            raise RuntimeError(
                f"minhash_dedup: verify partition {part} lacks shingles of its pairs (step 'route' "
                "incomplete)"
            )
        sims = _pair_jaccard(flat, offsets, ia, ib)
        ok = sims >= self.config.threshold - 1e-12
        out = self.wd / "pairs_verified" / f"p{part:03d}.parquet"
        atomic_write_parquet(pl.DataFrame({"a": a[ok], "b": b[ok]}), out)
        stats = {"candidate_pairs": len(a), "verified_pairs": int(ok.sum())}
        write_json_atomic(out.with_suffix(".json"), stats)
        return stats

    # -- connected components in rounds, then one survivor per cluster -----------------------------
    def _pair_files(self) -> list[Path]:
        folder = "pairs_verified" if self.config.verify else "pairs"
        return [self.wd / folder / f"p{p:03d}.parquet" for p in range(self.partitions)]

    def _cc_seed(self, part: int) -> dict[str, Any]:
        """Route pair partition ``part`` (verified, or the candidates) into round 0."""
        f = self._pair_files()[part]
        if not f.exists():
            raise RuntimeError(f"minhash_dedup: the step before 'cc-seed' has not produced {f}")
        pairs = pl.read_parquet(f)
        counters = self._cc.seed(part, pairs["a"].to_numpy(), pairs["b"].to_numpy())
        write_json_atomic(self.wd / "cc" / "seed" / f"p{part:03d}.json", counters)  # last
        return counters

    def _cc_round(self, r: int) -> Callable[[int], dict[str, Any]]:
        return lambda part: self._cc.run_round(r, part)

    def _cc_labels(self, part: int) -> dict[str, Any]:
        """The final forest of partition ``part``, sent to the collect task each node belongs to:
        ``cc/labels/{task}/{part:04d}.parquet`` (node, label)."""
        _, converged = self._cc_progress()
        assert converged is not None
        forest = self._cc.forest(converged, part)
        names = task_ids(self.wd)
        number = (forest["node"].to_numpy() >> U64(32)).astype(np.int64)
        forest = forest.with_columns(pl.Series("_t", number))
        for (t,), sub in forest.partition_by("_t", as_dict=True).items():
            out = sub.drop("_t").unique().sort("node")
            atomic_write_parquet(out, self.wd / "cc" / "labels" / names[int(t)] / f"{part:04d}.parquet")
        return {}

    def _cc_members(self, part: int) -> dict[str, Any]:
        """Collect task ``part``'s documents in clusters with their metadata, sent to the partition
        of their cluster label: ``cc/members/q{q:03d}/{task}.parquet``."""
        tasks = task_ids(self.wd)
        if part >= len(tasks):
            return {}
        task = tasks[part]
        files = partition_files(self.wd / "cc" / "labels" / task)
        if not files:
            return {}
        labels = pl.concat([pl.read_parquet(f) for f in files]).unique()
        rows = (labels["node"].to_numpy() & U64(0xFFFFFFFF)).astype(np.uint32)
        cols = ["row", "id", "length", "quality"] + (["snippet"] if self.config.sample_clusters else [])
        df = (
            pl.scan_parquet(self.wd / "docs" / f"{task}.parquet")
            .select(cols)
            .filter(pl.col("row").is_in(pl.Series(rows).implode()))
            .collect()
        )
        gkey = (U64(part) << U64(32)) | df["row"].to_numpy().astype(U64)
        df = df.with_columns(pl.lit(part, dtype=pl.UInt64).alias("task"), pl.Series("gkey", gkey)).drop("row")
        df = df.join(labels.rename({"node": "gkey"}), on="gkey", how="inner")
        if df.height != labels.height:
            raise RuntimeError(f"minhash_dedup: docs/{task}.parquet lacks rows of its clusters")
        df = df.with_columns(pl.Series("_q", partition_of(df["label"].to_numpy(), self._cc_partitions())))
        for (q,), sub in df.partition_by("_q", as_dict=True).items():
            out = sub.drop("_q").sort("gkey")
            atomic_write_parquet(out, self.wd / "cc" / "members" / f"q{int(q):03d}" / f"{task}.parquet")
        return {"docs_in_clusters": df.height}

    def _cc_keep(self, part: int) -> dict[str, Any]:
        """One survivor per cluster of label partition ``part`` (whole clusters live here): drops
        to ``drop/{task}/q{part:03d}.parquet``, a partial summary to ``cc/keep/q{part:03d}.json``."""
        c = self.config
        files = partition_files(self.wd / "cc" / "members" / f"q{part:03d}")
        schema = {
            **{k: v for k, v in self._docs_schema().items() if k != "row"},
            "task": pl.UInt64,
            "gkey": pl.UInt64,
            "label": pl.UInt64,
        }
        docs = pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame(schema=schema)
        by, desc = keeper_order(c.keep)
        docs = docs.sort(["label", *by], descending=[False, *desc], nulls_last=True).with_columns(
            pl.col("id").first().over("label").alias(DUPLICATE_OF),
            pl.len().over("label").cast(pl.Int64).alias(CLUSTER_SIZE),
        )
        drops = docs.filter(pl.col("id") != pl.col(DUPLICATE_OF))
        names = task_ids(self.wd)
        for (number,), sub in drops.partition_by("task", as_dict=True).items():
            out = sub.select("id", DUPLICATE_OF, CLUSTER_SIZE).sort("id")
            atomic_write_parquet(out, self.wd / "drop" / names[int(number)] / f"q{part:03d}.parquet")
        sizes = docs.group_by("label").agg(pl.len())["len"].to_list()
        partial = {
            "clusters": len(sizes),
            "duplicates": drops.height,
            "docs_in_clusters": docs.height,
            "size_histogram": size_histogram(sizes),
            "samples": _sample_clusters(docs, c.sample_clusters),
        }
        write_json_atomic(self.wd / "cc" / "keep" / f"q{part:03d}.json", partial)
        return {"clusters": len(sizes), "near_duplicates": drops.height}

    def _clusters(self, _part: int) -> dict[str, Any]:
        """The run's summary from the partitions' small ones (no pairs, no documents here)."""
        c = self.config
        parts = []
        for q in range(self._cc_partitions()):
            f = self.wd / "cc" / "keep" / f"q{q:03d}.json"
            if not f.exists():
                raise RuntimeError(f"minhash_dedup: step 'cc-keep' has not produced {f}")
            parts.append(json.loads(f.read_text()))
        if c.verify:
            files = [f.with_suffix(".json") for f in self._pair_files()]
            vparts = [json.loads(f.read_text()) for f in files]
            verify_stats = {k: sum(p[k] for p in vparts) for k in ("candidate_pairs", "verified_pairs")}
        else:  # round 0 holds each distinct pair once per direction
            verify_stats = {"candidate_pairs": (self._cc.round_stats(0) or {"edges": 0})["edges"] // 2}
        samples = sorted(
            (s for p in parts for s in p["samples"]), key=lambda s: (-s["size"], s["kept"])
        )[: c.sample_clusters]
        rounds, _ = self._cc_progress()
        summary = {
            "clusters": sum(p["clusters"] for p in parts),
            "duplicates": sum(p["duplicates"] for p in parts),
            "docs_in_clusters": sum(p["docs_in_clusters"] for p in parts),
            "size_histogram": merge_histograms([p["size_histogram"] for p in parts]),
            "num_perm": self.num_perm,
            "bands": self.bands,
            "rows": self.rows,
            **verify_stats,
            "cc_rounds": rounds,
            "samples": samples,
        }
        write_json_atomic(self.wd / "clusters.json", summary)  # written last: the step's result
        return {}

    def reduce_summary(self) -> dict[str, Any]:
        return json.loads((self.wd / "clusters.json").read_text())

    # -- phase 2: drop per task -------------------------------------------------------------------------
    def process(self, df: pl.DataFrame) -> StageResult:
        if self._drops is None:
            if not (self.wd / "clusters.json").exists():
                raise RuntimeError(
                    f"minhash_dedup: reduce step 'clusters' has not run ({self.wd / 'clusters.json'} missing)"
                )
            files = partition_files(self.wd / "drop" / str(self.ctx.task_id))
            self._drops = (
                pl.concat([pl.read_parquet(f) for f in files])
                if files
                else pl.DataFrame(schema={"id": pl.Utf8, DUPLICATE_OF: pl.Utf8, CLUSTER_SIZE: pl.Int64})
            )
        return apply_drops(df, self._drops, "near_duplicate")


def _pair_jaccard(
    flat: np.ndarray, offsets: np.ndarray, ia: np.ndarray, ib: np.ndarray, chunk: int = 50_000
) -> np.ndarray:
    """Exact Jaccard of many pairs of sorted distinct sets (``flat[offsets[i]:offsets[i+1]]``), vectorised.

    Each side's members are tagged with the pair index (``pair << 32 | shingle``); the tagged keys
    both sides share are the intersections, counted per pair. Chunked to bound memory.
    """
    out = np.zeros(len(ia), np.float64)
    sizes = np.diff(offsets)
    for lo in range(0, len(ia), chunk):
        sa, sb = ia[lo : lo + chunk], ib[lo : lo + chunk]
        common = np.intersect1d(_tagged(flat, offsets, sa), _tagged(flat, offsets, sb), assume_unique=True)
        inter = np.bincount((common >> U64(32)).astype(np.int64), minlength=len(sa))
        union = sizes[sa] + sizes[sb] - inter
        out[lo : lo + chunk] = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return out


def _tagged(flat: np.ndarray, offsets: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Members of the sets ``side[k]``, each tagged with its position ``k``: ``k << 32 | shingle``."""
    n = offsets[side + 1] - offsets[side]
    start = np.repeat(offsets[side], n)
    within = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    return (np.repeat(np.arange(len(side), dtype=U64), n) << U64(32)) | flat[start + within].astype(U64)


def _arrow(a: np.ndarray, typ: pa.DataType) -> pa.Array:
    """Zero-copy Arrow view of a NumPy array (``pa.array`` would import pandas: +0.6 s per worker)."""
    a = np.ascontiguousarray(a)
    return pa.Array.from_buffers(typ, len(a), [None, pa.py_buffer(a)])


def _bucket_pairs(keys: np.ndarray, gkeys: np.ndarray, all_pairs: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a < b) of documents sharing a key: a star from each bucket's smallest member (enough for
    connected components), or with ``all_pairs`` every pair of buckets up to ``_ALL_PAIRS_MAX``."""
    if len(keys) == 0:
        return np.zeros(0, U64), np.zeros(0, U64)
    order = np.lexsort((gkeys, keys))
    k, g = keys[order], gkeys[order]
    new = np.ones(len(k), bool)
    new[1:] = k[1:] != k[:-1]
    # same document twice under one key cannot happen (the band index is in the key), but keep safe
    dup_doc = np.zeros(len(k), bool)
    dup_doc[1:] = (~new[1:]) & (g[1:] == g[:-1])
    k, g, new = k[~dup_doc], g[~dup_doc], new[~dup_doc]
    start = np.flatnonzero(new)
    size = np.diff(np.append(start, len(k)))
    bucket = np.repeat(np.arange(len(start)), size)
    head = g[start][bucket]
    member = ~new  # every non-first member pairs with the head
    a_list, b_list = [head[member]], [g[member]]
    if all_pairs:
        for s, n in zip(
            start[(size > 2) & (size <= _ALL_PAIRS_MAX)],
            size[(size > 2) & (size <= _ALL_PAIRS_MAX)],
            strict=True,
        ):
            i, j = np.triu_indices(n, k=1)
            keep = i > 0  # pairs with the head are already in the star
            a_list.append(g[s + i[keep]])
            b_list.append(g[s + j[keep]])
    a, b = np.concatenate(a_list), np.concatenate(b_list)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(np.stack([lo, hi], axis=1), axis=0) if len(lo) else np.zeros((0, 2), U64)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def _sample_clusters(docs: pl.DataFrame, n: int) -> list[dict[str, Any]]:
    """The ``n`` largest clusters (ties: kept id) with up to 5 members each, kept one first."""
    if n == 0 or docs.height == 0:
        return []
    heads = docs.group_by("label").agg(pl.len().alias("size"), pl.col(DUPLICATE_OF).first().alias("kept"))
    heads = heads.sort(["size", "kept"], descending=[True, False]).head(n)
    out = []
    for label, size, kept in heads.iter_rows():
        members = docs.filter(pl.col("label") == label).head(5)
        out.append(
            {
                "size": size,
                "kept": kept,
                "members": [
                    {"id": r["id"], "kept": r["id"] == kept, "snippet": r.get("snippet")}
                    for r in members.iter_rows(named=True)
                ],
            }
        )
    return out
