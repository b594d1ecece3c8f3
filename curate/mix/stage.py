"""``mix``: a global stage that samples sources to requested shares (see :mod:`curate.mix.plan`).

Phases, as the engine drives them:

1. ``collect`` (per shard): for every document, its group (the ``by`` column, default ``source``),
   its size in the unit (documents, bytes, or tokens from an ``n_tokens`` column or the
   ``tokenizer``) and ``xxh64(id, seed)``; ``finish_collect`` writes them to
   ``work_dir/collect/<task>.parquet``.
2. reduce step ``plan`` (once): sizes per group, budgets, then the exact hash-ranked selection per
   group; writes ``work_dir/plan.json`` (copies + hash threshold per group, achieved figures).
3. ``process`` (per shard): copies per row = ``copies[group] + (hash < threshold[group])``. A kept
   row appears once per copy; the repeats get ids ``<id>#r1``, ``<id>#r2``... so ids stay unique.
   Rows with no copy are dropped as ``mix_downsampled``, ``mix_cap`` (their source hit its cap) or
   ``mix_excluded`` (weight 0). ``consumed`` counts input rows kept at least once.

The summary (stats.json / manifest.json under ``global.mix``) has, per group: ``docs``, ``size``
(units in one epoch), ``requested_share``, ``achieved_share``, ``units``, ``epochs``, ``rows``,
``docs_kept`` and ``binding`` - what set its budget: ``weight`` (its share of the total),
``max_epochs`` (all its data times max_epochs; with no ``total`` this group set the total),
``cap``, or ``excluded``; plus ``warnings`` (a group too small for its weight, a weight without
data, data without a weight, and every group whose achieved share misses its requested share by
more than ``share_tolerance``, with why: documents larger than its budget, a cap, ``max_epochs``,
or other groups falling short). ``curate run`` prints the warnings at the end of the run.

The choice of hash-ranked selection over independent per-document coin flips: flips give shares
that are right only in expectation (a source of 1,000 long documents can miss by several percent);
ranking by hash and cutting at the budget is exact to within one document per source, and still
needs only ``(seed, id)`` when applied, so it does not depend on worker count or shard layout.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from pydantic import Field, field_validator, model_validator

from curate.engine.registry import register
from curate.engine.stage import REASON, GlobalStage, ReduceStep, StageConfig, StageResult
from curate.io.writer import write_bytes_atomic
from curate.mix.plan import HASH_SPACE, SourcePlan, derive_weights, plan_budgets, select, share_warnings

log = logging.getLogger("curate.mix")
NULL_GROUP = "<null>"
PLAN_FILE = "plan.json"
_U64 = (1 << 64) - 1


def doc_hashes(ids: list[str], seed: int) -> np.ndarray:
    """``xxh64(id, seed)`` per id as uint64: the rank used for sampling, stable across versions."""
    f, s = xxhash.xxh64_intdigest, seed & _U64
    return np.fromiter((f(i.encode(), s) for i in ids), dtype=np.uint64, count=len(ids))


@register("mix")
class Mix(GlobalStage):
    """Mix sources to requested shares in docs, tokens or bytes, with caps, temperature and epochs."""

    class Config(StageConfig):
        weights: dict[str, float] | None = Field(
            None, description="Requested share per group (normalised). Groups not listed are dropped."
        )
        by: str = Field("source", description="The column whose values are the groups (source, lang...).")
        unit: Literal["docs", "tokens", "bytes"] = Field(
            "tokens", description="What weights, total and caps count: documents, tokens or UTF-8 bytes."
        )
        total: float | None = Field(
            None, gt=0, description="Units in the mixture; default: the most every group can honour."
        )
        caps: dict[str, float] = Field(default_factory=dict, description="Most units per group (FLAN-style).")
        temperature: float | None = Field(
            None, gt=0, description="Without weights: weight ∝ min(size, cap) ** (1/T). T=1: proportional."
        )
        max_epochs: float | dict[str, float] = Field(
            1.0, description="Most passes over a group (upsampling repeats whole documents)."
        )
        seed: int | None = Field(None, description="Sampling seed; default: the pipeline seed.")
        tokenizer: str | None = Field(
            None, description="unit: tokens - tokenizer folder, used when there is no n_tokens column."
        )
        tokens_column: str = Field(
            "n_tokens", description="unit: tokens - a column of token counts, if present."
        )
        share_tolerance: float = Field(
            0.01,
            ge=0,
            le=1,
            description="Warn (CLI, stats, report) when a group's achieved share differs from its requested "
            "share by more than this (absolute: 0.01 = one percentage point), saying why.",
        )
        text_column: str = Field(
            "text", description="Column whose bytes (unit: bytes) or tokens are counted."
        )

        @field_validator("weights", "caps")
        @classmethod
        def _non_negative(cls, v):
            if v is not None and any(x < 0 for x in v.values()):
                raise ValueError("must be >= 0")
            return v

        @model_validator(mode="after")
        def _check(self):
            if self.weights is not None and self.temperature is not None:
                raise ValueError("give weights or temperature (which derives weights from sizes), not both")
            if self.weights is not None and sum(self.weights.values()) <= 0:
                raise ValueError("weights add up to 0")
            me = self.max_epochs if isinstance(self.max_epochs, dict) else {"*": self.max_epochs}
            if any(x <= 0 for x in me.values()):
                raise ValueError("max_epochs must be > 0")
            return self

    # -- helpers --------------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        return self.config.seed if self.config.seed is not None else self.ctx.seed

    def _max_epochs(self, groups) -> dict[str, float]:
        me = self.config.max_epochs
        return {g: me.get(g, 1.0) for g in groups} if isinstance(me, dict) else dict.fromkeys(groups, me)

    def _groups(self, df: pl.DataFrame) -> list[str]:
        by = self.config.by
        if by not in df.columns:
            raise ValueError(f"mix: by: {by!r} is not a column (columns: {df.columns})")
        return df[by].cast(pl.Utf8).fill_null(NULL_GROUP).to_list()

    def _units(self, df: pl.DataFrame) -> np.ndarray:
        c = self.config
        if c.unit == "docs":
            return np.ones(df.height, dtype=np.int64)
        if c.unit == "bytes":
            return df[c.text_column].str.len_bytes().fill_null(0).to_numpy().astype(np.int64)
        if c.tokens_column in df.columns:
            return df[c.tokens_column].fill_null(0).to_numpy().astype(np.int64)
        if c.tokenizer is None:
            raise ValueError(
                f"mix unit: tokens needs an {c.tokens_column!r} column or tokenizer: (a local tokenizer "
                "folder)"
            )
        from curate.format.tokenizer import load_tokenizer

        texts = df[c.text_column].fill_null("").to_list()
        return load_tokenizer(c.tokenizer).count(texts) if texts else np.zeros(0, dtype=np.int64)

    @property
    def _collect_dir(self) -> Path:
        return Path(self.ctx.work_dir) / "collect"

    # -- phase 1: collect ---------------------------------------------------------------------------

    def setup(self) -> None:
        self._parts: list[pa.Table] = []
        self._plan: dict[str, Any] | None = None

    def collect(self, df: pl.DataFrame) -> None:
        if "id" not in df.columns:
            raise ValueError("mix: records need an 'id' column (sampling is a function of seed and id)")
        self._parts.append(
            pa.table(
                {
                    "group": pa.array(self._groups(df), type=pa.string()),
                    "units": pa.array(self._units(df), type=pa.int64()),
                    "hash": pa.array(doc_hashes(df["id"].to_list(), self.seed), type=pa.uint64()),
                }
            )
        )

    def finish_collect(self) -> None:
        schema = pa.schema([("group", pa.string()), ("units", pa.int64()), ("hash", pa.uint64())])
        table = pa.concat_tables(self._parts) if self._parts else schema.empty_table()
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        name = (self.ctx.task_id or "task").replace("/", "_")
        write_bytes_atomic(self._collect_dir / f"{name}.parquet", sink.getvalue().to_pybytes())
        self._parts = []

    # -- phase 2: reduce ------------------------------------------------------------------------------

    def reduce_steps(self) -> list[ReduceStep]:
        # A module-level function + partial, not a lambda: the step may be pickled to another process.
        return [ReduceStep("plan", 1, functools.partial(_run_plan, self.config, self.ctx))]

    def build_plan(self) -> dict[str, Any]:
        """Sizes -> budgets -> exact selection per group; writes ``plan.json``. Returns counters."""
        c = self.config
        files = sorted(self._collect_dir.glob("*.parquet"))
        # 16 bytes per document plus a dictionary-encoded group: ~1.6 GB for 100M documents.
        table = pq.read_table(files, read_dictionary=["group"]) if files else None
        if table is None or table.num_rows == 0:
            raise ValueError("mix: no documents were collected")
        frame = pl.from_arrow(table)
        agg = frame.group_by("group").agg(pl.len().alias("docs"), pl.col("units").sum().alias("size"))
        sizes = dict(zip(agg["group"].to_list(), agg["size"].to_list(), strict=True))
        docs = dict(zip(agg["group"].to_list(), agg["docs"].to_list(), strict=True))
        weights = derive_weights(sizes, c.weights, c.temperature, c.caps)
        plans, warnings = plan_budgets(
            sizes, docs, weights, c.total, c.caps, self._max_epochs(set(sizes) | set(weights))
        )
        for g, part in frame.partition_by("group", as_dict=True).items():
            g = g[0] if isinstance(g, tuple) else g
            select(part["units"].to_numpy(), part["hash"].to_numpy(), plans[g])
        warnings += share_warnings(plans, c.share_tolerance, c.unit, c.caps, self._max_epochs(plans))
        summary = self._summary(plans, warnings)
        write_bytes_atomic(Path(self.ctx.work_dir) / PLAN_FILE, json.dumps(summary, indent=1).encode())
        for w in warnings:
            log.warning("mix: %s", w)
        return {"mix_groups": len(plans), "mix_rows_planned": sum(p.rows for p in plans.values())}

    def _summary(self, plans: dict[str, SourcePlan], warnings: list[str]) -> dict[str, Any]:
        c = self.config
        achieved = sum(p.units for p in plans.values())
        requested_total = c.total if c.total is not None else sum(p.budget for p in plans.values())
        groups = {}
        for g, p in plans.items():
            groups[g] = {
                "docs": p.docs,
                "size": p.size,
                "requested_share": round(p.weight, 6),
                "achieved_share": round(p.units / achieved, 6) if achieved else 0.0,
                "units_requested": round(p.weight * requested_total, 3),
                "units": p.units,
                "epochs": round(p.epochs, 6),
                "copies": p.copies,
                "threshold": p.threshold,
                "rows": p.rows,
                "docs_kept": p.docs_kept,
                "binding": p.binding,
            }
        return {
            "unit": c.unit,
            "by": c.by,
            "seed": self.seed,
            "total_requested": c.total,
            "total_achieved": achieved,
            "groups": groups,
            "warnings": warnings,
        }

    def reduce_summary(self) -> dict[str, Any]:
        plan = json.loads((Path(self.ctx.work_dir) / PLAN_FILE).read_text())
        for g in plan["groups"].values():  # internal apply figures, not for the manifest
            g.pop("threshold", None)
        return plan

    # -- phase 3: apply -------------------------------------------------------------------------------

    def _load_plan(self) -> dict[str, Any]:
        if self._plan is None:
            f = Path(self.ctx.work_dir) / PLAN_FILE
            if not f.is_file():
                raise RuntimeError(f"mix: {f} is missing: the reduce step 'plan' has not run")
            self._plan = json.loads(f.read_text())["groups"]
        return self._plan

    def process(self, df: pl.DataFrame) -> StageResult:
        plan = self._load_plan()
        if df.height == 0:
            return StageResult(kept=df, consumed=0)
        groups = self._groups(df)
        uniq = sorted(set(groups))
        codes = np.searchsorted(np.array(uniq, dtype=object), np.array(groups, dtype=object))
        base = np.array([plan[g]["copies"] if g in plan else 0 for g in uniq], dtype=np.int64)[codes]
        thr = [plan[g]["threshold"] if g in plan else 0 for g in uniq]
        hashes = doc_hashes(df["id"].to_list(), self.seed)
        extra = np.zeros(df.height, dtype=bool)
        for i, t in enumerate(thr):
            rows = codes == i
            extra[rows] = True if t >= HASH_SPACE else hashes[rows] < np.uint64(t)
        copies = base + extra
        kept_mask = copies > 0
        frames = [df.filter(pl.Series(kept_mask))]
        for r in range(1, int(copies.max())):
            rep = df.filter(pl.Series(copies > r))
            frames.append(rep.with_columns((pl.col("id") + f"#r{r}").alias("id")))
        kept = pl.concat(frames) if len(frames) > 1 else frames[0]
        dropped = None
        if not kept_mask.all():
            reasons = np.array(
                [_drop_reason(plan.get(g)) for g in uniq], dtype=object
            )[codes[~kept_mask]]
            dropped = df.filter(pl.Series(~kept_mask)).with_columns(
                pl.Series(REASON, reasons.tolist(), dtype=pl.Utf8)
            )
        return StageResult(
            kept=kept,
            dropped=dropped,
            consumed=int(kept_mask.sum()),
            counters={"mix_repeats": int(kept.height - kept_mask.sum())},
        )


def _drop_reason(group_plan: dict[str, Any] | None) -> str:
    if group_plan is None or group_plan["binding"] == "excluded" or group_plan["requested_share"] == 0:
        return "mix_excluded"
    return "mix_cap" if group_plan["binding"] == "cap" else "mix_downsampled"


def _run_plan(config: Mix.Config, ctx, part: int) -> dict[str, Any]:
    """The ``plan`` reduce step, from files under ``ctx.work_dir`` and the config only."""
    stage = Mix(config, ctx)
    stage.setup()
    return stage.build_plan()
