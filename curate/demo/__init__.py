"""Seeded generator of the demo corpus (``curate demo-data DIR``).

Everything is synthetic and written by this package: no third-party text is copied. The same
``seed`` and ``scale`` give byte-identical files. ``scale=1`` is sized so the whole demo runs in
about a minute on two cores; large scales stream (bounded memory) and can use several processes.

Layout::

    DIR/web/demo-NNNNN.warc.gz        gzip WARC/1.1, request + response per page
    DIR/web/demo-00000.warc.wet.gz    WET conversion records for the first pages of file 0
    DIR/web/truth.jsonl               per page: url, lang, kind, dup_of, jaccard, charset, ...
    DIR/books/book-NNNNN-LANG.txt     book-length texts (some with e-text header/footer)
    DIR/code/demo-repo/...            a small multi-language repository (+ things to skip)
    DIR/jsonl/part-NNNNN.jsonl.{gz,zst}
    DIR/sft/{alpaca,sharegpt,openai,preference}.jsonl + truth.json
    DIR/manifest.json, DIR/README.md  what was generated
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

__all__ = ["generate", "GENERATOR"]

GENERATOR = "curate demo-data"
PARTS = ("web", "books", "code", "jsonl", "sft")


def _prepare(out_dir: Path) -> None:
    """Create ``out_dir``, or clear what an earlier run of the generator wrote there."""
    if out_dir.exists() and any(out_dir.iterdir()):
        manifest = out_dir / "manifest.json"
        try:
            ours = json.loads(manifest.read_text()).get("generator") == GENERATOR
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise FileExistsError(
                f"{out_dir} is not empty and has no manifest.json from {GENERATOR}; "
                "choose an empty or new directory"
            )
        for part in PARTS:
            shutil.rmtree(out_dir / part, ignore_errors=True)
        for name in ("manifest.json", "README.md"):
            (out_dir / name).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def _call(task: tuple) -> object:
    fn, args = task
    return fn(*args)


def run_tasks(tasks: list[tuple], workers: int) -> list:
    """Run ``(function, args)`` tasks, in processes when ``workers`` > 1; results in task order.

    Every task seeds its own generator from (seed, its identity), so the bytes written do not
    depend on ``workers`` or on scheduling order.
    """
    if workers <= 1 or len(tasks) <= 1:
        return [_call(t) for t in tasks]
    with ProcessPoolExecutor(min(workers, len(tasks))) as ex:
        return list(ex.map(_call, tasks, chunksize=1))


def generate(out_dir: Path | str, scale: float = 1.0, seed: int = 0, workers: int = 1) -> dict:
    """Write the demo corpus under ``out_dir``; returns counts per kind of data.

    ``scale`` multiplies every size (1.0: ~1,500 web pages, 20 books, ~150 code files, 3,000 JSONL
    rows, 1,500 rows per SFT format). ``workers`` > 1 writes files in parallel processes; the
    output is the same bytes either way.
    """
    from curate.demo import books, code, pretrain, sft, web

    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    out_dir = Path(out_dir)
    _prepare(out_dir)
    t0 = time.perf_counter()
    # Submission order is scheduling order: the four long SFT files first, then the WARC files.
    plans = {
        "sft": [(sft.write_sft_file, a) for a in sft.plan(out_dir / "sft", scale, seed)],
        "web": [(web.write_unit, a) for a in web.plan(out_dir / "web", scale, seed)],
        "jsonl": [(pretrain.write_shard, a) for a in pretrain.plan(out_dir / "jsonl", scale, seed)],
        "books": [(books.write_books, a) for a in books.plan(out_dir / "books", scale, seed)],
        "code": [(code.write_sources, a) for a in code.plan(out_dir / "code", scale, seed)],
    }
    for part in PARTS:
        (out_dir / part).mkdir(parents=True, exist_ok=True)
    flat = [t for tasks in plans.values() for t in tasks]
    results = run_tasks(flat, workers)
    by_part, i = {}, 0
    for name, tasks in plans.items():
        by_part[name] = results[i : i + len(tasks)]
        i += len(tasks)
    web_counts = web.finish(out_dir / "web", [a for _, a in plans["web"]], by_part["web"])
    sft_truth = sft.finish(out_dir / "sft", [a for _, a in plans["sft"]], by_part["sft"])
    code_info = code.finish(out_dir / "code", [a for _, a in plans["code"]], by_part["code"], seed)
    book_rows = [row for rows in by_part["books"] for row in rows]
    jsonl = by_part["jsonl"]
    counts = {
        "web_pages": web_counts["pages"],
        "warc_files": web_counts["warc_files"],
        "web_kinds": web_counts["kinds"],
        "books": len(book_rows),
        "code_files": code_info["files"],
        "jsonl_rows": sum(s["rows"] for s in jsonl),
        "jsonl_files": len(jsonl),
        **{
            f"sft_{k.removesuffix('.jsonl')}": v["rows"] for k, v in sft_truth.items() if k.endswith(".jsonl")
        },
    }
    total_bytes = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    manifest = {
        "generator": GENERATOR,
        "seed": seed,
        "scale": scale,
        "counts": counts,
        "books": book_rows,
        "jsonl": jsonl,
        "code": code_info,
        "sft_invalid": {k: len(v["invalid"]) for k, v in sft_truth.items() if k.endswith(".jsonl")},
        "bytes": total_bytes,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    (out_dir / "README.md").write_text(_readme(manifest))
    counts["seconds"] = round(time.perf_counter() - t0, 3)
    counts["bytes"] = total_bytes
    return counts


def _readme(m: dict) -> str:
    c = m["counts"]
    kinds = ", ".join(f"{k} {v}" for k, v in c["web_kinds"].items())
    return f"""# Demo data (synthetic)

