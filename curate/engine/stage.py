"""The stage contract: what every pipeline step is and returns.

A stage sees records as a Polars DataFrame (a batch) and returns a :class:`StageResult`: the rows it
keeps and the rows it drops, each dropped row with a ``reason``. The engine does the bookkeeping
(``in == out + sum(dropped)``, stats, rejects); a stage never writes stats code.

Three kinds:

* :class:`Stage` - a map over one shard (normalize, pii, extract, format...).
* :class:`Filter` - a map stage declared as ordered rules; the first failing rule names the drop.
* :class:`GlobalStage` - needs the whole data set (dedup, mix). It ``collect``s side data per shard,
  runs ``reduce_steps`` once over all shards (possibly hash-partitioned), then ``apply``s the result
  per shard. The planner cuts the pipeline into phases at these stages.

Columns whose name starts with ``__`` are scratch: stages may cache shared views there (word
lists, line splits) and the writer never writes them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

# StageConfig is defined in curate.contract (readers' configs share it, and io may not import the
# engine) and is part of the stage contract, so stage modules keep importing it from here.
from curate.contract import StageConfig

REASON = "reason"


@dataclasses.dataclass
class StageResult:
    """What a stage returns for one batch.

    ``dropped`` holds the dropped rows with a Utf8 ``reason`` column (or is None when nothing is
    dropped). ``counters`` are extra per-stage figures summed into stats (e.g. ``pii_email: 3``).
    ``consumed`` is set only by stages whose output rows are not 1:1 with input rows (packing many
    documents into one sequence, upsampling): it is the number of *input* rows accounted as kept,
    so that ``in == consumed + dropped`` still holds. ``emitted`` rows are then ``len(kept)``.
    """

    kept: pl.DataFrame
    dropped: pl.DataFrame | None = None
    counters: dict[str, int] = dataclasses.field(default_factory=dict)
    consumed: int | None = None

    @property
    def n_dropped(self) -> int:
        return 0 if self.dropped is None else self.dropped.height

    @property
    def n_out(self) -> int:
        return self.kept.height if self.consumed is None else self.consumed


@dataclasses.dataclass(frozen=True)
class StageContext:
    """What a stage may know about the run it is part of.

    ``work_dir`` is this stage's private folder under ``OUT/_work`` (side files of global stages,
    reduce outputs); ``task_id`` names the shard being processed (None in reduce steps).
    """

    run_dir: Path
    work_dir: Path
    stage_index: int
    stage_name: str
    seed: int = 0
    task_id: str | None = None
    n_tasks: int = 0


_SETUP_DONE = "_setup_done"


class SetupOnce:
    """Makes ``setup()`` lazy and idempotent for every subclass, so no stage guards it itself.

    Each subclass's own ``setup`` is wrapped to run at most once per instance (a setup that raises
    is not marked done, so the next call retries), and its ``process`` to run ``setup`` first. The
    engine still calls ``setup`` eagerly before the first batch (errors surface before any work);
    a stage used directly (tests, ``curate sft preview``) no longer needs to. The done flag lives in
    the instance's ``__dict__``, so a stage pickled after setup arrives set up (with the state its
    setup built) and one pickled before runs setup once where it lands.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "setup" in own and not getattr(own["setup"], "_setup_once", False):
            cls.setup = _once(own["setup"])  # type: ignore[method-assign]
        if "process" in own and not getattr(own["process"], "_after_setup", False):
            cls.process = _after_setup(own["process"])  # type: ignore[method-assign]

    def setup(self) -> None:
        """Load models or open files; runs once, before the first batch."""


def _once(setup: Callable[[Any], None]) -> Callable[[Any], None]:
    @functools.wraps(setup)
    def wrapper(self: Any) -> None:
        if self.__dict__.get(_SETUP_DONE):
            return
        setup(self)
        # Set after the body, so a subclass's setup calling super().setup() still runs its parent's.
        self.__dict__[_SETUP_DONE] = True

    wrapper._setup_once = True  # type: ignore[attr-defined]
    return wrapper


