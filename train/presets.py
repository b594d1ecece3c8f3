"""Model presets: Llama-style decoder configs (RoPE, RMSNorm, SwiGLU, SDPA attention).

Sizes are counted with the vocabulary of the tokenizer the run uses; the comments give the
count at the vocabulary each preset is meant for. `gpt2-124m` matches GPT-2 small's shape
(12 layers, 768 wide, tied embeddings, 50304-token vocabulary) with a SwiGLU MLP of the same
parameter count, so its MFU is comparable with nanoGPT's and llm.c's figures.
"""

from __future__ import annotations

from transformers import LlamaConfig

# name -> (hidden, layers, heads, kv_heads, intermediate, max_positions, tie_embeddings)
PRESETS: dict[str, dict] = {
    # ~1.5M parameters at an 8k vocabulary (0.5M at 400): CPU smoke tests.
    "tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                 intermediate_size=384, max_position_embeddings=1024, tie_word_embeddings=True),
    # ~24M at a 16k vocabulary.
    "small": dict(hidden_size=384, num_hidden_layers=10, num_attention_heads=6, num_key_value_heads=6,
                  intermediate_size=1024, max_position_embeddings=2048, tie_word_embeddings=True),
    # ~124M at 50304: GPT-2 small's shape.
    "gpt2-124m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=12,
                      intermediate_size=2048, max_position_embeddings=2048, tie_word_embeddings=True),
    # ~360M at 50304: GPT-2 medium's shape.
    "350m": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=16,
                 intermediate_size=2816, max_position_embeddings=2048, tie_word_embeddings=True),
    # ~1.2B at 50304 (Llama-3.2-1B-like: grouped-query attention, 8 KV heads).
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=8192, max_position_embeddings=4096, tie_word_embeddings=True),
}

# Peak learning rate per preset (AdamW, cosine to 10%, batch 8 x 256 tokens by default): smaller
# models take larger steps. gpt2-124m, 350m, 1b follow GPT-3's table for those sizes (Brown et al.
# 2020, table 2.1: 6e-4, 3e-4, 2e-4); tiny's and small's were measured on Gutenberg English
# (tests/train/test_presets.py: 150 default steps bring the loss 20% below ln V).
PRESET_LR: dict[str, float] = {"tiny": 3e-3, "small": 1e-3, "gpt2-124m": 6e-4, "350m": 3e-4, "1b": 2e-4}

# Fine-tuning (init_from a model) without --lr.
FINETUNE_LR = 3e-4


def default_lr(preset: str | None, init_from: str | None) -> float:
    """The learning rate a run gets when none is given."""
    if init_from or not preset:
        return FINETUNE_LR
    return PRESET_LR.get(preset, FINETUNE_LR)


# Presets large enough that `parallel: auto` shards them with FSDP instead of replicating (DDP).
FSDP_PRESETS = {"350m", "1b"}


def round_vocab(n: int, multiple: int = 64) -> int:
    """Round the embedding table up to a multiple of 64: matmul tiles like it (nanoGPT's 50304)."""
    return (n + multiple - 1) // multiple * multiple


def preset_config(name: str, vocab_size: int, *, bos_token_id: int | None = None,
                  eos_token_id: int | list[int] | None = None, pad_token_id: int | None = None,
                  max_position_embeddings: int | None = None) -> LlamaConfig:
    """A LlamaConfig for preset `name` with the given vocabulary and special token ids."""
    if name not in PRESETS:
        raise ValueError(
            f"unknown preset {name!r}; choose one of {sorted(PRESETS)} or pass a model directory"
        )
    kw = dict(PRESETS[name])
    if max_position_embeddings:
        kw["max_position_embeddings"] = max(kw["max_position_embeddings"], max_position_embeddings)
    return LlamaConfig(
        vocab_size=vocab_size, rms_norm_eps=1e-5, rope_theta=10000.0, attention_bias=False,
        mlp_bias=False, hidden_act="silu", initializer_range=0.02, use_cache=True,
        bos_token_id=bos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id, **kw)
