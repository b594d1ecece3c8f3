"""Decontamination: recall/precision on planted items and docs/s/core, ours vs lm-eval's janitor.

    POLARS_MAX_THREADS=1 python -m bench.decontam [--per-benchmark 300] [--repeat 3]

Loads all six shared eval sets (../shared/data/evals, LLM Foundry's local_data layouts), takes the
gold text of the web_real ``train`` pages (markers stripped) as clean documents, plants up to
``--per-benchmark`` items of every benchmark (re-wrapped, re-spaced, re-cased:
curate.decontam.planting) into copies of those pages, and reports:

* recall: planted documents flagged with the planted benchmark (and with the planted item);
* precision: planted flagged / all flagged, over planted copies + the clean pages;
* docs/s on one core (POLARS_MAX_THREADS=1) for the stage's matcher and for lm-eval's
  ``Janitor.normalize_string`` + ``word_ngrams`` set lookup (the reference, pure Python) on the
  same documents; the reference's recall shows the known miss of plain 13-gram matching.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import string
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from curate.decontam.foundry import foundry_benchmarks  # noqa: E402
from curate.decontam.index import build_index, item_strings, read_records  # noqa: E402
from curate.decontam.match import match  # noqa: E402
from curate.decontam.planting import plant  # noqa: E402

SHARED = Path(os.environ.get("CURATE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
MARKERS = re.compile(r"^URL:.*$|<[phl]>", re.MULTILINE)


def gold_pages(split: str = "train") -> list[str]:
    """web_real gold text of one split, CleanEval markers and the URL line stripped."""
    out = []
    with gzip.open(SHARED / "web_real" / "gold.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["split"] == split:
                out.append(MARKERS.sub("", r["gold_text"] or "").strip())
    return [t for t in out if t]


def planted_set(benchmarks, pages: list[str], per: int, seed: int = 0):
    """(texts, benchmark, item row) of planted copies; benchmark None for the clean pages."""
    rng = random.Random(seed)
    texts, labels, rows = list(pages), [None] * len(pages), [None] * len(pages)
    for b in benchmarks:
        records = [r for chunk in read_records(Path(b.path)) for r in chunk]
        texts_of = [" ".join(item_strings(r, b.fields)) for r in records]
        items = [(n, t) for n, t in enumerate(texts_of) if t.strip()]  # n: the record number
        for n, t in rng.sample(items, min(per, len(items))):
            texts.append(plant(rng.choice(pages), t, rng))
            labels.append(b.name)
            rows.append(n)
    return texts, labels, rows


class LmEvalJanitor:
    """lm-eval's decontamination matching (janitor.py), in its Python mode: the reference."""

    def __init__(self, benchmarks, n: int = 13):
        self.n = n
        self.table = str.maketrans(string.ascii_lowercase + string.ascii_uppercase,
                                   string.ascii_lowercase * 2, string.punctuation)
        self.grams: dict[str, str] = {}
        for b in benchmarks:
            for chunk in read_records(Path(b.path)):
                for r in chunk:
                    for g in self._ngrams(" ".join(item_strings(r, b.fields))):
                        self.grams.setdefault(g, b.name)

    def _ngrams(self, s: str):
        toks = s.translate(self.table).split()
        return (" ".join(toks[i : i + self.n]) for i in range(len(toks) - self.n + 1))

    def flag(self, text: str) -> str | None:
        for g in self._ngrams(text):
            b = self.grams.get(g)
            if b is not None:
                return b
        return None


