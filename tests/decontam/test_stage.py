"""The decontaminate stage: exact hits on crafted documents, drop/mark, bookkeeping, planted recall."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.decontam.index import Benchmark, BenchmarkIndex, build_index, load_or_build
from curate.decontam.planting import plant
from curate.decontam.stage import Decontaminate
from curate.engine.stage import StageContext

VOCAB = [f"w{i}" for i in range(3000)]  # random word sequences: no accidental 13-gram is shared


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


@pytest.fixture
def bench_files(tmp_path):
    rng = random.Random(0)
    qa = [{"query": "Question: " + sentence(rng, rng.randint(3, 30)), "choices": [sentence(rng, 4),
           sentence(rng, 5)], "gold": rng.randint(0, 1)} for _ in range(200)]
    with gzip.open(tmp_path / "qa.jsonl.gz", "wt") as f:
        f.write("\n".join(json.dumps(r) for r in qa) + "\n")
    passages = [{"context": sentence(rng, rng.randint(40, 120)), "continuation": "w1"} for _ in range(100)]
    pq.write_table(pa.Table.from_pylist(passages), tmp_path / "passages.parquet")
    benchmarks = [
        {"name": "qa", "path": str(tmp_path / "qa.jsonl.gz"), "fields": ["query", "choices[gold]"]},
        {"name": "passages", "path": str(tmp_path / "passages.parquet"),
         "fields": ["context", "continuation"]},
    ]
    return benchmarks, qa, passages


def item_text(rec: dict, fields: list[str]) -> str:
    from curate.decontam.index import item_strings

    return " ".join(item_strings(rec, fields))


def make(benchmarks, tmp_path=None, **kw) -> Decontaminate:
    ctx = None
    if tmp_path is not None:
        ctx = StageContext(run_dir=tmp_path, work_dir=tmp_path / "w", stage_index=0,
                           stage_name="decontaminate")
        ctx.work_dir.mkdir(exist_ok=True)
    return Decontaminate(Decontaminate.Config(benchmarks=benchmarks, **kw), ctx)


def test_hits_record_benchmark_and_item_and_drop(bench_files, tmp_path):
    benchmarks, qa, passages = bench_files
    rng = random.Random(1)
    n_words = [len(item_text(r, ["query", "choices[gold]"]).split()) for r in qa]
    long_qa = next(i for i, n in enumerate(n_words) if n > 20)
    short_qa = next(i for i, n in enumerate(n_words) if 5 <= n < 13)
    docs = pl.DataFrame({
        "id": ["clean", "passage", "qa_long", "qa_short", "half"],
        "text": [
            sentence(rng, 300),
            sentence(rng, 50) + "\n\n" + passages[7]["context"].upper() + " w1 and more",
            "Intro.\n" + item_text(qa[long_qa], ["query", "choices[gold]"]).replace(" ", "\n  ") + "\nOutro",
            "see: " + item_text(qa[short_qa], ["query", "choices[gold]"]) + " - end",
            " ".join(item_text(qa[long_qa], ["query"]).split()[:12]),  # 12 words of a long item: no hit
        ],
    })
    res = make(benchmarks, tmp_path).process(docs)
    assert res.kept["id"].to_list() == ["clean", "half"]
    d = res.dropped.sort("id")
    assert d["id"].to_list() == ["passage", "qa_long", "qa_short"]
    assert d["reason"].unique().to_list() == ["contaminated"]
    assert d["contamination_benchmark"].to_list() == ["passages", "qa", "qa"]
    assert d["contamination_item"].to_list() == [7, long_qa, short_qa]
    assert d["contamination_ngrams"].to_list()[2] == 1  # a short item counts once, matched whole
    assert res.kept["contamination_benchmark"].to_list() == [None, None]
    assert res.counters["contaminated:qa"] == 2 and res.counters["contaminated:passages"] == 1
    # the index was saved and is memory-mapped from the work folder by the next worker
    (folder,) = (tmp_path / "w").glob("index-*")
    assert isinstance(BenchmarkIndex.load(folder).grams, __import__("numpy").memmap)

    marked = make(benchmarks, None, action="mark").process(docs)
    assert marked.dropped is None and marked.kept.height == 5
    assert marked.kept["contamination_benchmark"].to_list() == [None, "passages", "qa", "qa", None]

    strict = make(benchmarks, None, min_matches=3).process(docs)
    assert sorted(strict.dropped["id"].to_list()) == ["passage", "qa_long"]


def test_short_items_below_min_item_words_are_skipped(bench_files):
    benchmarks, qa, _ = bench_files
    idx = build_index([Benchmark(**benchmarks[0])], 13, min_item_words=30)
    assert idx.stats["qa"]["short_texts"] == 0 and idx.stats["qa"]["skipped_texts"] > 0


def test_config_errors(bench_files, tmp_path):
    benchmarks, _, _ = bench_files
    with pytest.raises(ValueError, match="repeat"):
        Decontaminate.Config(benchmarks=[benchmarks[0], benchmarks[0]])
    with pytest.raises(ValueError):
        Decontaminate.Config(benchmarks=[{**benchmarks[0], "bogus": 1}])
    with pytest.raises(FileNotFoundError):
        make([{**benchmarks[0], "path": str(tmp_path / "nope.jsonl")}]).setup()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 199), st.booleans(), st.integers(0, 50)), max_size=30),
       st.sampled_from(["drop", "mark"]))
def test_in_equals_out_plus_dropped(bench_files, plan, action):
    benchmarks, qa, _ = bench_files
    rng = random.Random(len(plan))
    texts = [sentence(rng, n) + (" " + item_text(qa[i], ["query", "choices[gold]"]) if planted else "")
             for i, planted, n in plan]
    df = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts}, schema={"id": pl.Utf8,
                                                                                      "text": pl.Utf8})
    res = make(benchmarks, None, action=action).process(df)
    assert res.kept.height + res.n_dropped == df.height
    flagged = sum(v for k, v in res.counters.items() if k.startswith("contaminated:"))
    marked = res.kept["contamination_benchmark"].is_not_null().sum()
    assert flagged == (res.n_dropped if action == "drop" else marked)
    assert flagged >= sum(1 for _, planted, _ in plan if planted)


def test_planted_recall_and_no_false_positives(bench_files):
    """Every item, re-wrapped/re-spaced/re-cased/hyphenated into a host text, is found (benchmark
    and item); the hosts alone are clean."""
    benchmarks, qa, passages = bench_files
    rng = random.Random(7)
    hosts = ["\n\n".join(sentence(rng, 60) for _ in range(4)) for _ in range(50)]
    texts, want = [], []
    for name, recs, fields in (("qa", qa, ["query", "choices[gold]"]), ("passages", passages,
                                                                        ["context", "continuation"])):
        for i, r in enumerate(recs):
            if len(item_text(r, fields).split()) < 4:
                continue
            texts.append(plant(rng.choice(hosts), item_text(r, fields), rng))
            want.append((name, i))
    res = make(benchmarks, None, action="mark").process(pl.DataFrame({"text": texts + hosts}))
    got = list(zip(res.kept["contamination_benchmark"].to_list(), res.kept["contamination_item"].to_list(),
                   strict=True))
    assert got[: len(want)] == want
    assert all(b is None for b, _ in got[len(want):])


def test_index_cache_reuses_the_build(bench_files, tmp_path):
    bs = [Benchmark(**b) for b in bench_files[0]]
    a = load_or_build(bs, 13, 4, tmp_path)
    assert load_or_build(bs, 13, 4, tmp_path) is a
    assert len(list(Path(tmp_path).glob("index-*"))) == 1
