"""Scorer throughput of `curate.eval.score_bpb` (tokens/s), on real held-out text.

    python bench/eval_speed.py [--preset tiny] [--vocab 8192] [--max-bytes 300000] [--batch-sizes 1 8 16] \\
        [--threads N]

Trains a byte-level BPE tokenizer on the gold text of web_real's train pages (../shared/data),
builds the preset with random weights (speed does not depend on training) and scores the English
held-out gold text (markup stripped, bounded to --max-bytes) in the model's full context.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

_HERE = os.path.dirname(os.path.abspath(__file__))
# bench/tokenize.py shadows stdlib
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]

from _bench_common import import_curate_train  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(SHARED))
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--max-bytes", type=int, default=300_000)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    a = ap.parse_args()
    import_curate_train()
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from curate.eval import load_text_sets, score_bpb
    from curate.train.model import build_model, load_tokenizer
    from curate.train.tokenizer import train_tokenizer

    gold = f"{a.shared}/web_real/gold.jsonl.gz#gold_text"
    train_docs = load_text_sets([f"t={gold}?split=train&lang=en&strip_markup"], max_bytes=3_000_000)[0].docs
    held = load_text_sets([f"gold={gold}?split=heldout&lang=en&strip_markup"], max_bytes=a.max_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        pq.write_table(pa.table({"text": train_docs}), f"{tmp}/t.parquet")
        tok = load_tokenizer(train_tokenizer([f"{tmp}/t.parquet"], f"{tmp}/tok", vocab_size=a.vocab))
    torch.manual_seed(0)
    model = build_model(a.preset, tok).to(a.device).eval()
    print(f"preset {a.preset}, vocab {len(tok)}, context {model.config.max_position_embeddings}, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, {held[0].n_bytes:,} bytes, "
          f"{len(held[0].docs)} docs, torch threads {torch.get_num_threads()}, device {a.device}")
    print(f"{'batch':>6} {'tokens':>9} {'seconds':>8} {'tokens/s':>9} {'bpb':>7}")
    for bs in a.batch_sizes:
        t0 = time.perf_counter()
        r = score_bpb(model, tok, held, batch_size=bs, progress=False)["gold"]
        dt = time.perf_counter() - t0
        print(f"{bs:>6} {r['tokens']:>9,} {dt:>8.2f} {r['tokens'] / dt:>9,.0f} {r['bpb']:>7.3f}")


if __name__ == "__main__":
    main()
