"""Generic pretraining-style JSONL: ``{"id", "text", "meta": {...}, "url"}`` rows in ``.jsonl.gz``
shards and one ``.jsonl.zst`` shard (every fourth shard is zstd). All rows are well-formed; about
5% are short documents that length filters should drop.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from curate.demo.archive import GzipWriter, ZstdWriter
from curate.demo.pages import make_site, slug
from curate.demo.prose import prose

ROWS_AT_SCALE_1 = 3000
ROWS_PER_SHARD = 50_000
LANGS = {"en": 0.6, "de": 0.1, "fr": 0.1, "es": 0.1, "ru": 0.05, "zh": 0.05}
SOURCES = ("demo-news", "demo-forum", "demo-encyclopedia", "demo-blog")


def shard_sizes(total: int) -> list[int]:
    """At least four shards (three gzip, one zstd), at most ROWS_PER_SHARD rows each."""
    n = max(4, -(-total // ROWS_PER_SHARD))
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def write_shard(path: Path, shard: int, rows: int, first_id: int, seed: int) -> dict:
    """Task: write one shard; returns its manifest entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"jsonl:{seed}:{shard}")
    with open(path, "wb") as f:
        w = ZstdWriter(f) if path.name.endswith(".zst") else GzipWriter(f)
        for k in range(rows):
            lang = rng.choices(list(LANGS), weights=list(LANGS.values()))[0]
            p = prose(lang, seed)
            if rng.random() < 0.05:
                text = p.paragraph(rng, 1, 2)
            else:
                paras = p.paragraphs(rng, rng.randint(3, 8), 3, 7)
                text = p.title(rng) + "\n\n" + "\n\n".join(paras)
            site = make_site(rng, lang)
            row = {
                "id": f"doc-{first_id + k:09d}",
                "text": text,
                "meta": {
                    "lang": lang,
                    "source": rng.choice(SOURCES),
                    "date": f"{rng.randint(2015, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    "license": "synthetic",
                },
                "url": f"https://{site.domain}/{slug(rng)}",
            }
            w.write(orjson.dumps(row) + b"\n")
        w.close()
    return {"file": path.name, "rows": rows}


def plan(out: Path, scale: float, seed: int) -> list[tuple[Path, int, int, int, int]]:
    """One task per shard: (path, shard, rows, first id, seed)."""
    tasks, first = [], 0
    for i, n in enumerate(shard_sizes(max(40, round(ROWS_AT_SCALE_1 * scale)))):
        ext = "jsonl.zst" if i % 4 == 3 else "jsonl.gz"
        tasks.append((out / f"part-{i:05d}.{ext}", i, n, first, seed))
        first += n
    return tasks
