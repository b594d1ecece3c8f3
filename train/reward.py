"""The reward model: the bundled decoder (or a run directory) with a scalar head, trained on
preference pairs with the Bradley-Terry loss ``-log sigma(r_chosen - r_rejected)``.

The model is transformers' ``LlamaForSequenceClassification`` (any ``*ForSequenceClassification``
when ``init_from`` names another architecture) with ``num_labels=1``: the score head reads the
hidden state of the last non-pad token of each row, found by the rule transformers itself uses
(the rightmost token that is not ``pad_token_id``). Training calls that same forward, so the
saved folder gives the same scores under ``AutoModelForSequenceClassification.from_pretrained``
as the run measured (tests/train/test_reward.py holds them equal). The tokenizer's pad token
must therefore never be a real token of a row: the bundled tokenizer's ``<pad>`` is not; a
tokenizer whose pad is its EOS is refused (``check_pad_token``).

Rows are the preference shards the SFT format stage writes (``chosen_input_ids``/``rejected_input_ids``,
data/preference/): one batch holds the chosen rows then the rejected rows, as for DPO.
"""

from __future__ import annotations

import pickle
from typing import Any

import torch
import torch.nn.functional as F

from .model import UnsafeModelFile
from .presets import preset_config, round_vocab


def check_pad_token(tok: Any) -> None:
    """The score head pools at the last token that is not pad: pad must be a token rows never hold."""
    if tok.pad_token_id is None:
        raise ValueError("the reward model needs a tokenizer with a pad token (the bundled one has <pad>)")
    if tok.pad_token_id in (tok.eos_token_id, tok.bos_token_id):
        raise ValueError(
            f"the tokenizer's pad token {tok.pad_token!r} is also its BOS/EOS token: the reward head reads "
            "the last token that is not pad, so a row ending in it would be read one token early. Give the "
            "tokenizer a pad token of its own (curate tokenizer train adds <pad>)"
        )


def build_reward_model(preset: str | None, tok: Any, init_from: str | None = None,
                       max_positions: int | None = None) -> torch.nn.Module:
    """A fresh sequence classifier (one label) from `preset`, or `init_from`'s decoder with a new
    score head (a causal LM run directory) or with its own (a reward model folder)."""
    from transformers import AutoModelForSequenceClassification

    check_pad_token(tok)
    if init_from:
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                str(init_from), num_labels=1, pad_token_id=tok.pad_token_id, dtype=torch.float32,
                attn_implementation="sdpa",
            )
        except pickle.UnpicklingError:
            raise UnsafeModelFile(
                f"{init_from}: the weights file (pytorch_model.bin) holds more than tensors, so loading "
                f"it could run code; not loading it. Use a model saved as model.safetensors"
            ) from None
        if len(tok) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(round_vocab(len(tok)))
    else:
        if not preset:
            raise ValueError("give a model preset or --from a model directory")
        cfg = preset_config(preset, round_vocab(len(tok)), bos_token_id=tok.bos_token_id,
                            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                            max_position_embeddings=max_positions)
        cfg.num_labels = 1
        model = AutoModelForSequenceClassification.from_config(cfg, attn_implementation="sdpa",
                                                               dtype=torch.float32)
    model.config.pad_token_id = tok.pad_token_id
    model.config.num_labels = 1
    model.config.id2label, model.config.label2id = {0: "reward"}, {"reward": 0}
    return model


class RewardForward(torch.nn.Module):
    """The classifier's forward as one module (DDP wraps it, torch.compile traces it): one float32
    reward per row, read at each row's last non-pad token (right padding, plain causal attention:
    a real token never sees the padding after it)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        out = self.model(input_ids=input_ids, position_ids=position_ids, use_cache=False)
        return out.logits[:, 0].float()


def bradley_terry_loss_sum(rewards: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Bradley-Terry pairwise loss summed over pairs; rows are [chosen..., rejected...].

    Also the pairs ranked right (``reward_acc``: margin > 0; a tie counts as wrong) and the summed
    margin, for the held-out figures (per pair once divided by the pair count).
    """
    n = rewards.shape[0] // 2
    margin = rewards[:n] - rewards[n:]
    loss = -F.logsigmoid(margin)
    return loss.sum(), {"reward_acc": (margin > 0).float().sum(), "margin": margin.detach().sum()}

