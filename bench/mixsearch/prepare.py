"""Prepare issue 19's Measure setup for `curate mix search` from `../shared/data`, into a folder that
travels to a GPU machine (code, sources, target, SEARCH YAMLs, run.sh; <= 50 MiB).

Sources (what trains), each a folder of text shards:
- `web`: the `train` pages of web_real through `pipelines/web.yaml` (curated; held-out URLs never
  reach it);
- `books`: the Gutenberg books of the first half of the authors (header and licence cut), in
  chunks of about 4 KB at paragraph breaks (selection keeps whole documents: a 400 KB book would
  make shares coarse at a budget of a few MB);
- `instruct`: instruction responses as plain text (Alpaca `output`, the chosen reply of the DPO
  pairs, the assistant turns of the KTO rows marked good, the assistant turns of the Glaive set);
- `code`: the demo's generated code tree (`curate.demo.code`, scale `--code-scale`) through
  `pipelines/code.yaml`.
Target, disjoint from every source, equally weighted: the English held-out gold pages, the
Gutenberg books of the second half of the authors (evenly spaced whole ~4 KB pieces of every book,
about `--target-book-bytes` in all), WikiText-103 test.

Run: `python -m bench.mixsearch.prepare --shared ../shared/data -w out/mixs -o .mixs`
Then `.mixs/run.sh search` and `.mixs/run.sh validate` on the GPU (see bench/README.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _run(args: list[str], env: dict | None = None) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True, cwd=REPO, env={**os.environ, **(env or {})})


def chunk_book(text: str, target: int = 4000) -> list[str]:
    """Paragraph-aligned pieces of about `target` characters (a paragraph longer than that is one piece)."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    out, cur, n = [], [], 0
    for p in paras:
        cur.append(p)
        n += len(p) + 2
        if n >= target:
            out.append("\n\n".join(cur))
            cur, n = [], 0
    if cur:
        out.append("\n\n".join(cur))
    return out


def books_source(ref_books: Path, dst: Path) -> dict:
    ids, texts = [], []
    for f in sorted(ref_books.glob("*.txt.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for i, piece in enumerate(chunk_book(fh.read())):
                ids.append(f"{f.name.removesuffix('.txt.gz')}#{i}")
                texts.append(piece)
    return _write(dst, "books", ids, texts)


def instruct_source(instruct: Path, dst: Path) -> dict:
    ids, texts = [], []

    def add(key: str, text: str | None) -> None:
        if text and text.strip():
            ids.append(key)
            texts.append(text.strip())

    for i, r in enumerate(json.loads((instruct / "alpaca_en_demo.json").read_text())):
        add(f"alpaca/{i}", r.get("output"))
    for i, r in enumerate(json.loads((instruct / "dpo_en_demo.json").read_text())):
        add(f"dpo/{i}", (r.get("chosen") or {}).get("value"))
    for i, r in enumerate(json.loads((instruct / "kto_en_demo.json").read_text())):
        if r.get("label"):
            for j, m in enumerate(r.get("messages", [])):
                if m.get("role") == "assistant":
                    add(f"kto/{i}/{j}", m.get("content"))
    for i, r in enumerate(json.loads((instruct / "glaive_toolcall_en_demo.json").read_text())):
        for j, m in enumerate(r.get("conversations", [])):
            if m.get("from") == "gpt":
                add(f"glaive/{i}/{j}", m.get("value"))
    return _write(dst, "instruct", ids, texts)


def _write(dst: Path, name: str, ids: list[str], texts: list[str]) -> dict:
    dst.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"id": ids, "source": [name] * len(ids), "text": texts}),
        dst / f"{name}.parquet",
        compression="zstd",
        row_group_size=1024,
    )
    return {"docs": len(texts), "chars": sum(map(len, texts))}


