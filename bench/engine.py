"""Engine overhead: JSONL read -> Parquet write with no stages, against raw library ceilings.

    python -m bench.engine --size-mb 2000 --workers 1 2
    (run as a module: bench/tokenize.py would shadow the stdlib)

Generates a JSONL corpus (random words, ~2 KB docs, with a metadata column) unless --input is
given, then times, on the same files:
  * curate run (reader + engine + shard writer), 1..N workers
  * pyarrow: pyarrow.json.read_json per file -> pq.write_table (zstd), one process (the ceiling)
  * polars: scan_ndjson(...).sink_parquet (zstd), its own thread pool
Prints MB/s, docs/s, peak RSS and the ratio ours / reference.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def generate(folder: Path, size_mb: int, files: int, seed: int = 0) -> tuple[int, int]:
    """Write ``files`` JSONL files totalling ~size_mb; returns (docs, bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocab = np.array(
        ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), rng.integers(2, 10))) for _ in range(5000)]
    )
    per_file = size_mb * 1_000_000 // files
    docs = 0
    total = 0
    for f in range(files):
        written = 0
        with open(folder / f"part-{f:04d}.jsonl", "w") as fh:
            while written < per_file:
                lens = rng.integers(100, 600, 512)
                words = vocab[rng.integers(0, len(vocab), int(lens.sum()))]
                cuts = np.cumsum(lens)[:-1]
                lines = []
                for i, chunk in enumerate(np.split(words, cuts)):
                    lines.append(
                        json.dumps(
                            {
                                "text": " ".join(chunk.tolist()),
                                "url": f"https://example.com/{f}/{docs + i}",
                                "score": float(i % 7),
                            }
                        )
                    )
                blob = "\n".join(lines) + "\n"
                fh.write(blob)
                written += len(blob)
                docs += len(lines)
        total += written
    return docs, total


def peak_rss_mb(children: bool) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child processes) of one run."""
    c0 = _child_cpu()
    wall = fn(*args)
    return wall, _child_cpu() - c0


def run_curate(inp: Path, out: Path, workers: int) -> float:
    spec = out.parent / f"bench-{workers}.yaml"
    spec.write_text(
        f"name: bench\ninputs:\n  - {{source: bench, reader: jsonl, paths: '{inp}/*.jsonl'}}\noutput: "
        "{shard_rows: 100000}\n"
    )
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "curate.cli", "run", str(spec), "-o", str(out), "-q", "-w", str(workers)],
        check=True,
    )
    return time.perf_counter() - t


def run_pyarrow(inp: Path, out: Path) -> float:
    code = (
        "import sys,glob,os,pyarrow.json as pj,pyarrow.parquet as pq\n"
        "inp,out=sys.argv[1],sys.argv[2]; os.makedirs(out,exist_ok=True)\n"
        "for i,f in enumerate(sorted(glob.glob(inp+'/*.jsonl'))):\n"
        "    t=pj.read_json(f, read_options=pj.ReadOptions(block_size=8<<20))\n"
        "    pq.write_table(t, f'{out}/{i}.parquet', compression='zstd', compression_level=3)\n"
    )
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(inp), str(out)], check=True)
    return time.perf_counter() - t


def run_polars(inp: Path, out: Path) -> float:
    code = (
        "import sys,polars as pl\n"
        "pl.scan_ndjson(sys.argv[1]+'/*.jsonl').sink_parquet(sys.argv[2], compression='zstd', "
        "compression_level=3)\n"
    )
    Path(out).unlink(missing_ok=True)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(inp), str(out)], check=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--input", type=Path, help="existing folder of *.jsonl (skips generation)")
    ap.add_argument("--tmp", type=Path, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="curate-bench-", dir=args.tmp))
    try:
        if args.input:
            inp = args.input
            size = sum(p.stat().st_size for p in inp.glob("*.jsonl"))
            docs = sum(1 for p in inp.glob("*.jsonl") for _ in open(p, "rb"))
        else:
            inp = tmp / "in"
            t = time.perf_counter()
            docs, size = generate(inp, args.size_mb, args.files)
            print(
                f"generated {docs:,} docs, {size / 1e6:,.0f} MB in {time.perf_counter() - t:.1f} s",
                file=sys.stderr,
            )
        rows = []
        ref, ref_cpu = timed(run_pyarrow, inp, tmp / "pa")
        rows.append(("pyarrow read_json -> write_table (1 proc)", ref, ref_cpu))
        rows.append(
            (
                f"polars scan_ndjson -> sink_parquet ({os.cpu_count()} thr)",
                *timed(run_polars, inp, tmp / "pl.parquet"),
            )
        )
        for w in args.workers:
            rows.append(
                (f"curate run, no stages, {w} worker(s)", *timed(run_curate, inp, tmp / f"out{w}", w))
            )
        # MB per CPU-second is the per-core figure; it holds up when other work shares the machine.
        print(f"\nJSONL -> Parquet, {size / 1e6:,.0f} MB, {docs:,} docs, {os.cpu_count()} cores")
        print(
            f"{'what':<50} {'wall s':>7} {'CPU s':>7} {'MB/s':>7} {'MB/CPU-s':>9} {'docs/s':>9} "
            f"{'vs pyarrow (CPU)':>17}"
        )
        for name, secs, cpu in rows:
            print(
                f"{name:<50} {secs:>7.1f} {cpu:>7.1f} {size / 1e6 / secs:>7.1f} {size / 1e6 / cpu:>9.1f} "
                f"{docs / secs:>9,.0f} {ref_cpu / cpu:>16.2f}x"
            )
        print(f"peak RSS of any child process: {peak_rss_mb(True):,.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
