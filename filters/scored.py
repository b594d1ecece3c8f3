"""``ScoredStage``: the shape of a global stage that scores every row once with a model.

``perplexity`` and ``reward`` both need a corpus-wide figure (CCNet's percentiles, a top
fraction) before they can drop anything, and both must run their model once per row. So both
score in ``collect`` (phase before the barrier) and write one Parquet file of scores per task to
``work_dir/scores/<task>.parquet``; the reduce step ``cutoffs`` reads them all and writes
``work_dir/cutoffs.json``; ``process`` (after the barrier) reads its own task's scores back in row
order (the engine hands it exactly the rows ``collect`` saw; the ids are checked) and applies the
stage's rules. A subclass gives ``SCORE_SCHEMA``, ``score_table`` and ``build_cutoffs`` and calls
``task_scores`` / ``cutoffs`` in its ``process``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from curate.engine.stage import GlobalStage, ReduceStep
from curate.io.writer import write_bytes_atomic

CUTOFFS_FILE = "cutoffs.json"


class ScoredStage(GlobalStage):
    """A global stage that scores each row once before the barrier and decides after it."""

    SCORE_SCHEMA: ClassVar[pa.Schema]

    def score_table(self, df: pl.DataFrame) -> pa.Table:
        """One row of ``SCORE_SCHEMA`` per row of ``df`` (its first column is the row's ``id``)."""
        raise NotImplementedError

    def build_cutoffs(self) -> dict[str, Any]:
        """Read ``all_scores()``, ``write_cutoffs(summary)``; return the step's stats."""
        raise NotImplementedError

    # -- phase 1: collect ---------------------------------------------------------------------------

    @property
    def _scores_dir(self) -> Path:
        return Path(self.ctx.work_dir) / "scores"

    def _scores_file(self) -> Path:
        return self._scores_dir / f"{(self.ctx.task_id or 'task').replace('/', '_')}.parquet"

    def setup(self) -> None:
        self._parts: list[pa.Table] = []
        self._scores: pl.DataFrame | None = None
        self._cutoffs_doc: dict[str, Any] | None = None
        self._offset = 0

    def collect(self, df: pl.DataFrame) -> None:
        self._parts.append(self.score_table(df))

    def finish_collect(self) -> None:
        table = pa.concat_tables(self._parts) if self._parts else self.SCORE_SCHEMA.empty_table()
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        write_bytes_atomic(self._scores_file(), sink.getvalue().to_pybytes())
        self._parts = []

    # -- phase 2: reduce ----------------------------------------------------------------------------

    def reduce_steps(self) -> list[ReduceStep]:
        return [ReduceStep("cutoffs", 1, functools.partial(_run_cutoffs, type(self), self.config, self.ctx))]

    def all_scores(self) -> pl.DataFrame:
        """Every task's scores, in one frame of ``SCORE_SCHEMA``."""
        files = sorted(self._scores_dir.glob("*.parquet"))
        table = pq.read_table(files, schema=self.SCORE_SCHEMA) if files else self.SCORE_SCHEMA.empty_table()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def write_cutoffs(self, summary: dict[str, Any]) -> None:
        write_bytes_atomic(Path(self.ctx.work_dir) / CUTOFFS_FILE, json.dumps(summary, indent=1).encode())

    def reduce_summary(self) -> dict[str, Any]:
        return json.loads((Path(self.ctx.work_dir) / CUTOFFS_FILE).read_text())

    # -- phase 3: apply -----------------------------------------------------------------------------

    def cutoffs(self) -> dict[str, Any]:
        """cutoffs.json, read once per task; an error when the reduce step has not run."""
        if self._cutoffs_doc is None:
            cf = Path(self.ctx.work_dir) / CUTOFFS_FILE
            if not cf.is_file():
                raise RuntimeError(f"{self.name}: {cf} is missing: the reduce step 'cutoffs' has not run")
            self._cutoffs_doc = json.loads(cf.read_text())
        return self._cutoffs_doc

    def task_scores(self, df: pl.DataFrame) -> pl.DataFrame:
        """This batch's rows of the task's scores, checked to be the rows ``collect`` scored."""
        if self._scores is None:
            f = self._scores_file()
            if not f.is_file():
                raise RuntimeError(f"{self.name}: {f} is missing: this task's scores were not collected")
            self._scores = pl.from_arrow(pq.read_table(f))  # type: ignore[assignment]
        assert self._scores is not None
        part = self._scores.slice(self._offset, df.height)
        if part.height != df.height or (
            "id" in df.columns and part["id"].to_list() != df["id"].cast(pl.Utf8).to_list()
        ):
            raise RuntimeError(
                f"{self.name}: the rows of task {self.ctx.task_id} differ from those scored "
                f"(rows {self._offset}..{self._offset + df.height}); rerun with --force"
            )
        self._offset += df.height
        return part


def _run_cutoffs(cls: type[ScoredStage], config: Any, ctx, part: int) -> dict[str, Any]:
    """The ``cutoffs`` reduce step, from files under ``ctx.work_dir`` and the config only."""
    stage = cls(config, ctx)
    stage.setup()
    return stage.build_cutoffs()