def scores(flag_bench: list, labels: list, flag_row: list | None = None, rows: list | None = None):
    planted = [i for i, lab in enumerate(labels) if lab is not None]
    tp = sum(1 for i in planted if flag_bench[i] == labels[i])
    item_ok = sum(1 for i in planted if flag_row is not None and flag_row[i] == rows[i]
                  and flag_bench[i] == labels[i])
    flagged = [i for i, f in enumerate(flag_bench) if f is not None]
    fp_clean = [i for i in flagged if labels[i] is None]
    right = sum(1 for i in flagged if labels[i] is not None and flag_bench[i] == labels[i])
    prec = right / max(len(flagged), 1)
    return tp / len(planted), item_ok / len(planted), prec, fp_clean


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-benchmark", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3, help="passes over the documents for the speed figure")
    ap.add_argument("--min-item-words", type=int, default=4)
    args = ap.parse_args()
    benchmarks = foundry_benchmarks(SHARED / "evals")
    assert len(benchmarks) == 6, [b.name for b in benchmarks]
    pages = gold_pages()
    texts, labels, rows = planted_set(benchmarks, pages, args.per_benchmark)
    n_planted = sum(lab is not None for lab in labels)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(pages)} clean web_real train pages + {n_planted} planted copies ({mb:.1f} MB); "
          f"POLARS_MAX_THREADS={os.environ['POLARS_MAX_THREADS']}")

    t0 = time.perf_counter()
    index = build_index(benchmarks, 13, args.min_item_words)
    t_index = time.perf_counter() - t0
    print(f"index: {index.grams.size:,} 13-grams + {sum(v[0].size for v in index.short.values()):,} short "
          f"texts, {(index.grams.nbytes + index.gram_item.nbytes) / 1e6:.1f} MB, built in {t_index:.2f} s")
    series = pl.Series(texts, dtype=pl.Utf8)
    best = float("inf")
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        m = None
        for lo in range(0, len(texts), 4096):
            part = match(series.slice(lo, 4096), index)
            m = part if m is None else type(m)(np.concatenate([m.hits, part.hits]),
                                               np.concatenate([m.item, part.item]))
        best = min(best, time.process_time() - c0)
    ours_bench = m.benchmark(index).to_list()
    ours_bench = [b if h >= 1 else None for b, h in zip(ours_bench, m.hits.tolist(), strict=True)]
    ours_row = m.row(index).to_list()
    r_ours, r_item, p_ours, fp_ours = scores(ours_bench, labels, ours_row, rows)
    ours_dps = len(texts) / best

    t0 = time.perf_counter()
    ref = LmEvalJanitor(benchmarks)
    t_ref_index = time.perf_counter() - t0
    c0 = time.process_time()
    ref_bench = [ref.flag(t) for t in texts]
    ref_cpu = time.process_time() - c0
    r_ref, _, p_ref, fp_ref = scores(ref_bench, labels)
    ref_dps = len(texts) / ref_cpu

    print()
    print("| matcher | docs/s/core | MB/s/core | recall (benchmark) | recall (item) | precision "
          "| clean pages flagged | index s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| curate decontaminate | {ours_dps:,.0f} | {mb / best:.1f} | {r_ours:.4f} | {r_item:.4f} "
          f"| {p_ours:.4f} | {len(fp_ours)} | {t_index:.2f} |")
    print(f"| lm-eval janitor (Python) | {ref_dps:,.0f} | {mb / ref_cpu:.1f} | {r_ref:.4f} | | {p_ref:.4f} "
          f"| {len(fp_ref)} | {t_ref_index:.2f} |")
    print(f"\nspeed ratio ours/lm-eval: {ours_dps / ref_dps:.2f}x")
    per = {}
    for i, lab in enumerate(labels):
        if lab is not None:
            per.setdefault(lab, [0, 0])
            per[lab][0] += 1
            per[lab][1] += ours_bench[i] == lab
    print("recall per benchmark (ours): " + ", ".join(f"{k} {v[1]}/{v[0]}" for k, v in per.items()))
    for i in fp_ours[:5]:
        print(f"false positive on a clean page: {ours_bench[i]} item {ours_row[i]}: {texts[i][:120]!r}")
    missed = [i for i, lab in enumerate(labels) if lab is not None and ours_bench[i] != lab]
    for i in missed[:3]:
        print(f"missed {labels[i]} item {rows[i]}")


if __name__ == "__main__":
    main()
