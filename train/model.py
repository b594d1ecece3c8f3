"""Build the bundled causal LM (from a preset) or load a local HF model; the token-level losses.

Attention is transformers' SDPA path. For packed rows we pass `position_ids` that restart per
conversation and no attention mask: transformers 5 then detects the packing
(`masking_utils.find_packed_sequence_indices`) and builds a block-diagonal causal mask, so
attention never crosses a conversation (tests/train/test_packing.py checks the logits). Rows
without restarts get no mask at all, so SDPA runs `is_causal` (flash attention on GPU).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from .data import IGNORE
from .presets import preset_config, round_vocab

# ChatML, the template the SFT shards use when the tokenizer brings none of its own.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% "
    "endif %}"
)


class UnsafeModelFile(ValueError):
    """A model folder whose weights file would run code to load (a pickle with more than tensors)."""


def load_pretrained(path: str | Path, **kw: Any):
    """AutoModelForCausalLM.from_pretrained, with a weights file that is not plain tensors refused
    in one line (transformers loads `pytorch_model.bin` with torch.load(weights_only=True), which
    stops such a file before it runs anything, with a long message and a traceback)."""
    try:
        return AutoModelForCausalLM.from_pretrained(str(path), **kw)
    except pickle.UnpicklingError:
        raise UnsafeModelFile(
            f"{path}: the weights file (pytorch_model.bin) holds more than tensors, so loading "
            f"it could run code; not loading it. Use a model saved as model.safetensors"
        ) from None


def load_tokenizer(path: str | Path) -> Any:
    """A local HF tokenizer directory; gets the ChatML template if it has none and knows <|im_end|>."""
    tok = AutoTokenizer.from_pretrained(str(path))
    if not getattr(tok, "chat_template", None) and "<|im_end|>" in tok.get_vocab():
        tok.chat_template = CHATML_TEMPLATE
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.convert_ids_to_tokens(0)
    return tok


def stop_token_ids(tok: Any) -> list[int]:
    """Token ids that end generation: the end-of-turn token (ChatML's <|im_end|>) and EOS."""
    ids = []
    vocab = tok.get_vocab()
    for t in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
        if t in vocab:
            ids.append(vocab[t])
    if tok.eos_token_id is not None and tok.eos_token_id not in ids:
        ids.append(tok.eos_token_id)
    return ids


def build_model(preset: str | None, tok: Any, init_from: str | None = None, max_positions: int | None = None):
    """A fresh model from `preset` sized to the tokenizer, or the HF model in `init_from`."""
    if init_from:
        model = load_pretrained(init_from, dtype=torch.float32, attn_implementation="sdpa")
        if len(tok) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(round_vocab(len(tok)))
        return model
    if not preset:
        raise ValueError("give a model preset or --from a model directory")
    cfg = preset_config(preset, round_vocab(len(tok)), bos_token_id=tok.bos_token_id,
                        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                        max_position_embeddings=max_positions)
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa", dtype=torch.float32)


def generation_config(tok: Any, max_new_tokens: int = 256) -> GenerationConfig:
    """Greedy by default; stops at the end-of-turn token and EOS."""
    return GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=stop_token_ids(tok),
                            pad_token_id=tok.pad_token_id, max_new_tokens=max_new_tokens, do_sample=False)


def token_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-token cross entropy in float32 (0 where target is IGNORE), shape (B, T)."""
    B, T, V = logits.shape
    return F.cross_entropy(logits.float().view(-1, V), targets.reshape(-1), ignore_index=IGNORE,
                           reduction="none").view(B, T)


_compiled_losses = None


def compile_losses(enable: bool = True) -> None:
    """Compile the float32 cross entropy: fuses the upcast with log-softmax, so the (B, T, V)
    float32 copy of the logits is never written to memory (a large share of a small model's step)."""
    global _compiled_losses
    _compiled_losses = torch.compile(token_losses) if enable else None


def _losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (_compiled_losses or token_losses)(logits, targets)


class CausalLMLoss(torch.nn.Module):
    """Model + loss in one module, so DDP wraps and torch.compile traces the two together
    (the float32 log-softmax fuses with the logits; no float32 copy of them is written)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        targets: torch.Tensor,
        position_ids: torch.Tensor | None = None,
        per_row: bool = False,
    ) -> torch.Tensor:
        logits = self.model(input_ids=input_ids, position_ids=position_ids, use_cache=False).logits
        tl = _losses(logits, targets)
        return tl.sum(-1) if per_row else tl.sum()


# Rows without restarts need no mask at all; transformers still builds one whenever mask creation
# is traced by torch.compile (packed-sequence detection cannot run there), which takes SDPA off
# its flash / is_causal path. Runs whose data has no position_ids use this attention
# implementation: transformers' own SDPA function, with mask creation answering None (= causal).
CAUSAL_ONLY = "curate_causal_sdpa"


def _register_causal_only() -> None:
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(CAUSAL_ONLY, sdpa_attention_forward)
    AttentionMaskInterface.register(CAUSAL_ONLY, lambda *a, **k: None)


def set_causal_only(model, enable: bool) -> None:
    """Switch between plain causal SDPA (no mask built, training on unpacked rows) and "sdpa"."""
    if enable:
        _register_causal_only()
    model.set_attn_implementation(CAUSAL_ONLY if enable else "sdpa")


def forward_logits(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's logits for a batch (`input_ids`, optional `position_ids`); used by the packing tests."""
    return model(input_ids=batch["input_ids"], position_ids=batch.get("position_ids"), use_cache=False).logits


def dpo_loss_sum(
    policy_logps: torch.Tensor, ref_logps: torch.Tensor, beta: float
) -> tuple[torch.Tensor, dict]:
    """DPO (Rafailov et al. 2023, eq. 7) summed over pairs; rows are [chosen..., rejected...]."""
    n = policy_logps.shape[0] // 2
    pi = policy_logps[:n] - policy_logps[n:]
    ref = ref_logps[:n] - ref_logps[n:]
    margin = beta * (pi - ref)
    losses = -F.logsigmoid(margin)
    return losses.sum(), {"reward_acc": (margin > 0).float().sum(), "margin": margin.detach().sum()}
