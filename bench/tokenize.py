"""Tokenize + pack throughput of the ``format`` stage (kind: tokenized) vs the bare batch encoder.

    python bench/tokenize.py [--tokenizer DIR] [--docs 20000] [--threads 2] [--seq-len 2048]

Same texts, same tokenizer, one run each, tokens/s:

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
    return ap.parse_args()


ARGS = parse()
# rayon (inside tokenizers) reads its thread count once, at first use: set it before importing.
os.environ["RAYON_NUM_THREADS"] = str(ARGS.threads)
os.environ["RAYON_RS_NUM_CPUS"] = str(ARGS.threads)
os.environ["TOKENIZERS_PARALLELISM"] = "true"

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from curate.engine.stage import StageContext  # noqa: E402
from curate.format.stage import Format  # noqa: E402
from curate.format.tokenizer import load_tokenizer  # noqa: E402


def generated_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    syll = ["ka", "lo", "mi", "ne", "tra", "ver", "son", "da", "ti", "qu", "ell", "ing", "the", "and", "ion"]
    vocab = ["".join(rng.choice(syll, rng.integers(1, 4))) for _ in range(20_000)]
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


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    if ARGS.parquet:
        texts = pq.read_table(ARGS.parquet, columns=["text"])["text"].to_pylist()[: ARGS.docs]
    else:
        texts = generated_texts(ARGS.docs)
    tmp = Path(tempfile.mkdtemp(prefix="bench-tok-"))
    tok_dir = ARGS.tokenizer
    if tok_dir is None:
        from curate.train.tokenizer import train_tokenizer

        pq.write_table(pa.table({"text": texts[:5000]}), tmp / "sample.parquet")
        tok_dir = str(train_tokenizer([tmp / "sample.parquet"], tmp / "tok", vocab_size=16_384))
    tok = load_tokenizer(tok_dir)
    n_bytes = sum(len(t.encode()) for t in texts)
    b = ARGS.batch_rows
    batches = [texts[i : i + b] for i in range(0, len(texts), b)]
    frames = [pl.DataFrame({"id": [f"d{i + j}" for j in range(len(x))], "text": x}) for i, x in
              zip(range(0, len(texts), b), batches, strict=True)]

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

    def format_stage():
        nonlocal rows
        ctx = StageContext(run_dir=tmp, work_dir=tmp, stage_index=0, stage_name="format", task_id="bench")
        stage = Format(Format.Config(kind="tokenized", tokenizer=tok_dir, seq_len=ARGS.seq_len), ctx)
        stage.setup()
        rows = sum(stage.process(f).kept.height for f in frames) + stage.flush().kept.height

    t_enc = min(timed(encode_only) for _ in range(2))
    t_ids = min(timed(encode_ids) for _ in range(2))
    t_fmt = min(timed(format_stage) for _ in range(2))
    print(f"{len(texts):,} docs, {n_bytes / 1e6:.1f} MB, {n_tokens:,} tokens, vocab {tok.vocab_size:,}, "
          f"seq_len {ARGS.seq_len}, {ARGS.threads} threads, {rows:,} packed rows")
    print(f"{'path':<28}{'seconds':>9}{'Mtok/s':>9}{'vs encoder':>12}")
    for name, t in (("encode_batch_fast", t_enc), ("  + ids to Python", t_ids), ("format stage (pack)", t_fmt)):
        print(f"{name:<28}{t:>9.2f}{n_tokens / t / 1e6:>9.2f}{t / t_enc - 1:>+11.1%}")
    print(f"packing overhead over the bare encoder: {t_fmt / t_enc - 1:+.1%} "
          f"(over encoder + ids: {t_fmt / t_ids - 1:+.1%})")


if __name__ == "__main__":
    sys.exit(main())
