"""A tiny tokenizer trained once per session on generated text (offline, ~1 s)."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

WORDS = [
    "the", "of", "and", "data", "model", "train", "token", "text", "book", "code", "def", "return", "class",
    "web", "page", "news", "Über", "größe", "naïve", "数据", "模型", "✓",
]


def random_text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    from curate.train.tokenizer import train_tokenizer

    d = tmp_path_factory.mktemp("tok")
    rng = random.Random(0)
    pq.write_table(pa.table({"text": [random_text(rng, 60) for _ in range(400)]}), d / "s.parquet")
    return train_tokenizer([d / "s.parquet"], d / "tokenizer", vocab_size=300)
