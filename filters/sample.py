"""`sample`: keep a deterministic fraction of the documents (a quick subset of a big corpus)."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from curate.engine.registry import register
from curate.engine.stage import Filter, Rule, StageConfig


@register("sample")
class Sample(Filter):
    """Keep each document with probability `fraction`, decided by a hash of (seed, id).

    The decision depends only on the id and the seed, so it is the same whatever the sharding,
    worker count or order, and a larger fraction keeps a superset of a smaller one.
    """

    class Config(StageConfig):
        fraction: float = Field(0.1, gt=0, le=1, description="Share of documents to keep.")
        seed: int | None = Field(None, description="Hash seed; default: the pipeline's seed.")

    def rules(self, df: pl.DataFrame) -> list[Rule]:
        seed = self.ctx.seed if self.config.seed is None else self.config.seed
        u = pl.col("id").hash(seed=seed) / float(2**64)
        return [Rule("sampled_out", u < self.config.fraction)]
