"""torchrun on CPU (gloo): DDP and FSDP2 give the same loss curve, and the run dir is complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import write_pretrain_shards

pytestmark = pytest.mark.slow


def _torchrun(tmp_path, data, tok_dir, mode):
    out = tmp_path / mode
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "curate.train.cli", "pretrain", "--data", str(data), "--tokenizer", str(tok_dir),
           "--preset", "tiny", "-o", str(out), "--steps", "6", "--batch-size", "4", "--grad-accum", "2",
           "--log-interval", "1", "--ckpt-interval", "3", "--device", "cpu", "--parallel", mode]
    r = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1")
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r.stdout


def test_ddp_and_fsdp_agree(tmp_path, tokenizer, tokenizer_dir):
    data = write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=32, n_docs=200, row_group_size=8)
    runs = {m: _torchrun(tmp_path, data, tokenizer_dir, m)[0] for m in ("ddp", "fsdp")}
    curves = {m: [json.loads(x) for x in (d / "log.jsonl").read_text().splitlines()] for m, d in runs.items()}
    assert [c["loss"] for c in curves["ddp"]] == pytest.approx([c["loss"] for c in curves["fsdp"]], rel=1e-5)
    for d in runs.values():
        assert (d / "model.safetensors").is_file() and (d / "lineage.json").is_file()
        assert sorted(p.name for p in (d / "checkpoints" / "step_0000006").iterdir()) == [
            "checkpoint.json", "model.safetensors", "optimizer.pt", "rank0.pt", "rank1.pt"]
    # resume under torchrun: back to checkpoint 3, and the run repeats steps 4-6 exactly
    for mode, d in runs.items():
        (d / "checkpoints" / "latest").write_text("step_0000003\n")
        assert "at step 3" in _torchrun(tmp_path, data, tokenizer_dir, mode)[1]
        again = [json.loads(x) for x in (d / "log.jsonl").read_text().splitlines()]
        assert [(c["kind"], c["step"], c["loss"]) for c in again] == [(c["kind"], c["step"], c["loss"])
                                                                     for c in curves[mode]]


def test_lora_sft_under_fsdp_saves_what_ddp_saves(tmp_path, tokenizer, tokenizer_dir):
    """LoRA under FSDP2: same loss curve as DDP, and the adapter and merged weights are written
    (peft cannot save sharded weights itself; rank 0 rebuilds the model from the gathered state)."""
    from conftest import write_sft_shards
    from safetensors.torch import load_file

    from curate.train.loop import pretrain

    pretrain(
        data=str(write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=32, n_docs=200)),
        out=str(tmp_path / "base"),
        tokenizer=str(tokenizer_dir),
        preset="tiny",
        max_steps=4,
        batch_size=8,
        log_interval=2,
        device="cpu",
    )
    sft_data = write_sft_shards(tmp_path / "sft", tokenizer, pack=4)
    runs = {}
    for mode in ("ddp", "fsdp"):
        out = tmp_path / f"lora-{mode}"
        cmd = [
            sys.executable,
            "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "curate.train.cli",
            "sft", "--data",
            str(sft_data),
            "--from",
            str(tmp_path / "base"),
            "-o",
            str(out),
            "--lora",
            "r=8,alpha=16",
            "--parallel",
            mode,
            "--steps", "4", "--batch-size", "4", "--log-interval", "1", "--device", "cpu",
        ]
        r = subprocess.run(
            cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1")
        )
        assert r.returncode == 0, r.stderr[-3000:]
        assert (out / "adapter" / "adapter_config.json").is_file()
        runs[mode] = out
    curves = {
        m: [
            e["loss"]
            for e in map(json.loads, (d / "log.jsonl").read_text().splitlines())
            if e["kind"] == "train"
        ]
        for m, d in runs.items()
    }
    assert len(curves["fsdp"]) == 4 and curves["fsdp"] == pytest.approx(curves["ddp"], rel=1e-5)
    a, b = (load_file(str(runs[m] / "model.safetensors")) for m in ("ddp", "fsdp"))
    assert a.keys() == b.keys() and not any("lora" in k for k in a)  # merged: plain HF weights
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
