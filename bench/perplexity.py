"""Speed of the ``perplexity`` stage's scorer against the loop a user writes first.

    python bench/perplexity.py [--preset tiny] [--vocab 8192] [--max-bytes 200000] [--threads N]
                               [--batch-tokens N] [--device cpu|cuda]

Both sides score the same documents with the same model (random weights: speed does not depend on
training) in the same lm-eval rolling windows of the model's context:

* ``naive``: one forward per document (per window, for a document longer than the context), batch
  of one, ``transformers`` forward + ``cross_entropy``, documents in their input order; on CUDA
  under the stage's bf16 autocast, so the ratio is what batching by length buys and nothing else;
* ``stage``: :func:`curate.filters.perplexity.score_texts`, what the stage runs (windows sorted by
  length, forward batches of at most ``--batch-tokens`` padded tokens, curate.eval's scorer; the
  default is the stage's: 1024 on CPU, 16384 on CUDA).

Documents: English held-out gold text of web_real (../shared/data), markup stripped, bounded to
``--max-bytes``; the tokenizer is a byte-level BPE trained on the train pages. Prints docs/s,
tokens/s and the ratio, and checks the two give the same total bits.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

_HERE = os.path.dirname(os.path.abspath(__file__))
# bench/tokenize.py shadows the stdlib module: put bench/ last on the path
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]

from _bench_common import import_curate_train  # noqa: E402

SHARED = os.environ.get(
    "CURATE_SHARED_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data")
)


def naive(model, tok, docs: list[str], L: int) -> tuple[float, int]:
    """(nats, tokens): the first loop a user writes, one window per forward, batch 1."""
    import torch

    from curate.eval.scorer import autocast
    from curate.eval.windows import rolling_requests

    device = next(model.parameters()).device
    nats, n = 0.0, 0
    # the same bf16 autocast as the stage on CUDA: the ratio measures batching by length alone
    with torch.no_grad(), autocast(device):
        for d in docs:
            ids = tok(d, add_special_tokens=False)["input_ids"]
            for ctx, cont in rolling_requests(ids, tok.eos_token_id, L):
                inp = (ctx + cont)[-(L + 1) :][:-1]
                logits = model(input_ids=torch.tensor([inp], device=device)).logits[0, -len(cont) :]
                target = torch.tensor(cont, device=device)
                nats += float(torch.nn.functional.cross_entropy(logits.float(), target, reduction="sum"))
                n += len(cont)
    return nats, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--shared", default=SHARED, help="shared data (default: $CURATE_SHARED_DATA or ../shared/data)"
    )
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--max-bytes", type=int, default=200_000)
    ap.add_argument(
        "--batch-tokens", type=int, default=None, help="padded tokens a forward (default: the stage's)"
    )
    ap.add_argument("--max-positions", type=int, default=None, help="model context (default: the preset's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    a = ap.parse_args()
    import_curate_train()
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from curate.eval import load_text_sets
    from curate.filters.perplexity import CPU_BATCH_TOKENS, CUDA_BATCH_TOKENS, score_texts
    from curate.train.model import build_model, load_tokenizer
    from curate.train.tokenizer import train_tokenizer

    if a.threads:
        torch.set_num_threads(a.threads)
    gold = f"{a.shared}/web_real/gold.jsonl.gz#gold_text"
    train_docs = load_text_sets([f"t={gold}?split=train&lang=en&strip_markup"], max_bytes=3_000_000)[0].docs
    docs = load_text_sets([f"g={gold}?split=heldout&lang=en&strip_markup"], max_bytes=a.max_bytes)[0].docs
    with tempfile.TemporaryDirectory() as tmp:
        pq.write_table(pa.table({"text": train_docs}), f"{tmp}/t.parquet")
        tok = load_tokenizer(train_tokenizer([f"{tmp}/t.parquet"], f"{tmp}/tok", vocab_size=a.vocab))
    torch.manual_seed(0)
    model = build_model(a.preset, tok, max_positions=a.max_positions).to(a.device).eval()
    L = model.config.max_position_embeddings
    n_bytes = sum(len(d.encode()) for d in docs)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(
        f"preset {a.preset}, {params:.1f}M params, vocab {len(tok)}, context {L}, {len(docs)} docs, "
        f"{n_bytes:,} bytes, torch threads {torch.get_num_threads()}, {a.device}"
    )
    rows = {}
    t0 = time.perf_counter()
    nats_n, tok_n = naive(model, tok, docs, L)
    rows["naive"] = (time.perf_counter() - t0, nats_n, tok_n)
    t0 = time.perf_counter()
    batch_tokens = a.batch_tokens or (CUDA_BATCH_TOKENS if a.device.startswith("cuda") else CPU_BATCH_TOKENS)
    nats, n_tok, _ = score_texts(model, tok, docs, batch_tokens=batch_tokens)
    rows["stage"] = (time.perf_counter() - t0, float(nats.sum()), int(n_tok.sum()))
    print(f"{'loop':<7} {'seconds':>8} {'docs/s':>8} {'tokens/s':>9} {'bpb':>7}")
    for name, (secs, nt, n) in rows.items():
        bpb = nt / math.log(2) / n_bytes
        print(f"{name:<7} {secs:>8.2f} {len(docs) / secs:>8.1f} {n / secs:>9.0f} {bpb:>7.4f}")
    (sn, nn, tn), (ss, ns, ts) = rows["naive"], rows["stage"]
    assert tn == ts, (tn, ts)
    assert abs(nn - ns) / nn < 1e-3, (nn, ns)  # same windows, same bits (to float rounding)
    print(f"speed-up (stage / naive, tokens/s): {sn / ss:.2f}x")


if __name__ == "__main__":
    main()
