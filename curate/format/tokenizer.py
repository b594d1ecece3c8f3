"""Load a local tokenizer once per process and batch-encode text with the fast ``tokenizers`` encoder.

``tokenizer:`` in a stage config is a local Hugging Face tokenizer folder (the one
``curate tokenizer train`` writes, or any downloaded model's) or a ``tokenizer.json`` file. Nothing
is fetched: the tool works offline. Encoding goes straight to ``tokenizers.Tokenizer.
encode_batch_fast`` (no offsets, parallel in Rust) without the ``transformers`` wrapper's per-call
overhead; special tokens are read from the folder's ``tokenizer_config.json``.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


@dataclasses.dataclass(frozen=True)
class LoadedTokenizer:
    """A ``tokenizers.Tokenizer`` plus the special-token ids the stages need."""

    path: str
    tokenizer: Tokenizer
    vocab_size: int  # special/added tokens included: every id is < vocab_size
    eos_id: int | None
    bos_id: int | None
    pad_id: int | None

    @property
    def token_dtype(self) -> np.dtype:
        """The smallest unsigned dtype that holds every token id."""
        return np.dtype(np.uint16) if self.vocab_size <= 1 << 16 else np.dtype(np.uint32)

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text, no special tokens added (the packer adds separators itself)."""
        encs = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return [e.ids for e in encs]

    def count(self, texts: list[str]) -> np.ndarray:
        """Number of tokens per text (int64)."""
        encs = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return np.fromiter((len(e) for e in encs), dtype=np.int64, count=len(encs))


def _token_content(value) -> str | None:
    if isinstance(value, dict):  # {"content": "</s>", "lstrip": false, ...}
        return value.get("content")
    return value


def _special_tokens(folder: Path) -> dict[str, str | None]:
    found: dict[str, str | None] = {"eos_token": None, "bos_token": None, "pad_token": None}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):  # the latter wins
        f = folder / name
        if f.is_file():
            cfg = json.loads(f.read_text(encoding="utf-8"))
            for key in found:
                if cfg.get(key) is not None:
                    found[key] = _token_content(cfg[key])
    return found


@lru_cache(maxsize=8)
def load_tokenizer(path: str) -> LoadedTokenizer:
    """Load ``path`` (an HF tokenizer folder or a ``tokenizer.json``); cached per process."""
    p = Path(path).expanduser()
    if p.is_file():
        tok, folder = Tokenizer.from_file(str(p)), p.parent
    elif (p / "tokenizer.json").is_file():
        tok, folder = Tokenizer.from_file(str(p / "tokenizer.json")), p
    elif p.is_dir():  # a folder with only a slow tokenizer: let transformers convert it, offline
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
        backend = getattr(hf, "backend_tokenizer", None)
        if backend is None:
            raise ValueError(
                f"tokenizer {path}: no fast (tokenizers) backend; give a folder with tokenizer.json"
            )
        tok, folder = backend, p
    else:
        raise FileNotFoundError(
            f"tokenizer {path}: no such folder or tokenizer.json (tokenizers are never downloaded)"
        )
    special = _special_tokens(folder)

    def tid(name: str) -> int | None:
        tok_str = special[name]
        return None if tok_str is None else tok.token_to_id(tok_str)

    return LoadedTokenizer(
        path=str(p),
        tokenizer=tok,
        vocab_size=max(tok.get_vocab(with_added_tokens=True).values()) + 1,
        eos_id=tid("eos_token"),
        bos_id=tid("bos_token"),
        pad_id=tid("pad_token"),
    )
