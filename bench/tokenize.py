"""Tokenize + pack throughput of the ``format`` stage (kind: tokenized) vs the bare batch encoder.

    python bench/tokenize.py [--tokenizer DIR] [--docs 20000] [--threads 2] [--seq-len 2048]

Same texts, same tokenizer, ``--reps`` interleaved runs of each path, median, tokens/s:

* ``encode_batch_fast``       - the ``tokenizers`` batch encoder alone (the reference);
* ``  + ids to Python``        - plus reading ``Encoding.ids`` (any Python consumer must);
* ``format stage``             - ``Format.process`` on Polars batches: encode, pack (NumPy), build
  the Arrow/Polars rows (input_ids, doc_ids, doc_lens, ...): what a pipeline pays.

The packing overhead is ``format / encode_batch_fast - 1``. Without ``--tokenizer`` a 16k-vocab
byte-level BPE is trained on the generated text first (not timed). Text is generated (Zipf-
distributed words, mixed lengths), or read from ``--parquet`` shards (``text`` column).
"""

from __future__ import annotations

import os
import sys

# This file is named tokenize.py (the name), which shadows the standard library's
# `tokenize` (used by inspect/linecache) when run as a script: drop bench/ from the path first.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizer", help="local HF tokenizer folder (default: train one on the text)")
    ap.add_argument("--parquet", nargs="*", help="read texts from these shards instead of generating")
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--batch-rows", type=int, default=2048)
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions; the median is reported")
    return ap.parse_args()


ARGS = parse()
# rayon (inside tokenizers) reads its thread count once, at first use: set it before importing.
os.environ["RAYON_NUM_THREADS"] = str(ARGS.threads)
os.environ["RAYON_RS_NUM_CPUS"] = str(ARGS.threads)
os.environ["TOKENIZERS_PARALLELISM"] = "true"

import importlib.util  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

ROOT = Path(_HERE).parent


