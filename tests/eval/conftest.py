"""Fixtures for the eval tests: a small BPE tokenizer and tiny (random or briefly trained) models."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

try:
    import curate.train  # noqa: F401
except ImportError:  # a plain checkout: curate.train -> train/
    import curate

    curate.__path__.append(str(Path(__file__).resolve().parents[2]))

WORDS = ["apple", "river", "stone", "cloud", "green", "music", "paper", "light", "table", "window"]


def clean_text(n_docs: int, seed: int = 0) -> list[str]:
    """Documents with strong regularities (a tiny model learns them in a few dozen steps)."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        docs.append(
            " ".join(f"The {a} is near the {b}. The {b} is near the {a}." for _ in range(rng.randint(2, 5)))
        )
    return docs


def corrupt(text: str, seed: int = 0) -> str:
    """The same characters shuffled within each word: same bytes, no regularity left."""
    rng = random.Random(seed)
    out = []
    for w in text.split(" "):
        c = list(w)
        rng.shuffle(c)
        out.append("".join(c))
    return " ".join(out)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models on a shared 2-core box: two threads thrash (5 s a step), one takes 0.1 s."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    from curate.train.tokenizer import train_tokenizer

    d = tmp_path_factory.mktemp("tok")
    pq.write_table(pa.table({"text": clean_text(300, seed=1)}), d / "corpus.parquet")
    return train_tokenizer([d / "corpus.parquet"], d / "tokenizer", vocab_size=320, min_frequency=1)


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir):
    from curate.train.model import load_tokenizer

    return load_tokenizer(tokenizer_dir)


def tiny_model(tokenizer, max_positions: int = 64, seed: int = 0):
    from curate.train.model import build_model

    torch.manual_seed(seed)
    return build_model("tiny", tokenizer, max_positions=max_positions).eval()


def train_on(
    model, tokenizer, docs: list[str], steps: int = 40, seq_len: int = 32, lr: float = 3e-3, seed: int = 0
):
    """A few AdamW steps of next-token loss on `docs` joined with EOS (as curate packs them)."""
    ids: list[int] = []
    for d in docs:
        ids += [tokenizer.eos_token_id] + tokenizer.encode(d, add_special_tokens=False)
    rows = torch.tensor(ids[: len(ids) // (seq_len + 1) * (seq_len + 1)]).view(-1, seq_len + 1)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        b = rows[torch.randint(len(rows), (16,), generator=g)]
        loss = torch.nn.functional.cross_entropy(
            model(input_ids=b[:, :-1]).logits.flatten(0, 1), b[:, 1:].flatten()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def trained(tokenizer):
    """A tiny model trained briefly on clean synthetic text."""
    return train_on(tiny_model(tokenizer), tokenizer, clean_text(200, seed=2))
