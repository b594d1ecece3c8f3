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

import orjson

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


def _web(out: Path, scale: float, seed: int, workers: int) -> dict:
    from curate.demo.web import file_sizes, n_pages, write_unit

    out.mkdir(parents=True, exist_ok=True)
    units = [
        (out / f"demo-{i:05d}.warc.gz", i, size, seed, i == 0)
        for i, size in enumerate(file_sizes(n_pages(scale)))
    ]
    counts: dict[str, int] = {}
    with open(out / "truth.jsonl", "wb") as f:
        if workers > 1 and len(units) > 1:
            with ProcessPoolExecutor(workers) as ex:
                results = ex.map(write_unit, units)
                for rows in results:
                    _truth(f, rows, counts)
        else:
            for u in units:
                _truth(f, write_unit(u), counts)
    return {"warc_files": len(units), "pages": sum(counts.values()), "kinds": dict(sorted(counts.items()))}


def _truth(f, rows: list[dict], counts: dict[str, int]) -> None:
    for r in rows:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
        f.write(orjson.dumps(r) + b"\n")


def generate(out_dir: Path | str, scale: float = 1.0, seed: int = 0, workers: int = 1) -> dict:
    """Write the demo corpus under ``out_dir``; returns counts per kind of data.

    ``scale`` multiplies every size (1.0: ~1,500 web pages, 20 books, ~150 code files, 3,000 JSONL
    rows, 1,500 rows per SFT format). ``workers`` > 1 writes WARC files in parallel processes;
    the output is the same bytes either way.
    """
    from curate.demo.books import write_books
    from curate.demo.code import write_code
    from curate.demo.pretrain import write_jsonl
    from curate.demo.sft import write_sft

    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    out_dir = Path(out_dir)
    _prepare(out_dir)
    t0 = time.perf_counter()
    web = _web(out_dir / "web", scale, seed, workers)
    books = write_books(out_dir / "books", scale, seed)
    code = write_code(out_dir / "code", scale, seed)
    jsonl = write_jsonl(out_dir / "jsonl", scale, seed)
    sft = write_sft(out_dir / "sft", scale, seed)
    counts = {
        "web_pages": web["pages"],
        "warc_files": web["warc_files"],
        "web_kinds": web["kinds"],
        "books": len(books),
        "code_files": code["files"],
        "jsonl_rows": sum(s["rows"] for s in jsonl),
        "jsonl_files": len(jsonl),
        **{f"sft_{k.removesuffix('.jsonl')}": v["rows"] for k, v in sft.items() if k.endswith(".jsonl")},
    }
    total_bytes = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    manifest = {
        "generator": GENERATOR,
        "seed": seed,
        "scale": scale,
        "counts": counts,
        "books": books,
        "jsonl": jsonl,
        "code": code,
        "sft_invalid": {k: len(v["invalid"]) for k, v in sft.items() if k.endswith(".jsonl")},
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

Generated by `{GENERATOR}` with seed {m["seed"]} and scale {m["scale"]}. Every text here was
generated from word lists and templates written for the curate project; nothing is copied.

- `web/`: {c["warc_files"]} gzip WARC/1.1 files, {c["web_pages"]} pages ({kinds}).
  `web/truth.jsonl` gives each page's intended kind, language, charset and planted duplicates
  (`dup_of`, and `jaccard` of lower-cased whitespace-token 5-gram shingles of the article text).
  `web/demo-00000.warc.wet.gz` holds WET conversion records for the first pages of file 0.
- `books/`: {c["books"]} books (`manifest.json` -> `books` lists language, e-text boilerplate, CRLF, BOM).
- `code/demo-repo/`: {c["code_files"]} files in several languages; `manifest.json` -> `code`
  lists what a code reader should skip and the planted duplicate files.
- `jsonl/`: {c["jsonl_rows"]} pretraining rows `{{"id", "text", "meta", "url"}}` in {c["jsonl_files"]} shards.
- `sft/`: alpaca, sharegpt, openai and preference JSONL ({c["sft_openai"]} rows each);
  `sft/truth.json` lists the planted invalid rows and exact duplicates (0-based line index).
"""
