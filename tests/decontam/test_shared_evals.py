"""All six shared eval sets loaded; planted items found in real web pages (recall, precision >= 0.99)."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
from pathlib import Path

import polars as pl
import pytest

from curate.decontam.foundry import foundry_benchmarks
from curate.decontam.index import build_index, item_strings, read_records
from curate.decontam.match import match
from curate.decontam.planting import plant

SHARED = Path(
    os.environ.get("CURATE_SHARED_DATA") or Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
)
MARKERS = re.compile(r"^URL:.*$|<[phl]>", re.MULTILINE)
pytestmark = [pytest.mark.external, pytest.mark.slow]  # ~20 s: reads 60 MB of pages, six evals


@pytest.fixture(scope="module")
def shared():
    if not (SHARED / "evals").is_dir() or not (SHARED / "web_real").is_dir():
        pytest.skip("needs ../shared/data/evals and web_real (CURATE_SHARED_DATA)")
    return SHARED


def test_planted_items_in_real_pages(shared):
    benchmarks = foundry_benchmarks(shared / "evals")
    names = ["lambada_openai", "piqa", "arc_easy", "copa", "boolq", "winogrande"]
    assert [b.name for b in benchmarks] == names
    index = build_index(benchmarks, 13, 4)
    rng = random.Random(0)
    pages = []
    with gzip.open(shared / "web_real" / "gold.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["split"] == "train" and r["gold_text"]:
                pages.append(MARKERS.sub("", r["gold_text"]).strip())
    pages = rng.sample(pages, 400)
    texts, want = list(pages), [None] * len(pages)
    for b in benchmarks:
        recs = [r for chunk in read_records(Path(b.path)) for r in chunk]
        for i in rng.sample(range(len(recs)), 40):
            texts.append(plant(rng.choice(pages), " ".join(item_strings(recs[i], b.fields)), rng))
            want.append(b.name)
    m = match(pl.Series(texts), index)
    got = [b if h else None for b, h in zip(m.benchmark(index).to_list(), m.hits.tolist(), strict=True)]
    planted = [i for i, w in enumerate(want) if w]
    recall = sum(got[i] == want[i] for i in planted) / len(planted)
    flagged = [i for i, g in enumerate(got) if g]
    precision = sum(got[i] == want[i] for i in flagged) / len(flagged)
    assert recall >= 0.99 and precision >= 0.99, (recall, precision)
