"""Fixtures for the training tests: a small BPE tokenizer and generated shards of each layout."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

try:
    import curate.train  # noqa: F401
except ImportError:  # a plain checkout (a GPU box without `pip install -e .`): curate.train -> train/
    import curate

    curate.__path__.append(str(Path(__file__).resolve().parents[2]))

WORDS = [
    "apple", "river", "stone", "cloud", "green", "music", "paper", "light", "table", "window", "garden",
    "silver", "orange", "yellow", "purple", "winter", "summer", "quiet", "rapid", "simple",
]


def synthetic_text(n_docs: int, seed: int = 0) -> list[str]:
    """Documents with strong regularities (a tiny model's loss falls fast on them)."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        sents = []
        for _ in range(rng.randint(2, 6)):
            a, b = rng.choice(WORDS), rng.choice(WORDS)
            sents.append(f"The {a} is near the {b}. The {b} is near the {a}.")
        docs.append(" ".join(sents))
    return docs


def write_manifest(out: Path, files: list[Path]) -> None:
    shards = []
    for f in files:
        shards.append({"path": str(f.relative_to(out)), "rows": pq.ParquetFile(f).metadata.num_rows,
                       "bytes": f.stat().st_size, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()})
    (out / "manifest.json").write_text(json.dumps({"config_sha256": "0" * 64, "shards": shards}))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    from curate.train.tokenizer import train_tokenizer

    d = tmp_path_factory.mktemp("tok")
    pq.write_table(pa.table({"text": synthetic_text(400, seed=1) + [f"say {w}" for w in WORDS] * 5}),
                   d / "corpus.parquet")
    return train_tokenizer([d / "corpus.parquet"], d / "tokenizer", vocab_size=400, min_frequency=1)


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir):
    from curate.train.model import load_tokenizer

    return load_tokenizer(tokenizer_dir)


def write_pretrain_shards(out: Path, tok, seq_len: int = 64, n_docs: int = 600, n_files: int = 2,
                          row_group_size: int = 32, seed: int = 0) -> Path:
    """OUT/data/*.parquet with `input_ids` rows of seq_len+1 (documents joined with EOS)."""
    ids = []
    for d in synthetic_text(n_docs, seed):
        ids.extend(tok(d, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
    L = seq_len + 1
    rows = [ids[i * L:(i + 1) * L] for i in range(len(ids) // L)]
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    files = []
    for k, part in enumerate(np.array_split(np.arange(len(rows)), n_files)):
        f = data / f"part-{k:05d}.parquet"
        col = pa.array([rows[i] for i in part], type=pa.list_(pa.uint16()))
        pq.write_table(pa.table({"input_ids": col}), f, row_group_size=row_group_size)
        files.append(f)
    write_manifest(out, files)
    return data


def chat_example(word: str) -> list[dict]:
    return [{"role": "user", "content": f"say {word}"},
            {"role": "assistant", "content": f"{word} {word}"}]


def encode_chat(tok, messages: list[dict]) -> tuple[list[int], list[int]]:
    """input_ids and labels (-100 except the assistant's content and its <|im_end|>)."""
    ids, labels = [], []
    for m in messages:
        head = tok(f"<|im_start|>{m['role']}\n", add_special_tokens=False)["input_ids"]
        body = tok(m["content"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
        tail = tok("\n", add_special_tokens=False)["input_ids"]
        ids += head + body + tail
        labels += (
            [-100] * len(head)
            + (body if m["role"] == "assistant" else [-100] * len(body))
            + [-100] * len(tail)
        )
    return ids, labels


def write_sft_shards(
    out: Path, tok, n: int = 400, pack: int = 1, seed: int = 0, row_group_size: int = 64
) -> Path:
    """SFT rows; with pack > 1, `pack` conversations per row with restarting position_ids."""
    rng = random.Random(seed)
    convs = [encode_chat(tok, chat_example(rng.choice(WORDS))) for _ in range(n)]
    cols: dict[str, list] = {"input_ids": [], "labels": [], "n_tokens": []}
    if pack > 1:
        cols["position_ids"] = []
    for i in range(0, n, pack):
        grp = convs[i:i + pack]
        ids = [t for c in grp for t in c[0]]
        lab = [t for c in grp for t in c[1]]
        cols["input_ids"].append(ids)
        cols["labels"].append(lab)
        cols["n_tokens"].append(len(ids))
        if pack > 1:
            cols["position_ids"].append([p for c in grp for p in range(len(c[0]))])
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    t = pa.table(
        {
            "input_ids": pa.array(cols["input_ids"], pa.list_(pa.int32())),
            "labels": pa.array(cols["labels"], pa.list_(pa.int32())),
            "n_tokens": pa.array(cols["n_tokens"], pa.int32()),
            **({"position_ids": pa.array(cols["position_ids"], pa.list_(pa.int32()))} if pack > 1 else {}),
        }
    )
    f = data / "part-00000.parquet"
    pq.write_table(t, f, row_group_size=row_group_size)
    write_manifest(out, [f])
    return data


def write_dpo_shards(out: Path, tok, n: int = 64, seed: int = 0) -> Path:
    """Preference pairs: chosen repeats the word, rejected refuses (a pattern a few steps can learn)."""
    rng = random.Random(seed)
    cols: dict[str, list] = {k: [] for k in ("chosen_input_ids", "chosen_labels",
                                             "rejected_input_ids", "rejected_labels")}
    for _ in range(n):
        w, other = rng.sample(WORDS, 2)
        c = encode_chat(tok, chat_example(w))
        r = encode_chat(tok, [{"role": "user", "content": f"say {w}"},
                              {"role": "assistant", "content": f"no, not {other}"}])
        cols["chosen_input_ids"].append(c[0])
        cols["chosen_labels"].append(c[1])
        cols["rejected_input_ids"].append(r[0])
        cols["rejected_labels"].append(r[1])
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    f = data / "part-00000.parquet"
    pq.write_table(pa.table({k: pa.array(v, pa.list_(pa.int32())) for k, v in cols.items()}), f)
    write_manifest(out, [f])
    return data
