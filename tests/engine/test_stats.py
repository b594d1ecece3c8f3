"""Task stats are values that add: merging is a sum, in any order, and stats.json round-trips."""

from __future__ import annotations

import collections
import functools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.engine.errors import StageContractError
from curate.engine.stats import StageStats, TaskResult

REASONS = ["too_short", "malformed:json", "lang", "dup"]
NAMES = {-1: "read", 0: "MinChars", 1: "dedup", 2: "format"}


@st.composite
def stage_stats(draw, index: int) -> StageStats:
    """A balanced stage: in == out + dropped. Seconds are multiples of 1/64, so sums are exact."""
    dropped = collections.Counter(
        {r: draw(st.integers(0, 50)) for r in draw(st.sets(st.sampled_from(REASONS)))}
    )
    out = draw(st.integers(0, 200))
    counters = collections.Counter(
        {k: draw(st.integers(0, 10**6)) for k in draw(st.sets(st.sampled_from(["files", "bytes", "hits"])))}
    )
    return StageStats(
        name=NAMES[index],
        index=index,
        rows_in=out + sum(dropped.values()),
        rows_out=out,
        emitted=draw(st.integers(0, 300)),
        dropped=dropped,
        counters=counters,
        seconds=draw(st.integers(0, 1000)) / 64,
    )


@st.composite
def task_results(draw) -> TaskResult:
    indices = draw(st.sets(st.sampled_from(sorted(NAMES)), min_size=1))
    stages = {i: draw(stage_stats(i)) for i in sorted(indices)}
    sources = {
        s: {"rows": draw(st.integers(0, 100)), "tokens": draw(st.integers(0, 10**5))}
        for s in draw(st.sets(st.sampled_from(["web", "books"])))
    }
    return TaskResult(stages, sources)


def _dump(r: TaskResult, digits: int = 6) -> str:
    return json.dumps(r.to_dict(digits), indent=2)


@settings(max_examples=150, deadline=None)
@given(st.lists(task_results(), max_size=8), st.randoms())
def test_sum_is_order_independent(results, rnd):
    a = sum(results, start=TaskResult())
    shuffled = list(results)
    rnd.shuffle(shuffled)
    assert _dump(sum(shuffled, start=TaskResult())) == _dump(a)


@settings(max_examples=150, deadline=None)
@given(task_results(), task_results(), task_results())
def test_sum_is_associative_and_empty_is_neutral(x, y, z):
    assert _dump((x + y) + z) == _dump(x + (y + z))
    assert _dump(TaskResult() + x) == _dump(x) == _dump(x + TaskResult())


@settings(max_examples=150, deadline=None)
@given(st.lists(task_results(), max_size=8))
def test_balance_is_preserved_and_counts_add(results):
    total = sum(results, start=TaskResult())
    total.check_balance()
    for i, s in total.stages.items():
        parts = [r.stages[i] for r in results if i in r.stages]
        assert s.rows_in == sum(p.rows_in for p in parts)
        assert s.dropped == functools.reduce(
            lambda a, b: a + b, (p.dropped for p in parts), collections.Counter()
        )
    for src, c in total.sources.items():
        assert c["rows"] == sum(r.sources[src]["rows"] for r in results if src in r.sources)


@settings(max_examples=150, deadline=None)
@given(st.lists(task_results(), max_size=8))
def test_round_trip_gives_byte_identical_stats_json(results):
    total = sum(results, start=TaskResult())
    for digits in (6, 3):
        text = _dump(total, digits)
        again = TaskResult.from_dict(json.loads(text))
        assert _dump(again, digits) == text


def test_a_zero_counter_is_kept():
    """Counter's own + drops zero counts; a counter a stage reported as 0 stays in the stats."""
    a = TaskResult({0: StageStats("s", 0, counters=collections.Counter({"hits": 0}))})
    assert (a + a).stages[0].counters == {"hits": 0}


def test_unbalanced_stage_is_named():
    bad = TaskResult(
        {0: StageStats("MinChars", 0, rows_in=3, rows_out=1, dropped=collections.Counter({"too_short": 1}))}
    )
    with pytest.raises(StageContractError, match="stage MinChars does not balance"):
        bad.check_balance()


def test_stages_of_different_index_do_not_add():
    with pytest.raises(ValueError, match="cannot add stats of stage 1"):
        StageStats("a", 0) + StageStats("b", 1)


def test_done_markers_merge_like_the_runner_did():
    """A phase task's marker (stages, collect, sources) and a reduce task's (counters, seconds)."""
    phase = {
        "task": "p0-00000",
        "phase": 0,
        "stages": [
            StageStats("read", -1, 10, 9, 9, collections.Counter({"malformed:json": 1})).to_dict(),
            StageStats("MinChars", 0, 9, 7, 7, collections.Counter({"too_short": 2})).to_dict(),
        ],
        "collect": {
            "name": "dedup",
            "index": 1,
            "in": 7,
            "out": 0,
            "emitted": 0,
            "dropped": {},
            "counters": {},
            "seconds": 0.5,
        },
        "shards": [],
        "sources": {},
        "seconds": 1.0,
    }
    reduce = {
        "task": "r01-0-count-0000",
        "counters": {"rare": 3, "note": "text is not added"},
        "seconds": 0.25,
        "stage_index": 1,
    }
    apply = {
        "task": "p1-00000",
        "phase": 1,
        "stages": [StageStats("dedup", 1, 7, 5, 5, collections.Counter({"dup": 2})).to_dict()],
        "collect": None,
        "shards": [],
        "sources": {"web": {"rows": 5, "tokens": 0}},
        "seconds": 0.1,
    }
    total = sum((TaskResult.from_dict(r) for r in (phase, apply, reduce)), start=TaskResult())
    total.check_balance()
    dedup = total.stages[1].to_dict(3)
    assert dedup == {"name": "dedup", "index": 1, "in": 7, "out": 5, "emitted": 5, "dropped": {"dup": 2},
                     "counters": {"rare": 3}, "seconds": 0.75}
    assert [s.name for s in total.stage_list()] == ["read", "MinChars", "dedup"]
    assert total.sources == {"web": {"rows": 5, "tokens": 0}}


def test_a_runs_stats_json_round_trips(tmp_path, corpus, stages_module, monkeypatch):
    from curate.engine.runner import run_pipeline
    from curate.engine.spec import spec_from_dict

    monkeypatch.chdir(tmp_path)
    spec = spec_from_dict({
        "name": "t",
        "inputs": [{"source": "web", "reader": "jsonl", "paths": "corpus/*.jsonl"}],
        "stages": [{"stage": f"{stages_module}:MinChars", "config": {"min_chars": 12}},
                   {"stage": f"{stages_module}:RareSource", "config": {"min_count": 3}}],
    })
    res = run_pipeline(spec, tmp_path / "o", quiet=True)
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    again = TaskResult.from_dict({"stages": stats["stages"]}).to_dict(3)["stages"]
    assert json.dumps(again) == json.dumps(stats["stages"])
    assert TaskResult.from_dict({"sources": res.manifest["sources"]}).sources == res.manifest["sources"]
