"""The whole demo chain on CPU: demo data -> curate -> tokenizer -> pretrain `tiny` -> SFT -> chat.

Everything goes through the public entry points a user would call (the generator, run_pipeline on
YAML-shaped specs, the tokenizer trainer, the training loop), on the demo's own generated data.
"""

from __future__ import annotations

import json
import os

import pytest

from curate.demo import generate
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        generate(root / "data", scale=0.3, seed=0)
        text = run_pipeline(spec_from_dict({
            "name": "pt-text",
            "inputs": [
                {"source": "web", "reader": "jsonl", "paths": "data/jsonl/*.jsonl.*"},
                {"source": "books", "reader": "text", "paths": "data/books/*.txt"},
            ],
            "stages": [{"normalize": {}}, {"exact_dedup": {}}, {"format": {"kind": "pretrain"}}],
        }), root / "pt-text", quiet=True)

        from curate.train.tokenizer import train_tokenizer

        tok_dir = train_tokenizer([str(p) for p in text.shards], root / "tok", vocab_size=1024)
        packed = run_pipeline(spec_from_dict({
            "name": "pt-packed",
            "inputs": [{"source": "mixed", "reader": "parquet", "paths": "pt-text/data/*.parquet"}],
            "stages": [{"format": {"kind": "tokenized", "tokenizer": str(tok_dir), "seq_len": 64}}],
        }), root / "pt-packed", quiet=True)
        sft_data = run_pipeline(
            spec_from_dict(
                {
                    "name": "sft",
                    "inputs": [{"source": "openai", "reader": "sft_jsonl", "paths": "data/sft/openai.jsonl"}],
                    "stages": [
                        {"sft_normalize": {"format": "openai"}},
                        {
                            "format": {
                                "kind": "sft",
                                "template": "chatml",
                                "tokenizer": str(tok_dir),
                                "max_len": 128,
                                "truncation": "drop",
                            }
                        },
                    ],
                    "output": {"keep_rejects": True},
                }
            ),
            root / "sft",
            quiet=True,
        )

        from curate.train.loop import pretrain, sft

        fast = dict(device="cpu", num_threads=2, log_interval=1, warmup_steps=5)
        pt = pretrain(data=str(root / "pt-packed" / "data"), out=str(root / "run-pt"), tokenizer=str(tok_dir),
                      preset="tiny", max_steps=150, batch_size=16, lr=3e-3, eval_interval=50, **fast)
        st = sft(data=str(root / "sft" / "data"), out=str(root / "run-sft"), init_from=str(root / "run-pt"),
                 max_steps=150, batch_size=16, lr=3e-3, eval_interval=0, **fast)
    finally:
        os.chdir(cwd)
    return {"root": root, "text": text, "packed": packed, "sft_data": sft_data, "pt": pt, "sft": st}


def test_curated_shards_balance_and_are_traceable(chain):
    for key in ("text", "packed", "sft_data"):
        for s in chain[key].stats["stages"]:
            assert s["in"] == s["out"] + sum(s["dropped"].values()), (key, s)
    # invalid demo rows were rejected with precise reasons, not dropped silently
    rejected = chain["sft_data"].stats["stages"][1]["dropped"]
    assert rejected and all(r.startswith(("sft_", "malformed:")) for r in rejected)


def test_pretrain_loss_falls_well_below_its_start(chain):
    """From uniform (ln V) to well below the data's unigram entropy: the model learned context,
    not just token frequencies."""
    import numpy as np
    import pyarrow.parquet as pq

    ids = np.concatenate([np.asarray(r, dtype=np.int64) for p in chain["packed"].shards
                          for r in pq.read_table(p, columns=["input_ids"]).column(0).to_pylist()])
    freq = np.bincount(ids)
    p = freq[freq > 0] / freq.sum()
    unigram_entropy = float(-(p * np.log(p)).sum())
    losses = [v for _, v in chain["pt"].losses]
    assert losses[0] > unigram_entropy + 0.5  # it starts near ln(vocab)
    assert losses[-1] < unigram_entropy - 1.0, (losses[0], losses[-1], unigram_entropy)


def test_sft_reply_follows_the_template_and_stops_at_end_of_turn(chain):
    from curate.train.generate import chat_reply, load_run

    model, tok = load_run(chain["root"] / "run-sft", device="cpu")
    ok = 0
    questions = ["What is 12 plus 30?", "What is 7 plus 21?", "What is 33 plus 14?", "What is 40 plus 8?"]
    for q in questions:
        reply, stopped = chat_reply(model, tok, [{"role": "user", "content": q}], max_new_tokens=24)
        ok += reply.startswith("The answer is ") and reply.endswith(".") and stopped
    assert ok >= 3, "greedy replies should follow the taught answer pattern and end at <|im_end|>"


def test_run_dir_records_lineage_of_the_curated_shards(chain):
    lineage = json.loads((chain["root"] / "run-sft" / "lineage.json").read_text())
    manifest = chain["sft_data"].manifest
    blob = json.dumps(lineage)
    assert manifest["config_sha256"] in blob
    assert all(s["sha256"] in blob for s in manifest["shards"])
