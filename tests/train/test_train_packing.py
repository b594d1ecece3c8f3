"""Packed SFT rows: attention must stay inside a conversation (position_ids restarts)."""

from __future__ import annotations

import torch

from curate.train.model import build_model, forward_logits


def test_packed_row_logits_equal_unpacked(tokenizer):
    torch.manual_seed(0)
    model = build_model("tiny", tokenizer).eval()
    a = torch.randint(5, len(tokenizer), (1, 11))
    b = torch.randint(5, len(tokenizer), (1, 7))
    c = torch.randint(5, len(tokenizer), (1, 5))
    packed = torch.cat([a, b, c], dim=1)
    pos = torch.cat([torch.arange(11), torch.arange(7), torch.arange(5)]).unsqueeze(0)
    with torch.no_grad():
        lp = forward_logits(model, {"input_ids": packed, "position_ids": pos})
        la = forward_logits(model, {"input_ids": a})
        lb = forward_logits(model, {"input_ids": b})
        lc = forward_logits(model, {"input_ids": c})
        # the same row without restarts: conversation B would see A (this must differ)
        lcross = forward_logits(model, {"input_ids": packed})
    torch.testing.assert_close(lp[:, :11], la, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lp[:, 11:18], lb, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lp[:, 18:], lc, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(lcross[:, 11:18], lb, atol=1e-3)


def test_packed_batch_with_padding(tokenizer):
    """Two rows in one batch, one padded: each conversation's logits match it alone."""
    from curate.train.data import collate

    torch.manual_seed(1)
    model = build_model("tiny", tokenizer).eval()
    import numpy as np

    convs = [np.random.default_rng(i).integers(5, len(tokenizer), n) for i, n in enumerate((9, 6, 4))]
    rows = [
        {"input_ids": np.concatenate(convs[:2]), "targets": np.zeros(15, np.int64),
         "position_ids": np.concatenate([np.arange(9), np.arange(6)]), "n": 15},
        {"input_ids": convs[2], "targets": np.zeros(4, np.int64), "position_ids": np.arange(4), "n": 4},
    ]
    b = collate(rows, tokenizer.pad_token_id)
    with torch.no_grad():
        lp = forward_logits(model, b)
        alone = [forward_logits(model, {"input_ids": torch.from_numpy(c)[None]}) for c in convs]
    torch.testing.assert_close(lp[0:1, :9], alone[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lp[0:1, 9:15], alone[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lp[1:2, :4], alone[2], rtol=1e-5, atol=1e-5)
