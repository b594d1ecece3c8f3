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


def test_reward_model_trains_on_gpu_and_scores_from_its_folder(tmp_path, tokenizer, tokenizer_dir):
    """curate train rm under CUDA (bf16 autocast) learns the pairs; the saved folder scores on CUDA."""
    from conftest import chat_example, encode_chat, write_dpo_shards
    from transformers import AutoModelForSequenceClassification

    from curate.train.loop import rm

    data = write_dpo_shards(tmp_path / "pref", tokenizer, n=200)
    res = rm(data=str(data), out=str(tmp_path / "rm"), tokenizer=str(tokenizer_dir), preset="tiny",
             max_steps=30, batch_size=16, lr=3e-3, eval_interval=15, log_interval=5, device="cuda")
    assert res.eval_metrics[-1][1]["reward_acc"] >= 0.9
    model = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "rm")).cuda().eval()
    pad = tokenizer.pad_token_id
    rows = [encode_chat(tokenizer, c)[0] for c in (
        chat_example("apple"),
        [{"role": "user", "content": "say apple"}, {"role": "assistant", "content": "no, not river"}],
    )]
    T = max(map(len, rows))
    ids = torch.tensor([r + [pad] * (T - len(r)) for r in rows], device="cuda")
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        scores = model(input_ids=ids, attention_mask=(ids != pad).long()).logits[:, 0].float()
    assert scores[0] > scores[1]


def _launcher(tmp_path):
    """A torchrun entry point that finds curate.train in a plain checkout as well as installed."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    p = tmp_path / "launch.py"
    p.write_text(
        f"import sys\nsys.path.insert(0, {str(repo)!r})\nimport curate\ntry:\n    import curate.train\n"
        f"except ImportError:\n    curate.__path__.append({str(repo)!r})\nfrom curate.train.cli import "
        "main\nmain()\n"
    )
    return p


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_lora_sft_under_fsdp_matches_ddp_on_two_gpus(tmp_path, tokenizer, tokenizer_dir):
    """LoRA adapters trained under FSDP2 (sharded base, replicated adapters) follow DDP's loss curve."""
    import json
    import os
    import subprocess
    import sys

    from conftest import write_pretrain_shards, write_sft_shards

    from curate.train.loop import pretrain

    pretrain(
        data=str(write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=64)),
        out=str(tmp_path / "base"),
        tokenizer=str(tokenizer_dir),
        preset="tiny",
        max_steps=20,
        batch_size=16,
        lr=3e-3,
        log_interval=5,
    )
    sft_data = write_sft_shards(tmp_path / "sft", tokenizer, pack=4)
    curves = {}
    for mode in ("ddp", "fsdp"):
        out = tmp_path / f"lora-{mode}"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(_launcher(tmp_path)),
            "sft",
            "--data",
            str(sft_data),
            "--from",
            str(tmp_path / "base"),
            "-o",
            str(out),
            "--lora",
            "r=8,alpha=16",
            "--parallel",
            mode,
            "--steps", "8", "--batch-size", "4", "--log-interval", "1", "--seed", "0",
        ]
        r = subprocess.run(
            cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1")
        )
        assert r.returncode == 0, r.stderr[-4000:]
        assert (out / "adapter" / "adapter_config.json").is_file() and (out / "lineage.json").is_file()
        curves[mode] = [
            e["loss"]
            for e in map(json.loads, (out / "log.jsonl").read_text().splitlines())
            if e["kind"] == "train"
        ]
    assert len(curves["fsdp"]) == 8 and all(x == x for x in curves["fsdp"])  # finite, one per step
    assert curves["fsdp"] == pytest.approx(curves["ddp"], rel=2e-2)  # bf16 reductions differ slightly


def test_1b_preset_trains(tmp_path, tokenizer, tokenizer_dir):
    """The largest preset builds, fits and learns on one GPU (bf16, compiled, fused AdamW)."""
    from conftest import write_pretrain_shards

    from curate.train.loop import pretrain

    data = write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=512, n_docs=3000)
    r = pretrain(data=str(data), out=str(tmp_path / "run"), tokenizer=str(tokenizer_dir), preset="1b",
                 max_steps=24, batch_size=8, lr=3e-4, log_interval=4, eval_interval=0, warmup_steps=4)
    first, last = r.losses[0][1], r.losses[-1][1]
    print(f"1b: loss {first:.3f} -> {last:.3f}, {r.tokens_per_s:,.0f} tok/s, MFU {r.mfu:.1%}")
    assert last < first - 1.0 and r.mfu is not None and r.tokens_per_s > 0


def test_fp8_pretrain_on_gpu_tracks_bf16(tmp_path, tokenizer, tokenizer_dir):
    """The fused path with FP8 block matmuls, compiled, learns as the bf16 run does (same seed)."""
    from conftest import write_pretrain_shards

    from curate.train.fp8 import fp8_unavailable_reason
    from curate.train.loop import pretrain

    if fp8_unavailable_reason(torch.device("cuda")):
        pytest.skip(fp8_unavailable_reason(torch.device("cuda")))
    data = write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=64)
    kw = dict(data=str(data), tokenizer=str(tokenizer_dir), preset="tiny", max_steps=40, batch_size=16,
              lr=3e-3, log_interval=1, eval_interval=0, kernels="fused")
    bf16 = pretrain(out=str(tmp_path / "bf16"), **kw)
    fp8 = pretrain(out=str(tmp_path / "fp8"), fp8=True, **kw)
    assert fp8.losses[-1][1] < 0.5 * fp8.losses[0][1]
    assert abs(fp8.losses[-1][1] / bf16.losses[-1][1] - 1) < 0.05
