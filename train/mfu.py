"""Model FLOPs utilisation, counted as nanoGPT does (PaLM appendix B)."""

from __future__ import annotations

import torch

# Dense bf16 tensor-core peaks (no sparsity), FLOP/s.
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "H800": 989e12, "A100": 312e12, "A800": 312e12,
             "L40S": 362e12, "4090": 165e12}


def matmul_params(model) -> int:
    """Parameters that take part in matmuls: all, minus an untied input embedding (a lookup)."""
    n = sum(p.numel() for p in model.parameters())
    emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    if head is None or head.weight is not emb.weight:
        n -= emb.weight.numel()
    return n


def flops_per_token(model, seq_len: int) -> float:
    """6N + 12·L·H·Q·T: forward + backward of the weights plus attention scores (nanoGPT)."""
    cfg = model.config
    L, H = cfg.num_hidden_layers, cfg.num_attention_heads
    Q = getattr(cfg, "head_dim", None) or cfg.hidden_size // H
    return 6 * matmul_params(model) + 12 * L * H * Q * seq_len


def peak_flops(device: torch.device, override_tflops: float | None = None) -> float | None:
    """The device's bf16 peak, from its name; None on CPU or an unknown GPU."""
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, v in PEAK_BF16.items():
        if key in name:
            return v
    return None
