"""format's exports (Megatron-LM, nanoGPT, MDS) vs writing the Parquet tokenized shards they come from.

    python -m bench.export [--tokens 50_000_000] [--seq-len 2048] [--vocab 50257]

Synthetic documents (random token ids, lengths 50-3000) are packed by the format stage's Packer
into rows of seq_len + 1 and written as Parquet shards with the run's writer settings (zstd 3,
8,192-row groups): that is the reference, timed from packed Arrow tables to files on disk. Each
export is then timed from those shards to its files (reading, rebuilding documents, writing), with
and without the document shuffle. MB/s counts the files written; tokens/s the tokens in them. The
last row is ``curate export`` end to end (:func:`curate.format.run_export.export_run` over a
manifest of the shards: checks, one shared pass, all three targets, sha256 of every file written).
CPU seconds are reported too, and the ratio is on CPU: on a shared machine wall time is mostly
waiting for the disk.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curate.format.export import TARGETS, document_order, stream_documents
from curate.format.packing import Packer
from curate.format.run_export import export_run
from curate.io.writer import ParquetOptions


def packed_tables(n_tokens: int, seq_len: int, vocab: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if vocab <= 1 << 16 else np.uint32
    packer = Packer(seq_len, eos_id=vocab - 1, dtype=dtype, row_id_prefix="bench")
    tables, made, n_docs = [], 0, 0
    while made < n_tokens:
        lens = rng.integers(50, 3000, size=512)
        docs = [rng.integers(0, vocab - 1, size=int(n), dtype=dtype).tolist() for n in lens]
        t = packer.add(docs, [f"d{n_docs + i}" for i in range(len(docs))])
        n_docs += len(docs)
        made += int(lens.sum()) + len(docs)
        if t is not None:
            tables.append(t)
    last, _, _ = packer.finish(pad_id=vocab - 1)
    if last is not None:
        tables.append(last)
    return tables, np.dtype(dtype)


def write_parquet(tables, folder: Path, rows_per_shard: int = 16384) -> list[Path]:
    import pyarrow as pa

    opts = ParquetOptions()
    table = pa.concat_tables(tables)
    paths = []
    for k, lo in enumerate(range(0, table.num_rows, rows_per_shard)):
        part = table.slice(lo, rows_per_shard)
        p = folder / f"part-{k:05d}.parquet"
        with pq.ParquetWriter(p, part.schema, **opts.writer_kwargs(part.schema)) as w:
            w.write_table(part, row_group_size=opts.row_group_rows)
        paths.append(p)
    return paths


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=50_000_000)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--dir", default=None, help="where to write (default: a temp folder; /dev/shm avoids "
                    "a shared disk's waits)")
    ap.add_argument("--keep", action="store_true", help="keep the folder (data/ + manifest.json: a run "
                    "folder) to time `curate export` on it in a fresh process")
    args = ap.parse_args()
    tables, dtype = packed_tables(args.tokens, args.seq_len, args.vocab)
    root = Path(tempfile.mkdtemp(prefix="bench-export-", dir=args.dir))
    try:
        (root / "data").mkdir()
        shards, wall, cpu = timed(lambda: write_parquet(tables, root / "data"))
        n_tokens = sum(int(t["n_tokens"].to_numpy().sum()) for t in tables)
        pq_bytes = folder_bytes(root / "data")
        print(f"{n_tokens:,} tokens, {sum(t.num_rows for t in tables):,} rows of {args.seq_len + 1}, "
              f"{dtype.name}; Parquet shards {pq_bytes / 1e6:.1f} MB")
        rows = [("Parquet tokenized shards (reference)", wall, cpu, pq_bytes, n_tokens)]
        stream, w_s, c_s = timed(lambda: stream_documents(shards, dtype, root / "stream.tokens"))
        rows.append(("  documents out of the shards (shared pass)", w_s, c_s,
                     stream.n_tokens * dtype.itemsize, stream.n_tokens))
        for shuffle in (False, True):
            order = document_order(stream.n_docs, shuffle, seed=0)
            for name, fn in TARGETS.items():
                out = root / f"{name}-{shuffle}"
                out.mkdir()
                _, w, c = timed(lambda fn=fn, out=out, order=order: fn(stream, order, out))
                label = f"{name}{' (shuffled)' if shuffle else ''} = shared pass + this"
                rows.append((label, w_s + w, c_s + c, folder_bytes(out), stream.n_tokens))
                shutil.rmtree(out)
        from curate.io.writer import sha256_file, write_json_atomic

        write_json_atomic(root / "manifest.json", {"shards": [
            {"path": str(p.relative_to(root)), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
            for p in shards
        ]})
        record, w, c = timed(lambda: export_run(root, root / "x", list(TARGETS)))
        rows.append(("curate export --to megatron,nanogpt,mds (end to end, sha256 included)", w, c,
                     sum(f["bytes"] for f in record["files"]), record["tokens"]))
        ref_cpu = rows[0][2]
        print()
        print("| what | wall s | CPU s | MB written | MB/s (wall) | MB per CPU-s | Mtokens per CPU-s "
              "| vs Parquet (CPU) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, w, c, b, t in rows:
            print(f"| {label} | {w:.2f} | {c:.2f} | {b / 1e6:.1f} | {b / 1e6 / w:.0f} | {b / 1e6 / c:.0f} "
                  f"| {t / 1e6 / c:.1f} | {ref_cpu / c:.2f}x |")
    finally:
        if args.keep:
            shutil.rmtree(root / "x", ignore_errors=True)
            print(f"\nkept {root}: time e.g. `curate export {root} --to megatron,nanogpt,mds -o OUT -q`")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
