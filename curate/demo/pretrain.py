"""Generic pretraining-style JSONL: ``{"id", "text", "meta": {...}, "url"}`` rows in ``.jsonl.gz``
shards, every fourth shard ``.jsonl.zst``. All rows are well-formed JSON.

The rows carry what the dedup recipe looks for, with the ground truth in ``meta``:

* ``meta.planted``: ``unique``, ``exact_dup`` (same text as ``meta.dup_of``), ``whitespace_dup``
  (same text up to whitespace), ``near_dup`` (``meta.jaccard`` of word 5-gram shingles in
  0.85-0.95), ``url_dup`` (same URL as ``meta.dup_of``, different text: a re-crawl) or ``short``.
* ``meta.boilerplate_line``: the row ends with one of a few promotional lines repeated across many
  rows (what CCNet-style line dedup removes).

Every row is a pure function of (seed, row index), so a duplicate can copy a row from any earlier
shard and shards are still written independently, in parallel.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import orjson
import xxhash

from curate.demo.archive import GzipWriter, ZstdWriter
from curate.demo.duplicates import article_tokens, jaccard, near_duplicate, shingles
from curate.demo.pages import Article, make_site, slug
from curate.demo.prose import prose

ROWS_AT_SCALE_1 = 3000
ROWS_PER_SHARD = 50_000
LANGS = {"en": 0.6, "de": 0.1, "fr": 0.1, "es": 0.1, "ru": 0.05, "zh": 0.05}
SOURCES = ("demo-news", "demo-forum", "demo-encyclopedia", "demo-blog")
# Planted kinds (share of rows); sources of duplicates are earlier ``unique`` rows.
PLANTED = {"exact_dup": 0.04, "whitespace_dup": 0.02, "near_dup": 0.03, "url_dup": 0.02, "short": 0.05}
DUP_WINDOW = 20_000  # a duplicate copies one of the previous DUP_WINDOW rows
BOILERPLATE_SHARE = 0.15
PROMO_LINES = {
    "en": (
        "Subscribe to our newsletter to get the best stories every week.",
        "Follow us on social media and share this article with your friends.",
        "Comments are closed for this article.",
    ),
    "de": (
        "Abonnieren Sie unseren Newsletter und verpassen Sie keine Geschichte mehr.",
        "Folgen Sie uns in den sozialen Netzwerken.",
    ),
    "fr": (
        "Abonnez-vous à notre lettre d'information pour ne rien manquer.",
        "Suivez-nous sur les réseaux sociaux.",
    ),
    "es": (
        "Suscríbase a nuestro boletín para no perderse ninguna historia.",
        "Síganos en las redes sociales.",
    ),
    "ru": ("Подпишитесь на нашу рассылку, чтобы не пропустить новые статьи.",),
    "zh": ("欢迎订阅我们的新闻通讯，每周获取精选文章。",),
}


def shard_sizes(total: int) -> list[int]:
    """At least four shards (three gzip, one zstd), at most ROWS_PER_SHARD rows each."""
    n = max(4, -(-total // ROWS_PER_SHARD))
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def _plan(seed: int, i: int) -> tuple[str, int | None]:
    """(planted kind, source row candidate) of row ``i``; row 0 is always unique.

    Drawn from a hash of (seed, i) rather than a seeded ``Random``: it is called for every row and
    again when a duplicate looks for its source, and hashing is ~40x cheaper than seeding.
    """
    if i == 0:
        return "unique", None
    key = f"{seed}:{i}".encode()
    r = (xxhash.xxh64_intdigest(key, seed=1) >> 11) / 2**53
    for kind, share in PLANTED.items():
        if r < share:
            lo = max(0, i - DUP_WINDOW)
            return kind, (None if kind == "short" else lo + xxhash.xxh64_intdigest(key, seed=2) % (i - lo))
        r -= share
    return "unique", None


def _source(seed: int, j: int) -> int:
    """The nearest unique row at or before ``j`` (a duplicate never copies a duplicate)."""
    while _plan(seed, j)[0] != "unique":
        j -= 1
    return j


def _doc_id(i: int) -> str:
    return f"doc-{i:09d}"


@functools.lru_cache(maxsize=4096)
def unique_row(seed: int, i: int) -> dict:
    """The row ``i`` would be if it were unique: text blocks (title first), url, meta."""
    rng = random.Random(f"jsonl:{seed}:{i}")
    lang = rng.choices(list(LANGS), weights=list(LANGS.values()))[0]
    p = prose(lang, seed)
    blocks = [p.title(rng), *p.paragraphs(rng, rng.randint(3, 8), 3, 7)]
    promo = rng.random() < BOILERPLATE_SHARE
    if promo:
        blocks.append(rng.choice(PROMO_LINES[lang]))
    site = make_site(rng, lang)
    meta = {
        "lang": lang,
        "source": rng.choice(SOURCES),
        "date": f"{rng.randint(2015, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "license": "synthetic",
        "boilerplate_line": promo,
    }
    return {"blocks": blocks, "url": f"https://{site.domain}/{slug(rng)}", "meta": meta}


def make_row(seed: int, i: int) -> dict:
    """Row ``i`` of the corpus (a pure function of ``seed`` and ``i``)."""
    kind, src = _plan(seed, i)
    base = unique_row(seed, i)
    meta = {**base["meta"], "planted": kind, "dup_of": None, "jaccard": None}
    text = "\n\n".join(base["blocks"])
    url = base["url"]
    if kind == "short":
        rng = random.Random(f"jsonl-short:{seed}:{i}")
        text = prose(meta["lang"], seed).paragraph(rng, 1, 2)
        meta["boilerplate_line"] = False
    elif src is not None:
        j = _source(seed, src)
        source = unique_row(seed, j)
        meta["dup_of"] = _doc_id(j)
        rng = random.Random(f"jsonl-dup:{seed}:{i}")
        src_text = "\n\n".join(source["blocks"])
        if kind == "url_dup":
            url = source["url"]
        else:
            meta.update(lang=source["meta"]["lang"], boilerplate_line=source["meta"]["boilerplate_line"])
            if kind == "near_dup" and not prose(meta["lang"]).vocab.spaced:
                kind = meta["planted"] = "exact_dup"  # shingles of whitespace tokens mean nothing in zh
            if kind == "exact_dup":
                text = src_text
            elif kind == "whitespace_dup":
                text = "\n\n\n".join(b.replace(" ", "  ", 2) + " " for b in source["blocks"]) + "\n"
            else:
                art, _ = near_duplicate(Article("", [("p", b) for b in source["blocks"]]), rng, meta["lang"])
                text = "\n\n".join(b for _, b in art.blocks)
                a, b = shingles(article_tokens(src_text)), shingles(article_tokens(text))
                meta["jaccard"] = round(jaccard(a, b), 4)
    return {"id": _doc_id(i), "text": text, "meta": meta, "url": url}


def write_shard(path: Path, shard: int, rows: int, first_id: int, seed: int) -> dict:
    """Task: write one shard; returns its manifest entry with the planted counts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    planted: dict[str, int] = {}
    with open(path, "wb") as f:
        w = ZstdWriter(f) if path.name.endswith(".zst") else GzipWriter(f, level=1)
        for i in range(first_id, first_id + rows):
            row = make_row(seed, i)
            kind = row["meta"]["planted"]
            planted[kind] = planted.get(kind, 0) + 1
            w.write(orjson.dumps(row) + b"\n")
        w.close()
    return {"file": path.name, "rows": rows, "planted": dict(sorted(planted.items()))}


def plan(out: Path, scale: float, seed: int) -> list[tuple[Path, int, int, int, int]]:
    """One task per shard: (path, shard, rows, first id, seed)."""
    tasks, first = [], 0
    for i, n in enumerate(shard_sizes(max(40, round(ROWS_AT_SCALE_1 * scale)))):
        ext = "jsonl.zst" if i % 4 == 3 else "jsonl.gz"
        tasks.append((out / f"part-{i:05d}.{ext}", i, n, first, seed))
        first += n
    return tasks