Generated by `{GENERATOR}` with seed {m["seed"]} and scale {m["scale"]}; the same seed and scale
give the same bytes. Every text here was generated from word lists and templates written for the
curate project; nothing is copied.

## web/

{c["warc_files"]} gzip WARC/1.1 files (one gzip member per record; warcinfo, then request +
response per page) with {c["web_pages"]} pages: {kinds}.

`web/truth.jsonl`, one row per page in file order:

| field | meaning |
| --- | --- |
| `url`, `warc`, `record_id` | where the response record is |
| `lang` | en, de, fr, es, ru, zh (about half en) |
| `kind` | `good` (article + boilerplate), `exact_dup` / `near_dup` (of `dup_of`), `spam` (keyword stuffing), `short`, `lorem`, `js_required`, `link_farm`, `bullets`, `symbols` (hashtags, ellipses), `boilerplate` (section front, no article), `image`, `pdf`, `not_found` (404), `redirect` (301) |
| `dup_of`, `jaccard` | the original page's URL; Jaccard of word 5-gram shingles (lower-cased whitespace tokens) of the two article texts, 0.85-0.95 for `near_dup` |
| `charset`, `charset_declared` | the page's encoding (utf-8, iso-8859-1, windows-1251, koi8-r, gbk, gb18030) and where it is declared: `header`, `meta`, `both` or `none` |
| `http_encoding` | `gzip` (Content-Encoding) or `chunked` (Transfer-Encoding) payloads, else null |
| `title`, `n_tokens`, `status`, `content_type` | page title, article tokens, HTTP status and Content-Type |

The article is the `h2`/`p` blocks inside the element with class `article-body`; navigation,
cookie banner, sidebar, share links and footer around it are boilerplate. Exact duplicates carry
the same article (on the same site with a tracking parameter and a canonical link, or on another
site); near-duplicates are planted only for languages written with spaces. Which member of a pair
a dedup stage keeps is its own policy: score pairs, not survivors.
`web/demo-00000.warc.wet.gz` holds WET conversion records (text with boilerplate) for the first
pages of file 0.

## books/, code/, jsonl/

- `books/`: {c["books"]} books; `manifest.json` -> `books` gives language, e-text header/footer
  (`*** START OF ... ***` markers), CRLF line endings and byte-order mark per file.
- `code/demo-repo/`: {c["code_files"]} files; `manifest.json` -> `code.skip` lists what a code
  reader or filter should leave out (node_modules, vendor, .git, binary, UTF-16, latin-1, empty,
  minified, lock file, a CSV over 1 MB) and `code.duplicates` the copied modules.
- `jsonl/`: {c["jsonl_rows"]} pretraining rows `{{"id", "text", "meta", "url"}}` in {c["jsonl_files"]} shards;
  `meta.planted` (unique, short, exact_dup, whitespace_dup, near_dup, url_dup), `meta.dup_of`,
  `meta.jaccard` and `meta.boilerplate_line` (a promotional line repeated across many rows) are
  the ground truth for the dedup recipes.

## sft/

`alpaca.jsonl`, `sharegpt.jsonl`, `openai.jsonl`, `preference.jsonl` ({c["sft_openai"]} rows each):
multi-turn chats, system prompts, tool calls (ShareGPT `function_call` / `observation`), other
languages, preference pairs as strings and as message lists, and a learnable synthetic task
("Reverse the word: apple" -> "elppa", "What is 3 plus 4?" -> "The answer is 7.").
`sft/truth.json` lists per file the planted invalid rows (`index`: 0-based line, `reason`) and the
exact duplicate rows (`index`, `dup_of`).
"""  # noqa: E501
