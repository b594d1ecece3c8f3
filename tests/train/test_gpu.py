"""GPU checks (run on the device machine): packed attention under CUDA SDPA, compiled bf16 loop."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.gpu
if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU", allow_module_level=True)


def test_packed_logits_on_cuda_bf16(tokenizer):
    from curate.train.model import build_model, forward_logits

    torch.manual_seed(0)
    model = build_model("tiny", tokenizer).cuda().eval()
    a = torch.randint(5, len(tokenizer), (1, 40), device="cuda")
    b = torch.randint(5, len(tokenizer), (1, 24), device="cuda")
    pos = torch.cat([torch.arange(40), torch.arange(24)]).unsqueeze(0).cuda()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        lp = forward_logits(model, {"input_ids": torch.cat([a, b], 1), "position_ids": pos}).float()
        lb = forward_logits(model, {"input_ids": b}).float()
    torch.testing.assert_close(lp[:, 40:], lb, atol=3e-2, rtol=3e-2)


def test_compiled_pretrain_and_sft_on_gpu(tmp_path, tokenizer, tokenizer_dir):
    from conftest import write_pretrain_shards, write_sft_shards
    from curate.train.loop import pretrain, sft

    data = write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=64)
    r = pretrain(data=str(data), out=str(tmp_path / "run"), tokenizer=str(tokenizer_dir), preset="tiny",
                 max_steps=30, batch_size=16, lr=3e-3, log_interval=5, eval_interval=15)
    assert r.losses[-1][1] < 0.5 * r.losses[0][1]
    assert r.mfu is not None and r.tokens_per_s > 0
    s = sft(data=str(write_sft_shards(tmp_path / "sft", tokenizer, pack=4)), out=str(tmp_path / "sft_run"),
            init_from=str(tmp_path / "run"), max_steps=10, batch_size=8, log_interval=5)
    assert s.steps == 10
