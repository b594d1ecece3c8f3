"""Real fastText on the recipe's data; runs INSIDE .venv-fasttext (bench/make_fasttext_venv.sh).

    .venv-fasttext/bin/python bench/fasttext_ref.py WORKDIR [--lr 0.1] [--dim 100] [--epoch 5] ...

Reads WORKDIR/train.txt (fastText's format, ``__label__hq``/``__label__lq`` then the words) and
WORKDIR/eval.txt (one document a line, the same preprocessing), trains with ``thread=1``, predicts
every eval line in one list call, writes WORKDIR/fasttext_scores.json (P(__label__hq) per line,
train and predict seconds) and WORKDIR/fasttext.bin. Imports nothing from curate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# bench/tokenize.py shadows the stdlib module: take bench/ off the path before importing fasttext
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import fasttext  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epoch", type=int, default=5)
    ap.add_argument("--word-ngrams", type=int, default=2)
    ap.add_argument("--bucket", type=int, default=2_000_000)
    ap.add_argument("--min-count", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    w = a.workdir
    n_train = sum(1 for _ in open(w / "train.txt", encoding="utf-8"))
    t0 = time.perf_counter()
    model = fasttext.train_supervised(
        input=str(w / "train.txt"),
        lr=a.lr,
        dim=a.dim,
        epoch=a.epoch,
        wordNgrams=a.word_ngrams,
        bucket=a.bucket,
        minCount=a.min_count,
        thread=a.threads,
        loss="softmax",
        verbose=0,
        seed=0,
    )
    train_s = time.perf_counter() - t0
    lines = [ln.rstrip("\n") for ln in open(w / "eval.txt", encoding="utf-8")]
    t0 = time.perf_counter()
    labels, probs = model.predict(lines, k=-1)
    predict_s = time.perf_counter() - t0
    scores = [
        float(dict(zip(lab, pr, strict=True)).get("__label__hq", 0.0))
        for lab, pr in zip(labels, probs, strict=True)
    ]
    model.save_model(str(w / "fasttext.bin"))
    out = {
        "scores": scores,
        "train_seconds": train_s,
        "predict_seconds": predict_s,
        "train_docs": n_train,
        "settings": {k: v for k, v in vars(a).items() if k != "workdir"},
        "fasttext": fasttext.__file__,
    }
    (w / "fasttext_scores.json").write_text(json.dumps(out), encoding="utf-8")


if __name__ == "__main__":
    main()
