"""Task stats as values that add: ``sum(results, start=TaskResult())`` is the run's stats.

Modelled on datatrove's ``PipelineStats``. A task's done marker holds its result as a plain dict
(the format ``TaskResult.from_dict`` reads: a phase task's ``stages``, ``collect`` and ``sources``,
or a reduce task's ``counters`` and ``seconds`` with the ``stage_index`` the driver adds); adding
results merges each stage's counts by stage index, so the merge is order-independent in every
count, and :meth:`TaskResult.check_balance` is the one place a merged stage must satisfy
``in == out + sum(dropped)``.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

from curate.engine.errors import StageContractError


def _added(a: collections.Counter, b: collections.Counter) -> collections.Counter:
    # Counter.__add__ drops zero and negative counts; a counter reported as 0 must stay in stats.
    out = collections.Counter(a)
    out.update(b)
    return out


@dataclasses.dataclass
class StageStats:
    """One stage's counts: rows in, rows accounted as kept, rows handed on, drops by reason."""

    name: str = ""
    index: int = 0
    rows_in: int = 0
    rows_out: int = 0  # input rows accounted as kept
    emitted: int = 0  # rows handed on (differs from rows_out for packing/upsampling stages)
    dropped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    counters: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    seconds: float = 0.0

    def __add__(self, other: StageStats) -> StageStats:
        if not isinstance(other, StageStats):
            return NotImplemented
        if self.index != other.index:
            raise ValueError(
                f"cannot add stats of stage {other.index} ({other.name}) to stage {self.index} ({self.name})"
            )
        return StageStats(
            name=self.name or other.name,
            index=self.index,
            rows_in=self.rows_in + other.rows_in,
            rows_out=self.rows_out + other.rows_out,
            emitted=self.emitted + other.emitted,
            dropped=_added(self.dropped, other.dropped),
            counters=_added(self.counters, other.counters),
            seconds=self.seconds + other.seconds,
        )

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def check_balance(self) -> None:
        """``in == out + sum(dropped)``, or a :class:`StageContractError` naming the stage."""
        if self.rows_in != self.rows_out + self.n_dropped:
            raise StageContractError(f"stage {self.name} does not balance: {self.to_dict()}")

    def to_dict(self, digits: int = 6) -> dict[str, Any]:
        """The stage as it appears in done markers (``digits=6``) and ``stats.json`` (``digits=3``)."""
        return {
            "name": self.name,
            "index": self.index,
            "in": self.rows_in,
            "out": self.rows_out,
            "emitted": self.emitted,
            "dropped": dict(sorted(self.dropped.items())),
            "counters": dict(sorted(self.counters.items())),
            "seconds": round(self.seconds, digits),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageStats:
        return cls(
            name=d["name"],
            index=d["index"],
            rows_in=d["in"],
            rows_out=d["out"],
            emitted=d["emitted"],
            dropped=collections.Counter(d["dropped"]),
            counters=collections.Counter(d["counters"]),
            seconds=d["seconds"],
        )


@dataclasses.dataclass
class TaskResult:
    """What tasks add up to: stats per stage (by index) and output rows/tokens per source."""

    stages: dict[int, StageStats] = dataclasses.field(default_factory=dict)
    sources: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)

    def __add__(self, other: TaskResult) -> TaskResult:
        if not isinstance(other, TaskResult):
            return NotImplemented
        stages = dict(self.stages)
        for i, s in other.stages.items():
            stages[i] = stages[i] + s if i in stages else s
        sources = {k: dict(v) for k, v in self.sources.items()}
        for src, c in other.sources.items():
            agg = sources.setdefault(src, {"rows": 0, "tokens": 0})
            agg["rows"] += c["rows"]
            agg["tokens"] += c["tokens"]
        return TaskResult(dict(sorted(stages.items())), dict(sorted(sources.items())))

    def stage_list(self) -> list[StageStats]:
        """The stages in pipeline order (``read`` first, index -1); unnamed entries (reduce-only
        results whose stage no phase task reported) are left out."""
        return [self.stages[i] for i in sorted(self.stages) if self.stages[i].name]

    def check_balance(self) -> None:
        for s in self.stage_list():
            s.check_balance()

    def to_dict(self, digits: int = 6) -> dict[str, Any]:
        return {
            "stages": [s.to_dict(digits) for s in self.stage_list()],
            "sources": dict(sorted(self.sources.items())),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskResult:
        """A task's result (a done marker), or a :meth:`to_dict` of one, as a value."""
        out = cls()
        for s in d.get("stages") or []:
            out = out + TaskResult({s["index"]: StageStats.from_dict(s)})
        c = d.get("collect")
        if c:  # a global stage's collect half: its time counts for that stage
            out = out + TaskResult({c["index"]: StageStats(c["name"], c["index"], seconds=c["seconds"])})
        if "stage_index" in d:  # a reduce step's partition: time and numeric counters
            counters = collections.Counter(
                {k: v for k, v in (d.get("counters") or {}).items() if isinstance(v, int | float)}
            )
            out = out + TaskResult(
                {d["stage_index"]: StageStats("", d["stage_index"], counters=counters, seconds=d["seconds"])}
            )
        if d.get("sources"):
            out = out + TaskResult(
                sources={k: {"rows": v["rows"], "tokens": v["tokens"]} for k, v in d["sources"].items()}
            )
        return out
