"""Input readers alone (iterating batches, no stages), and FastWARC vs warcio on the same WARC.

    python -m bench.readers                     # generates ~200 MB JSONL + a WARC in a temp dir
    python -m bench.readers --size-mb 50 --warc-records 5000
    python -m bench.readers --jsonl my.jsonl --warc my.warc.gz

(run as a module: bench/tokenize.py would shadow the stdlib if run as a script.)
Each measurement runs in a fresh subprocess so its peak RSS (VmHWM) is its own. Prints, per
reader: input MB, wall and CPU seconds, MB/s, MB and docs per CPU-second (= per core), peak RSS; then JSONL
read -> Parquet (zstd) write, the engine's per-core target (>= 50 MB/s); then records/s of FastWARC vs warcio
iterating every record and reading its body, on the generated WARC and on ../shared/data's Common Crawl
excerpt.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

SHARED_WARC = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "warc"
    / "resiliparse"
    / "warcfile.warc.gz"
)


# -- data generation ---------------------------------------------------------------------------


def _vocab(rng: np.random.Generator) -> np.ndarray:
    words = [
        "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), rng.integers(2, 10))) for _ in range(5000)
    ]
    return np.array(words + ["über", "naïve", "données", "модель", "数据"])


def gen_jsonl(path: Path, size_mb: int, seed: int = 0) -> int:
    """~2 KB documents of random words (some non-ASCII), with url/score/meta columns."""
    rng = np.random.default_rng(seed)
    vocab = _vocab(rng)
    docs = written = 0
    with open(path, "w") as fh:
        while written < size_mb * 1_000_000:
            lens = rng.integers(100, 600, 512)
            words = vocab[rng.integers(0, len(vocab), int(lens.sum()))]
            lines = []
            for i, chunk in enumerate(np.split(words, np.cumsum(lens)[:-1])):
                row = {"text": " ".join(chunk.tolist()), "url": f"https://example.com/{docs + i}",
                       "score": float(i % 7), "meta": {"lang": "en", "n": int(lens[i])}}  # fmt: skip
                lines.append(json.dumps(row, ensure_ascii=False))
            blob = "\n".join(lines) + "\n"
            fh.write(blob)
            written += len(blob.encode())
            docs += len(lines)
    return docs


def gen_warc(path: Path, records: int, seed: int = 0) -> None:
    """Common Crawl-like: request + response per page, one gzip member per record."""
    rng = np.random.default_rng(seed)
    vocab = _vocab(rng)
    with open(path, "wb") as fh:
        for i in range(records):
            words = " ".join(vocab[rng.integers(0, len(vocab), int(rng.integers(200, 1200)))].tolist())
            body = f"<html><head><title>p{i}</title></head><body><p>{words}</p></body></html>".encode()
            http = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: "
                f"{len(body)}\r\n\r\n"
            ).encode() + body
            req = f"GET /{i} HTTP/1.1\r\nHost: example.com\r\n\r\n".encode()
            for kind, block, ctype in (("request", req, "request"), ("response", http, "response")):
                head = (
                    f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
                    f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\nWARC-Target-URI: https://example.com/{i}\r\n"
                    f"Content-Type: application/http; msgtype={ctype}\r\nContent-Length: {len(block)}\r\n\r\n"
                ).encode()
                fh.write(gzip.compress(head + block + b"\r\n\r\n", compresslevel=6))


def gen_others(root: Path, jsonl: Path, n_text: int = 2000) -> dict[str, Path]:
    """Parquet, a text folder, a code tree and a save_to_disk dataset from the same documents."""
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    table = pj.read_json(jsonl)
    out = {"parquet": root / "docs.parquet"}
    pq.write_table(table, out["parquet"], compression="zstd", row_group_size=50_000)
    texts = table.column("text").to_pylist()
    (root / "books").mkdir(exist_ok=True)
    (root / "tree" / "src").mkdir(parents=True, exist_ok=True)
    for i in range(n_text):
        (root / "books" / f"b{i:05d}.txt").write_text(texts[i % len(texts)] * 20)  # ~40 KB "books"
        (root / "tree" / "src" / f"m{i:05d}.py").write_text(f"# module {i}\n" + texts[i % len(texts)])
    out["text"] = root / "books"
    out["code"] = root / "tree"
    import datasets

    datasets.Dataset(table.slice(0, min(len(table), 100_000))).save_to_disk(str(root / "hfds"))
    out["hf"] = root / "hfds"
    return out


# -- one measurement (runs in a subprocess) -----------------------------------------------------


def _input_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def measure_reader(name: str, path: Path, options: dict) -> dict:
    from curate.io.paths import relative_name
    from curate.io.readers.base import readers

    cls = readers()[name]
    reader = cls(cls.Config(**options), "bench")
    t0, c0 = time.perf_counter(), time.process_time()
    files = reader.list_files(str(path), Path("."))
    docs = bad = 0
    for f in files:
        for batch in reader.read(Path(f), relative_name(f, str(path), Path("."))):
            docs += batch.table.num_rows
            bad += len(batch.malformed)
    return {"docs": docs, "malformed": bad, "seconds": time.perf_counter() - t0,
            "cpu": time.process_time() - c0, "bytes": _input_bytes(path)}  # fmt: skip


def measure_jsonl_to_parquet(path: Path, out: Path) -> dict:
    import pyarrow.parquet as pq

    from curate.io.readers.base import readers

    cls = readers()["jsonl"]
    reader = cls(cls.Config(batch_rows=8192), "bench")
    t0, c0 = time.perf_counter(), time.process_time()
    docs = 0
    writer = None
    for batch in reader.read(path, path.name):
        if writer is None:
            writer = pq.ParquetWriter(out, batch.table.schema, compression="zstd")
        writer.write_table(batch.table.cast(writer.schema))
        docs += batch.table.num_rows
    writer.close()
    return {"docs": docs, "malformed": 0, "seconds": time.perf_counter() - t0,
            "cpu": time.process_time() - c0, "bytes": path.stat().st_size}  # fmt: skip


def measure_warc_lib(lib: str, path: Path) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    n = body = 0
    if lib == "fastwarc":
        from fastwarc.warc import ArchiveIterator

        for rec in ArchiveIterator(str(path), parse_http=True):
            body += len(rec.reader.read())
            n += 1
    else:
        from warcio.archiveiterator import ArchiveIterator as WarcioIterator

        with open(path, "rb") as fh:
            for rec in WarcioIterator(fh):
                body += len(rec.content_stream().read())
                n += 1
    return {"docs": n, "malformed": 0, "seconds": time.perf_counter() - t0,
            "cpu": time.process_time() - c0, "bytes": path.stat().st_size}  # fmt: skip


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage: Linux carries ru_maxrss across exec, so a
    child would report its parent's peak (here the data generator's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(args: argparse.Namespace) -> None:
    kind, target = args.one
    path = Path(target)
    if kind.startswith("warclib:"):
        res = measure_warc_lib(kind.split(":", 1)[1], path)
    elif kind == "jsonl->parquet":
        res = measure_jsonl_to_parquet(path, Path(tempfile.mkdtemp()) / "out.parquet")
    else:
        res = measure_reader(kind, path, json.loads(args.options))
    res["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(res))


def run_one(kind: str, path: Path, options: dict | None = None) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "bench.readers",
        "--one",
        kind,
        str(path),
        "--options",
        json.dumps(options or {}),
    ]
    out = subprocess.run(
        cmd, check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1]
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jsonl", type=Path, help="JSONL file to read (default: generate one)")
    ap.add_argument("--warc", type=Path, help="WARC file (default: generate one)")
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--warc-records", type=int, default=20_000, help="pages in the generated WARC")
    ap.add_argument("--skip-others", action="store_true", help="only jsonl and warc")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        _child(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="curate-bench-readers-"))
    try:
        _bench(args, tmp)
    finally:
        if args.keep:
            print(f"\n(data kept in {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _bench(args: argparse.Namespace, tmp: Path) -> None:
    jsonl = args.jsonl
    if jsonl is None:
        jsonl = tmp / "docs.jsonl"
        print(f"generating {args.size_mb} MB JSONL in {tmp} ...", flush=True)
        gen_jsonl(jsonl, args.size_mb)
    gz = tmp / "docs.jsonl.gz"
    with open(jsonl, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
        dst.write(src.read())
    warc = args.warc
    if warc is None:
        warc = tmp / "pages.warc.gz"
        gen_warc(warc, args.warc_records)
    rows: list[tuple[str, dict]] = [
        ("jsonl", run_one("jsonl", jsonl)),
        ("jsonl (.gz)", run_one("jsonl", gz)),
        ("jsonl -> parquet zstd", run_one("jsonl->parquet", jsonl)),
        ("warc (.gz)", run_one("warc", warc)),
    ]
    if not args.skip_others:
        others = gen_others(tmp, jsonl)
        for name, path in others.items():
            rows.append((name, run_one(name, path)))
    print()
    print(
        f"{'reader':<24}{'input MB':>10}{'wall s':>8}{'cpu s':>8}{'MB/s':>8}{'MB/cpu-s':>10}"
        f"{'docs':>9}{'docs/cpu-s':>12}{'bad':>5}{'RSS MB':>8}"
    )
    for name, r in rows:
        mb = r["bytes"] / 1e6
        print(
            f"{name:<24}{mb:>10.1f}{r['seconds']:>8.2f}{r['cpu']:>8.2f}{mb / r['seconds']:>8.1f}"
            f"{mb / r['cpu']:>10.1f}{r['docs']:>9}{r['docs'] / r['cpu']:>12.0f}{r['malformed']:>5}"
            f"{r['peak_rss_mb']:>8.0f}"
        )
    print(
        "\n(jsonl .gz: MB/s of the compressed input; jsonl -> parquet: the engine's >= 50 MB/s per core "
        "target)"
    )
    warcs = [("generated", warc)] + ([("shared warcfile", SHARED_WARC)] if SHARED_WARC.exists() else [])
    print(
        f"\n{'WARC library':<14}{'file':<18}{'records':>9}{'wall s':>8}{'cpu s':>8}{'records/cpu-s':>15}"
        f"{'ratio':>7}"
    )
    for label, path in warcs:
        fw = run_one("warclib:fastwarc", path)
        wi = run_one("warclib:warcio", path)
        for lib, r in (("fastwarc", fw), ("warcio", wi)):
            rate = r["docs"] / r["cpu"]
            ratio = rate / (wi["docs"] / wi["cpu"])
            print(
                f"{lib:<14}{label:<18}{r['docs']:>9}{r['seconds']:>8.3f}{r['cpu']:>8.3f}{rate:>15.0f}{ratio:>7.1f}"
            )
    print(
        "(MB/cpu-s and records/cpu-s are per core: on a shared machine wall-clock figures mostly measure the "
        "load)"
    )


if __name__ == "__main__":
    main()
