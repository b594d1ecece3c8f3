"""Fixtures: a small byte-level BPE tokenizer with every built-in template's markers (no downloads)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

# ../shared/data from the repo root; CURATE_SHARED_DATA points elsewhere (a git worktree one level deeper)
SHARED = Path(
    os.environ.get("CURATE_SHARED_DATA") or Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
)
SPECIALS = [
    "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "[INST]", "[/INST]",
]
WORDS = [
    "the", "a", "model", "data", "train", "token", "chat", "user", "assistant", "system", "hello", "world",
    "answer", "question", "python", "code", "Human", "Assistant", "USER", "ASSISTANT", "Instruction",
    "Response", "Round", "问", "答", "你好", "世界", "über", "naïve", "café", "😀", "{}", "[]", "()", ":",
    ";", ",", ".",
]


def corpus(n: int = 400, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30))) + rng.choice(["\n", "\n\n", " ", ""])
        for _ in range(n)
    ]


def build_tokenizer(
    directory: Path, bos: str = "<s>", eos: str = "</s>", chat_template: str | None = None,
    extra_specials: list[str] | None = None,
):
    """Train a tiny byte-level BPE and save it as a transformers tokenizer directory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
    )
    tok.train_from_iterator(corpus(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        pad_token="<pad>",
        additional_special_tokens=[
            t for t in SPECIALS + (extra_specials or []) if t not in (bos, eos, "<pad>")
        ],
    )
    if chat_template:
        fast.chat_template = chat_template
    directory.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(directory))
    return fast


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tok") / "bpe"
    build_tokenizer(d)
    return d


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED.resolve()
