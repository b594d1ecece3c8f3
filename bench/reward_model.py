"""Reward model on real preference pairs: held-out pairwise accuracy beside a length-only baseline.

    python -m bench.reward_model [--steps 120] [--preset tiny] [--device cpu] [--work out/bench-rm]

The pairs are LLaMA-Factory's ``dpo_en_demo.json`` (300 ShareGPT preference pairs, in the shared
data folder): curate's own pipeline normalises and formats them (``sft_normalize`` with their
``dataset_info.json`` mapping, ``format: {kind: sft}``, ChatML, a tokenizer trained on
``alpaca_en_demo.json``, not on these pairs), a seeded 90/10 split of the formatted pairs trains
``curate train rm`` and holds out the rest, and the held-out accuracy is printed three ways: the
length baseline (the longer answer, in characters, wins; a tie counts as wrong), the trainer's
own held-out evaluation, and the ``reward`` stage scoring the held-out pairs from the saved folder
(the two must agree: one model, two readers). 30 held-out pairs is a smoke test: one pair is
3.3 points.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

SHARED = os.environ.get(
    "CURATE_SHARED_DATA", str(Path(__file__).resolve().parents[1].parent / "shared" / "data")
)


def _answers(row: dict) -> tuple[str, str]:
    k = len(row["messages"])
    c = "\n".join(m["content"] for m in row["chosen_messages"][k:])
    r = "\n".join(m["content"] for m in row["rejected_messages"][k:])
    return c, r


def _prepare(data: Path, work: Path, a: argparse.Namespace) -> None:
    """Format the pairs with curate's pipeline, split 90/10, write the length baseline: prep.json."""
    from curate.engine.runner import run_pipeline
    from curate.engine.spec import spec_from_dict
    from curate.train.tokenizer import train_tokenizer

    if not (data / "instruct" / "dpo_en_demo.json").is_file():
        raise SystemExit("needs the shared data folder (CURATE_SHARED_DATA or ../shared/data)")
    instruct = data / "instruct"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    # a tokenizer from other instruction data (alpaca_en_demo), never from the pairs scored
    alpaca = json.loads((instruct / "alpaca_en_demo.json").read_text())
    texts = ["\n".join(filter(None, (r["instruction"], r.get("input"), r["output"]))) for r in alpaca]
    pq.write_table(pa.table({"text": texts}), work / "alpaca.parquet")
    tok_dir = train_tokenizer([work / "alpaca.parquet"], work / "tokenizer", vocab_size=a.vocab_size)

    t0 = time.perf_counter()
    spec = spec_from_dict(
        {
            "name": "dpo-demo",
            "inputs": [{"source": "dpo", "reader": "sft_jsonl", "paths": str(instruct / "dpo_en_demo.json")}],
            "stages": [
                {
                    "sft_normalize": {
                        "dataset_info": str(instruct / "dataset_info.json"),
                        "dataset": "dpo_en_demo",
                    }
                },
                {
                    "format": {
                        "kind": "sft",
                        "template": "chatml",
                        "tokenizer": str(tok_dir),
                        "max_len": a.max_len,
                        "truncation": "left",
                    }
                },
            ],
            "output": {"keep_rejects": True},
        }
    )
    run_pipeline(spec, work / "pairs", workers=1, quiet=True)
    rows = pl.read_parquet(sorted((work / "pairs" / "data" / "preference").rglob("*.parquet")))
    stats = json.loads((work / "pairs" / "stats.json").read_text())
    dropped = {s["name"]: s["dropped"] for s in stats["stages"] if s["dropped"]}
    perm = np.random.default_rng(a.seed).permutation(rows.height)
    n_held = rows.height // 10
    held, train = rows[perm[:n_held].tolist()], rows[perm[n_held:].tolist()]
    for name, part in (("train", train), ("heldout", held)):
        (work / name).mkdir()
        part.write_parquet(work / name / "part-0.parquet")

    # the length baseline on exactly the held-out pairs
    lens = [tuple(map(len, _answers(r))) for r in held.iter_rows(named=True)]
    prep = {
        "pairs": rows.height,
        "dropped": dropped,
        "train": train.height,
        "heldout": held.height,
        "length_acc": float(np.mean([c > r for c, r in lens])),
        "prep_s": time.perf_counter() - t0,
    }
    (work / "prep.json").write_text(json.dumps(prep, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--max-len", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (training and the reward stage)")
    ap.add_argument("--work", default="out/bench-rm")
    ap.add_argument(
        "--reuse-prep",
        action="store_true",
        help="train on the pairs a previous run formatted in --work (a GPU box without the curation stack)",
    )
    ap.add_argument(
        "--shared", default=SHARED, help="shared data (default: $CURATE_SHARED_DATA or ../shared/data)"
    )
    a = ap.parse_args()

    import torch

    from curate.train.loop import rm

    torch.set_num_threads(a.threads)
    work = Path(a.work)
    if a.reuse_prep:
        if not (work / "prep.json").is_file():
            raise SystemExit(f"--reuse-prep: {work}/prep.json is missing (run once without it)")
        shutil.rmtree(work / "rm", ignore_errors=True)
    else:
        _prepare(Path(a.shared), work, a)
    prep = json.loads((work / "prep.json").read_text())
    tok_dir = work / "tokenizer"
    held = pl.read_parquet(work / "heldout" / "part-0.parquet")
    n_held = held.height

    t1 = time.perf_counter()
    res = rm(
        data=str(work / "train"),
        eval_data=str(work / "heldout"),
        out=str(work / "rm"),
        tokenizer=str(tok_dir),
        preset=a.preset,
        max_steps=a.steps,
        batch_size=a.batch_size,
        lr=a.lr,
        seq_len=a.max_len,
        eval_interval=max(1, a.steps // 2),
        eval_batches=max(1, -(-n_held // a.batch_size)),
        device=a.device,
        num_threads=a.threads,
        seed=a.seed,
        progress="log",
        log_interval=max(1, a.steps // 10),
    )
    t_train = time.perf_counter() - t1

    # the reward stage on the held-out rows, from the saved folder
    from curate.engine.stage import StageContext
    from curate.filters.reward import Reward

    ctx = StageContext(work, work / "stage", 0, "reward")
    scores = Reward(Reward.Config(model=str(work / "rm"), device=a.device), ctx).score(held).to_pydict()
    stage_acc = float(np.mean([m is not None and m > 0 for m in scores["reward_margin"]]))

    evals = res.eval_metrics
    print()
    print(
        f"dpo_en_demo: {prep['pairs']} pairs formatted (dropped: {prep['dropped'] or 'none'}), "
        f"{prep['train']} train / {prep['heldout']} held out; "
        f"prep {prep['prep_s']:.0f} s, train {t_train:.0f} s"
    )
    where = f"from scratch, {a.device}"
    print(f"reward model: preset {a.preset}, {a.steps} steps x {a.batch_size} pairs, {where}")
    print()
    print("| held-out pairwise accuracy | value |")
    print("|---|---:|")
    print(f"| length only (longer answer wins) | {prep['length_acc']:.3f} |")
    for step, m in evals:
        print(f"| curate train rm, step {step} (trainer's eval) | {m['reward_acc']:.3f} |")
    print(f"| reward stage on the saved folder | {stage_acc:.3f} |")
    print("| chance | 0.500 |")
    print()
    print(
        f"train loss first/last: {res.losses[0][1]:.4f} / {res.losses[-1][1]:.4f}; "
        f"held-out loss per eval: {[round(v, 4) for _, v in res.eval_losses]}"
    )
    if os.environ.get("KEEP") != "1":
        shutil.rmtree(work / "pairs" / "_work", ignore_errors=True)


if __name__ == "__main__":
    main()