def target_books(held_books: Path, dst: Path, max_bytes: int) -> dict:
    """Whole ~4 KB pieces of the held-out books, evenly spaced through every book, about `max_bytes`
    in all (a bounded sample of whole books would hold only each book's front matter)."""
    books = []
    for f in sorted(held_books.glob("*.txt.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            books.append((f.name.removesuffix(".txt.gz"), chunk_book(fh.read())))
    per_book = max(1, max_bytes // 4000 // len(books))
    rows = []
    for name, pieces in books:
        step = max(1, len(pieces) // per_book)
        rows += [{"id": f"{name}#{i}", "text": pieces[i]} for i in range(0, len(pieces), step)][:per_book]
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    dst.write_bytes(gzip.compress(data, 9, mtime=0))
    return {"docs": len(rows), "chars": sum(len(r["text"]) for r in rows), "books": len(books)}


WHEELS = ["pydantic==2.14.4", "pydantic-core==2.50.5", "annotated-types==0.8.0", "typing-inspection==0.4.5"]


def download_wheels(dst: Path) -> None:
    """pydantic for a GPU image without it (cp312, manylinux), installed by run.sh only if missing."""
    plats = [
        x
        for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
        for x in ("--platform", p)
    ]
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            *plats,
            "-d",
            str(dst),
            *WHEELS,
        ]
    )


def curated(out: Path) -> list[Path]:
    """The shard files a `curate run` wrote (OUT/data/**.parquet)."""
    return sorted((out / "data").rglob("*.parquet"))


def copy_shards(files: list[Path], dst: Path) -> dict:
    dst.mkdir(parents=True, exist_ok=True)
    rows = chars = 0
    for i, f in enumerate(files):
        t = pq.read_table(f, columns=["id", "source", "text"])
        rows += t.num_rows
        chars += sum(len(x or "") for x in t.column("text").to_pylist())
        pq.write_table(t, dst / f"part-{i:05d}.parquet", compression="zstd")
    return {"docs": rows, "chars": chars}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"))
    ap.add_argument("-w", "--work", type=Path, required=True, help="Work folder (pipeline runs; reused).")
    ap.add_argument("-o", "--out", type=Path, required=True, help="The folder that travels (rewritten).")
    ap.add_argument("--code-scale", type=float, default=30.0, help="Scale of the demo code tree.")
    ap.add_argument("--ref", default="HEAD", help="Git ref whose curate code travels.")
    ap.add_argument("--target-book-bytes", type=int, default=1_000_000, help="Held-out book text kept.")
    ap.add_argument("--wheels", action="store_true", help="Carry pydantic wheels (for an image without it).")
    a = ap.parse_args()
    shared, work, out = a.shared.resolve(), a.work.resolve(), a.out.resolve()
    curate = [sys.executable, "-m", "curate.cli"]
    web_real = work / "web_real"
    if not (web_real / "splits.json").is_file():
        _run(
            [
                sys.executable,
                "-m",
                "bench.ablation.prepare_web_real",
                "--shared",
                str(shared),
                "-o",
                str(web_real),
            ]
        )
    if not (work / "web" / "manifest.json").is_file():
        _run(
            [
                *curate,
                "run",
                "pipelines/web.yaml",
                "--set",
                f"inputs.0.paths={web_real}/warc/*.warc.gz",
                "-o",
                str(work / "web"),
                "-q",
            ]
        )
    if not (work / "code" / "manifest.json").is_file():
        from curate.demo import code

        tree = work / "demo" / "code"
        shutil.rmtree(tree, ignore_errors=True)
        tasks = code.plan(tree, a.code_scale, 0)
        code.finish(tree, tasks, [code.write_sources(*t) for t in tasks], 0)
        _run(
            [*curate, "run", "pipelines/code.yaml", "-o", str(work / "code"), "-q"],
            env={"CURATE_DATA": str(work / "demo")},
        )
    shutil.rmtree(out, ignore_errors=True)
    (out / "target").mkdir(parents=True)
    counts = {
        "web": copy_shards(curated(work / "web"), out / "sources" / "web"),
        "books": books_source(web_real / "reference" / "books", out / "sources" / "books"),
        "instruct": instruct_source(shared / "instruct", out / "sources" / "instruct"),
        "code": copy_shards(curated(work / "code"), out / "sources" / "code"),
    }
    with open(web_real / "heldout" / "gold_en.jsonl", "rb") as f:
        (out / "target" / "gold_en.jsonl.gz").write_bytes(gzip.compress(f.read(), 9, mtime=0))
    counts["target_books"] = target_books(
        web_real / "heldout" / "books", out / "target" / "books.jsonl.gz", a.target_book_bytes
    )
    shutil.copy(web_real / "heldout" / "wikitext_test.txt.gz", out / "target" / "wikitext_test.txt.gz")
    # the code, laid out as installed (curate with train/ and filters/ inside), as bench/ablation/pack.sh does
    (out / "code").mkdir()
    arch = subprocess.run(
        ["git", "-C", str(REPO), "archive", a.ref, "curate", "train", "filters"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out / "code")], input=arch, check=True)
    (out / "code" / "train").rename(out / "code" / "curate" / "train")
    (out / "code" / "filters").rename(out / "code" / "curate" / "filters")
    for f in ("search.yaml", "search-smoke.yaml", "search-cpu.yaml", "search-tiny-cpu.yaml", "run.sh"):
        shutil.copy(HERE / f, out / f)
    (out / "run.sh").chmod(0o755)
    if a.wheels:
        download_wheels(out / "wheels")
    (out / "sources.json").write_text(json.dumps(counts, indent=2) + "\n")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(json.dumps(counts))
    print(f"{out}: {size / 2**20:.1f} MiB")
    if size > 50 * 2**20:
        sys.exit(f"{out} is over 50 MiB")


if __name__ == "__main__":
    main()