def load_by_path(name: str, relpath: str):
    """Import one module by file, not through its package: the packer and tokenizer loader need
    only numpy/pyarrow/tokenizers, so the bench runs on a box without polars (the GPU host)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relpath)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


packing = load_by_path("bench_packing", "curate/format/packing.py")
load_tokenizer = load_by_path("bench_tokenizer", "curate/format/tokenizer.py").load_tokenizer
try:
    import polars as pl

    from curate.engine.stage import StageContext
    from curate.format.stage import Format
except ImportError:  # no polars/pydantic here: time the packer without the stage wrapper
    pl = None


def generated_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    syll = [
        a + b
        for a in ["", "b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "st", "tr"]
        for b in ["a", "e", "i", "o", "u", "ai", "ou", "er", "an", "in", "on", "ing"]
    ]
    vocab = ["".join(rng.choice(syll, rng.integers(1, 5))) for _ in range(50_000)]
    vocab[::7] = [w.capitalize() for w in vocab[::7]]
    vocab[::11] = [w + "," for w in vocab[::11]]
    vocab[::13] = [f"{w} {i}" for i, w in enumerate(vocab[::13])]
    ranks = np.arange(1, len(vocab) + 1)
    p = 1 / ranks**1.1
    p /= p.sum()
    lengths = np.clip(rng.lognormal(np.log(300), 0.9, n), 5, 20_000).astype(int)
    words = rng.choice(len(vocab), size=int(lengths.sum()), p=p)
    out, pos = [], 0
    for k in lengths:
        out.append(" ".join(vocab[i] for i in words[pos : pos + k]) + ".")
        pos += k
    return out


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all threads): CPU time is the steadier measure of work done."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    if ARGS.parquet:
        texts = pq.read_table(ARGS.parquet, columns=["text"])["text"].to_pylist()[: ARGS.docs]
    else:
        texts = generated_texts(ARGS.docs)
    tmp = Path(tempfile.mkdtemp(prefix="bench-tok-"))
    tok_dir = ARGS.tokenizer
    if tok_dir is None:
        train_tokenizer = load_by_path("bench_train_tokenizer", "train/tokenizer.py").train_tokenizer
        pq.write_table(pa.table({"text": texts[:5000]}), tmp / "sample.parquet")
        tok_dir = str(train_tokenizer([tmp / "sample.parquet"], tmp / "tok", vocab_size=16_384))
    tok = load_tokenizer(tok_dir)
    n_bytes = sum(len(t.encode()) for t in texts)
    b = ARGS.batch_rows
    batches = [texts[i : i + b] for i in range(0, len(texts), b)]
    ids = [
        [f"d{i + j}" for j in range(len(x))] for i, x in zip(range(0, len(texts), b), batches, strict=True)
    ]

    n_tokens = sum(sum(len(e) for e in tok.tokenizer.encode_batch_fast(x, add_special_tokens=False))
                   for x in batches[:1])  # warm-up
    n_tokens = 0

    def encode_only():
        for x in batches:
            tok.tokenizer.encode_batch_fast(x, add_special_tokens=False)

    def encode_ids():
        nonlocal n_tokens
        n_tokens = 0
        for x in batches:
            n_tokens += sum(len(ids) for ids in tok.encode(x))

    rows = 0

    def encode_pack():
        nonlocal rows
        packer = packing.Packer(
            ARGS.seq_len, tok.eos_id, tok.token_dtype, row_id_prefix="bench", loss_mask=True
        )
        rows = 0
        for x, i in zip(batches, ids, strict=True):
            t = packer.add(tok.encode(x), i)
            rows += 0 if t is None else t.num_rows
        rows += packer.finish(tok.pad_id)[0].num_rows

    def format_stage():
        nonlocal rows
        ctx = StageContext(run_dir=tmp, work_dir=tmp, stage_index=0, stage_name="format", task_id="bench")
        stage = Format(Format.Config(kind="tokenized", tokenizer=tok_dir, seq_len=ARGS.seq_len), ctx)
        stage.setup()
        frames = [pl.DataFrame({"id": i, "text": x}) for x, i in zip(batches, ids, strict=True)]
        rows = sum(stage.process(f).kept.height for f in frames) + stage.flush().kept.height

    fns = [
        ("encode_batch_fast", encode_only),
        ("  + ids to Python", encode_ids),
        ("  + pack (Packer)", encode_pack),
    ]
    if pl is not None:
        fns.append(("format stage (Polars in/out)", format_stage))
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in fns}
    for _ in range(ARGS.reps):  # interleaved, so drifting machine load hits every path alike
        for name, fn in fns:
            times[name].append(timed(fn))
    paths = [(name, *np.median(np.array(ts), axis=0)) for name, ts in times.items()]
    t_enc, c_enc = paths[0][1:]
    t_ids, c_ids = paths[1][1:]
    print(f"{len(texts):,} docs, {n_bytes / 1e6:.1f} MB, {n_tokens:,} tokens, vocab {tok.vocab_size:,}, "
          f"seq_len {ARGS.seq_len}, {ARGS.threads} threads, {rows:,} packed rows")
    print(f"{'path':<30}{'wall s':>8}{'Mtok/s':>8}{'vs encoder':>12}{'CPU s':>8}{'CPU vs encoder':>16}")
    for name, t, c in paths:
        print(
            f"{name:<30}{t:>8.2f}{n_tokens / t / 1e6:>8.2f}{t / t_enc - 1:>+12.1%}{c:>8.2f}"
            f"{c / c_enc - 1:>+16.1%}"
        )
    name, t, c = paths[-1]
    print(
        f"overhead of {name.strip()} over the bare encoder: wall {t / t_enc - 1:+.1%}, CPU "
        f"{c / c_enc - 1:+.1%} "
        f"(over encoder + ids: wall {t / t_ids - 1:+.1%}, CPU {c / c_ids - 1:+.1%})"
    )


if __name__ == "__main__":
    sys.exit(main())
