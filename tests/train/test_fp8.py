"""FP8 matmuls (train/fp8.py): close to the float32 maths, exact fallbacks, clear refusals (CPU)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import write_pretrain_shards

from curate.train.fp8 import E4M3, fp8_linear, fp8_unavailable_reason
from curate.train.fused import FusedCausalLMLoss
from curate.train.loop import pretrain
from curate.train.model import CausalLMLoss, build_model


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_fp8_linear_is_close_to_fp32_forward_and_backward():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 32, 64, generator=g, requires_grad=True)
    w = (torch.randn(48, 64, generator=g) * 0.05).requires_grad_()
    dy = torch.randn(4, 32, 48, generator=g)
    y8 = fp8_linear(x, w)
    (y8 * dy).sum().backward()
    gx8, gw8 = x.grad.clone(), w.grad.clone()
    x.grad = w.grad = None
    y = F.linear(x, w)
    (y * dy).sum().backward()
    assert y8.shape == y.shape and y8.dtype == torch.float32
    # e4m3 keeps 3 mantissa bits (~6% per element), e5m2 2 bits; summed over 64-128 products
    # the results land within a few percent, but not within float32 rounding: FP8 really ran
    for got, ref in ((y8, y), (gx8, x.grad), (gw8, w.grad)):
        assert 1e-3 < _rel(got.detach(), ref.detach()) < 0.08


def test_fp8_linear_scales_each_tensor_to_its_own_range():
    """Values far outside e4m3's range (max 448) or far below it survive: dynamic scaling."""
    g = torch.Generator().manual_seed(1)
    w = torch.randn(32, 32, generator=g)
    for scale in (1e-6, 1e4):
        x = torch.randn(16, 32, generator=g) * scale
        assert _rel(fp8_linear(x, w), F.linear(x, w)) < 0.08
    assert torch.finfo(E4M3).max == 448


def test_fp8_linear_falls_back_where_shapes_are_not_multiples_of_16():
    x, w = torch.randn(15, 32), torch.randn(48, 32)
    assert torch.equal(fp8_linear(x, w), F.linear(x, w))
    x, w = torch.randn(16, 24), torch.randn(48, 24)
    assert torch.equal(fp8_linear(x, w), F.linear(x, w))


def test_fused_fp8_loss_and_gradients_track_the_plain_path(tokenizer):
    torch.manual_seed(0)
    model = build_model("tiny", tokenizer)
    model.set_attn_implementation("sdpa")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, len(tokenizer), (2, 32), generator=g)
    tgt = torch.randint(5, len(tokenizer), (2, 32), generator=g)

    def grads(m):
        model.zero_grad(set_to_none=True)
        loss = m(ids, tgt)
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    lp, gp = grads(CausalLMLoss(model))
    l8, g8 = grads(FusedCausalLMLoss(model, fp8=True))
    assert abs(float(l8 / lp) - 1) < 0.01
    assert gp.keys() == g8.keys()
    for n in gp:
        cos = F.cosine_similarity(g8[n].flatten(), gp[n].flatten(), dim=0)
        assert cos > 0.98, (n, float(cos))


def test_fp8_training_is_refused_with_the_reason(tmp_path, tokenizer, tokenizer_dir):
    assert "CUDA GPU" in fp8_unavailable_reason(torch.device("cpu"))
    data = write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=32, n_docs=40)
    with pytest.raises(ValueError, match=r"fp8: true cannot run here: FP8 matmuls need a CUDA GPU"):
        pretrain(data=str(data), out=str(tmp_path / "run"), tokenizer=str(tokenizer_dir), preset="tiny",
                 max_steps=1, batch_size=2, device="cpu", num_threads=1, fp8=True)