def _after_setup(process: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(process)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.__dict__.get(_SETUP_DONE):
            self.setup()
        return process(self, *args, **kwargs)

    wrapper._after_setup = True  # type: ignore[attr-defined]
    return wrapper


class Stage(SetupOnce):
    """A map stage: one batch in, kept + dropped out. Subclass, set ``name`` and ``Config``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[StageConfig]] = StageConfig
    is_global: ClassVar[bool] = False

    def __init__(self, config: StageConfig, ctx: StageContext):
        self.config = config
        self.ctx = ctx

    def setup(self) -> None:
        """Load models or open files; runs once per instance (see :class:`SetupOnce`): the engine
        calls it before the first batch, and ``process`` calls it if nobody has."""

    def process(self, df: pl.DataFrame) -> StageResult:
        """Return kept and dropped rows for one batch."""
        raise NotImplementedError

    def flush(self) -> StageResult | None:
        """End of one task's stream: emit anything held back (a partial packed sequence)."""
        return None

    def finish_run(self, shards: list[dict]) -> dict | None:
        """After the run's shards are final (merged, one schema, hashed): write files derived from
        them under ``OUT`` (format's exports) and return their manifest entry, or None.

        ``shards`` are the manifest's entries (``path`` relative to the run folder, ``rows``,
        ``bytes``, ``sha256``). Called on the pipeline's last stage only, in the driver."""
        return None

    def route_column(self) -> str | None:
        """A column whose value names the output subfolder (``data/<value>/``), or None.

        Answered from the config alone (the engine asks before any ``setup``, in whichever phase
        writes the output); the last stage of a pipeline that routes decides."""
        return None


@dataclasses.dataclass(frozen=True)
class Rule:
    """One quality rule: ``keep`` is a boolean Polars expression; False drops with ``reason``."""

    reason: str
    keep: pl.Expr


class Filter(Stage):
    """A stage declared as ordered rules, evaluated in one vectorised pass over the batch.

    Subclasses implement :meth:`rules` (and may override :meth:`prepare` to add shared scratch
    columns first). A null ``keep`` value counts as a pass (missing signal is not a reason to drop).
    """

    def prepare(self, df: pl.DataFrame) -> pl.DataFrame:
        """Add the columns the rules need (cached ``__`` views); default: nothing."""
        return df

    def rules(self, df: pl.DataFrame) -> list[Rule]:
        raise NotImplementedError

    def process(self, df: pl.DataFrame) -> StageResult:
        df = self.prepare(df)
        rules = self.rules(df)
        if not rules or df.height == 0:
            return StageResult(kept=df)
        reason = pl.lit(None, dtype=pl.Utf8)
        for rule in reversed(rules):  # built inside out so the first failing rule wins
            reason = pl.when(rule.keep.fill_null(True).not_()).then(pl.lit(rule.reason)).otherwise(reason)
        df = df.with_columns(reason.alias(REASON))
        return split_by_reason(df)


def split_by_reason(df: pl.DataFrame) -> StageResult:
    """Split a batch with a nullable ``reason`` column into kept (reason null) and dropped rows."""
    dropped_mask = df[REASON].is_not_null()
    return StageResult(kept=df.filter(~dropped_mask).drop(REASON), dropped=df.filter(dropped_mask))


@dataclasses.dataclass(frozen=True)
class ReduceStep:
    """One global step of a :class:`GlobalStage`: ``run(part)`` for part in range(n_partitions).

    Each partition is an idempotent task with its own done marker; ``run`` returns counters for
    stats (e.g. ``clusters: 12``). Steps run in order; partitions of one step run in parallel.
    """

    name: str
    n_partitions: int
    run: Callable[[int], dict[str, Any]]


class GlobalStage(Stage):
    """A stage that needs the whole data set; see the module docstring for its three parts."""

    is_global = True

    def collect(self, df: pl.DataFrame) -> None:
        """Phase before the barrier: see one batch of this task's shard, remember what reduce needs."""

    def finish_collect(self) -> None:
        """End of this task's shard: write the collected side data (atomically) under work_dir."""

    def reduce_steps(self) -> list[ReduceStep]:
        """The global steps, run once all shards have been collected.

        The driver asks again after each step, so an iterative stage (connected components in
        rounds) may return a list that grows as its steps finish; the steps already returned must
        keep their place and name (they name the tasks' done markers)."""
        return []

    def reduce_step(self, index: int, name: str) -> ReduceStep:
        """Step ``index`` (named ``name``) in a reduce task's process; a stage whose list is costly
        to rebuild may answer from the name alone."""
        step = self.reduce_steps()[index]
        if step.name != name:
            raise RuntimeError(f"reduce step {index} is {step.name!r}, the task expected {name!r}")
        return step

    def reduce_summary(self) -> dict[str, Any]:
        """After reduce: figures for stats.json / the manifest (clusters, achieved mix...)."""
        return {}

    def process(self, df: pl.DataFrame) -> StageResult:
        """Phase after the barrier: apply the reduce result to one batch."""
        raise NotImplementedError
