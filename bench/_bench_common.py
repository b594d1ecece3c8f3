"""Shared by bench/train.py and bench/train_hf.py: import path, synthetic tokenizer and shards."""

from __future__ import annotations

import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def import_curate_train() -> None:
    """Make `curate.train` importable from a plain checkout (a GPU box without `pip install -e .`)."""
    try:
        import curate.train  # noqa: F401
        return
    except ImportError:
        pass
    pkg = types.ModuleType("curate")
    pkg.__path__ = [str(REPO / "curate"), str(REPO)]  # curate.train -> REPO/train
    sys.modules["curate"] = pkg


def synthetic_tokenizer(out: Path, vocab: int = 50257) -> Path:
    """A word-level tokenizer with `vocab` entries (GPT-2's size): the model shape is what matters."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    if (out / "tokenizer.json").exists():
        return out
    specials = ["<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>", "<unk>"]
    v = {t: i for i, t in enumerate(specials)}
    v.update({f"t{i}": i for i in range(len(specials), vocab)})
    tk = Tokenizer(WordLevel(v, unk_token="<unk>"))
    tk.pre_tokenizer = WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    fast.save_pretrained(str(out))
    return out


def synthetic_shards(
    out: Path, rows: int, seq_len: int, vocab: int = 50257, files: int = 4, seed: int = 0
) -> Path:
    """Tokenized pretrain shards (`input_ids` uint16, seq_len+1 per row) of random tokens."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = out / "data"
    if data.exists() and sum(pq.ParquetFile(f).metadata.num_rows for f in data.glob("*.parquet")) >= rows:
        return data
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per = -(-rows // files)
    for k in range(files):
        a = rng.integers(6, vocab, size=(per, seq_len + 1), dtype=np.uint16)
        col = pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), seq_len + 1).cast(
            pa.list_(pa.uint16())
        )
        pq.write_table(pa.table({"input_ids": col}), data / f"part-{k:05d}.parquet", row_group_size=512)
    return data
