"""The fused training forward (train/fused.py) holds the plain path's loss and gradients (CPU, fp32)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from curate.train.data import IGNORE
from curate.train.fused import FusedCausalLMLoss, linear_cross_entropy, unfusable_reason
from curate.train.model import CausalLMLoss, build_model
from curate.train.presets import preset_config


def _grads(module, *args) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    module.zero_grad(set_to_none=True)
    loss = module(*args)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def _batch(vocab: int, B: int = 2, T: int = 24, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (B, T), generator=g)
    tgt = torch.randint(5, vocab, (B, T), generator=g)
    tgt[0, :3] = IGNORE  # untrained prompt tokens
    return ids, tgt


def _assert_same(plain, fused, *args):
    lp, gp = _grads(plain, *args)
    lf, gf = _grads(fused, *args)
    torch.testing.assert_close(lf, lp, rtol=1e-5, atol=1e-5)
    assert gp.keys() == gf.keys()
    for n in gp:
        torch.testing.assert_close(gf[n], gp[n], rtol=1e-4, atol=1e-6, msg=n)


@pytest.mark.parametrize("loss_chunk", [0, 7])
def test_fused_matches_plain_unpacked(tokenizer, loss_chunk):
    torch.manual_seed(0)
    model = build_model("tiny", tokenizer)
    model.set_attn_implementation("sdpa")
    ids, tgt = _batch(len(tokenizer))
    _assert_same(CausalLMLoss(model), FusedCausalLMLoss(model, loss_chunk=loss_chunk), ids, tgt)


def test_fused_matches_plain_packed_rows_with_gqa(tokenizer):
    """Packed rows (positions restart) under flex attention: the loss and gradients of the plain
    path, which builds a block-diagonal mask; grouped-query attention (2 KV heads for 4)."""
    torch.manual_seed(0)
    cfg = preset_config("tiny", 448)
    cfg.num_key_value_heads = 2
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa", dtype=torch.float32)
    ids, tgt = _batch(448, T=32)
    pos = torch.cat([torch.arange(11), torch.arange(9), torch.arange(12)]).repeat(2, 1)
    pos[1] = torch.cat([torch.arange(20), torch.arange(12)])
    for chunk in (0, 16):
        _assert_same(CausalLMLoss(model), FusedCausalLMLoss(model, loss_chunk=chunk), ids, tgt, pos)


def test_packed_rows_do_not_see_each_other(tokenizer):
    """A conversation's losses in a packed row equal its losses alone (attention stays inside)."""
    torch.manual_seed(0)
    model = build_model("tiny", tokenizer).eval()
    fused = FusedCausalLMLoss(model)
    ids, tgt = _batch(len(tokenizer), B=1, T=20)
    pos = torch.cat([torch.arange(12), torch.arange(8)])[None]
    with torch.no_grad():
        both = fused(ids, tgt, pos, per_row=True)
        t_a, t_b = tgt.clone(), tgt.clone()
        t_a[:, 12:], t_b[:, :12] = IGNORE, IGNORE
        a = fused(ids[:, :12], tgt[:, :12], None, per_row=True)
        b = fused(ids[:, 12:], tgt[:, 12:], None, per_row=True)
        cross = fused(ids, tgt, None, per_row=True)  # no restarts: B would see A
    torch.testing.assert_close(both, a + b, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(cross, a + b, atol=1e-3)


def test_chunked_linear_cross_entropy_matches_full():
    torch.manual_seed(0)
    h = torch.randn(37, 16, requires_grad=True)
    w = torch.randn(50, 16, requires_grad=True)
    t = torch.randint(0, 50, (37,))
    t[::5] = IGNORE
    ref = torch.nn.functional.cross_entropy(h @ w.t(), t, ignore_index=IGNORE, reduction="sum")
    gh, gw = torch.autograd.grad(ref * 0.5, (h, w))
    out = linear_cross_entropy(h, w, t, 8, torch.float32)
    fh, fw = torch.autograd.grad(out * 0.5, (h, w))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(fh, gh)
    torch.testing.assert_close(fw, gw)
    with torch.no_grad():  # eval: the loss alone
        torch.testing.assert_close(linear_cross_entropy(h, w, t, 8, torch.float32), ref.detach())


def test_unfusable_models_are_named():
    from transformers import GPT2Config, GPT2LMHeadModel

    assert unfusable_reason(GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2))) is not None
    cfg = preset_config("tiny", 448)
    cfg.attention_bias = True
    model = AutoModelForCausalLM.from_config(cfg)
    assert "bias" in unfusable_reason(model)
    with pytest.raises(ValueError, match="cannot run"):
        FusedCausalLMLoss(model)


def test_flex_document_mask_equals_dense_mask():
    """The GPU path's flex BlockMask keeps the same pairs as the dense mask (forward runs on CPU)."""
    from torch.nn.attention.flex_attention import flex_attention

    from curate.train.fused import doc_block_mask, doc_dense_mask

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 40, 8) for _ in range(3))
    pos = torch.cat([torch.arange(13), torch.arange(20), torch.arange(7)]).repeat(2, 1)
    pos[1] = torch.arange(40)
    with torch.no_grad():
        flex = flex_attention(q, k, v, block_mask=doc_block_mask(pos))
        dense = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=doc_dense_mask(pos))
    torch.testing.assert_close(flex, dense, rtol=1e-5, atol=1e-5)


def test_training_run_through_the_fused_path_follows_the_plain_one(tmp_path, tokenizer, tokenizer_dir):
    """A packed SFT run with `kernels: fused` (CPU, fp32) logs the plain run's losses and grad norms."""
    from conftest import write_sft_shards

    from curate.train.loop import sft

    data = write_sft_shards(tmp_path / "s", tokenizer, n=96, pack=3)
    common = dict(data=str(data), tokenizer=str(tokenizer_dir), preset="tiny", max_steps=4, lr=1e-2,
                  warmup_steps=0, eval_rows=16, eval_interval=2, log_interval=1, batch_size=4,
                  device="cpu", compile="false", deterministic=True, num_threads=1, progress="quiet")
    plain = sft(out=str(tmp_path / "plain"), kernels="plain", **common)
    fused = sft(out=str(tmp_path / "fused"), kernels="fused", loss_chunk=64, **common)
    for (_, a), (_, b) in zip(plain.losses, fused.losses, strict=True):
        assert b == pytest.approx(a, rel=1e-4)
    for (_, a), (_, b) in zip(plain.eval_losses, fused.eval_losses, strict=True):
        assert b == pytest.approx(a, rel=1e-4)
    assert len(plain.losses) == 4 and len(plain.eval_losses) == 2


def test_kernels_fused_refuses_what_it_cannot_run(tmp_path, tokenizer, tokenizer_dir):
    from conftest import write_dpo_shards

    from curate.train.loop import dpo

    data = write_dpo_shards(tmp_path / "d", tokenizer, n=16)
    with pytest.raises(ValueError, match="DPO"):
        dpo(data=str(data), tokenizer=str(tokenizer_dir), preset="tiny", out=str(tmp_path / "r"),
            max_steps=1, device="cpu", compile="false", kernels="fused", progress="quiet")
