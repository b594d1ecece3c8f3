"""FP8 matmuls for the fused training path (`TrainConfig.fp8`).

The recipe is the common one for FP8 training on Hopper/Ada (torchao's float8 default, Transformer
Engine's "current scaling"): each operand of each linear is scaled by one float32 factor computed
from its own absolute maximum at that step (dynamic, tensorwise), cast to `float8_e4m3fn` for the
forward (weights and activations: more mantissa) and to `float8_e5m2` for the output gradient in
the backward (more range), and multiplied by `torch._scaled_mm` with float32 accumulation. Master
weights, optimizer state, norms, attention, softmax and the loss stay as they were; the output
projection (`lm_head`) stays in bf16, since its logits feed the loss directly.

Hand-written instead of torchao's `Float8Linear` because the fused blocks multiply by concatenated
q/k/v and gate/up weights through `F.linear`, not through `nn.Linear` modules a converter could
swap; this is the same maths in one autograd function, which torch.compile traces and fuses (the
amax reductions and the casts become kernels beside their producers).

`torch._scaled_mm` needs every dimension to be a multiple of 16; a matmul with any other shape (an
odd number of tokens in a batch) runs in the autocast dtype instead, exactly like the plain path.
It runs on CPU too (slowly), which is how the tests hold its loss and gradients to float32's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

E4M3 = torch.float8_e4m3fn
E5M2 = torch.float8_e5m2


def fp8_unavailable_reason(device: torch.device) -> str | None:
    """Why FP8 training cannot run on `device` (None: it can)."""
    if not hasattr(torch, "_scaled_mm") or not hasattr(torch, "float8_e4m3fn"):
        return f"this torch ({torch.__version__}) has no FP8 matmul (torch._scaled_mm)"
    if device.type != "cuda":
        return f"FP8 matmuls need a CUDA GPU (this run is on {device.type})"
    major, minor = torch.cuda.get_device_capability(device)
    if (major, minor) < (8, 9):
        name = torch.cuda.get_device_name(device)
        return f"FP8 matmuls need compute capability 8.9 or newer (Ada, Hopper); {name} is {major}.{minor}"
    return None


def _scaled(t: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(t cast to `dtype` after scaling its amax to the format's largest value, the inverse scale)."""
    top = torch.finfo(dtype).max
    amax = t.detach().abs().amax().float().clamp(min=1e-12)
    scale = top / amax
    return (t.float() * scale).clamp(-top, top).to(dtype), scale.reciprocal()


def _col_major(t: torch.Tensor) -> torch.Tensor:
    """The same matrix, stored column-major (what _scaled_mm wants for its second operand)."""
    return t.t().contiguous().t()


class _FP8Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
        x2 = x.reshape(-1, x.shape[-1])
        x8, xs = _scaled(x2, E4M3)
        w8, ws = _scaled(w, E4M3)
        y = torch._scaled_mm(x8, w8.t(), scale_a=xs, scale_b=ws, out_dtype=out_dtype)
        ctx.save_for_backward(x8, xs, w8, ws)
        ctx.x_dtype, ctx.w_dtype = x.dtype, w.dtype
        return y.view(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        x8, xs, w8, ws = ctx.saved_tensors
        g2 = g.reshape(-1, g.shape[-1])
        g8, gs = _scaled(g2, E5M2)
        # dx = g @ w: (N, O) @ (O, K); dw = g.T @ x: (O, N) @ (N, K), accumulated in float32
        gx = torch._scaled_mm(g8, _col_major(w8), scale_a=gs, scale_b=ws, out_dtype=g.dtype)
        gw = torch._scaled_mm(g8.t().contiguous(), _col_major(x8), scale_a=gs, scale_b=xs,
                              out_dtype=torch.float32)
        return gx.view(*g.shape[:-1], w8.shape[1]).to(ctx.x_dtype), gw.to(ctx.w_dtype), None


def fp8_linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x @ w.T (no bias) with FP8 operands where the shapes allow, else F.linear; the result is in
    the autocast dtype under autocast, else in x's dtype."""
    dev = x.device.type
    out_dtype = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else x.dtype
    n = x.numel() // x.shape[-1]
    if n % 16 or x.shape[-1] % 16 or w.shape[0] % 16:
        return F.linear(x, w)
    with torch.autocast(x.device.type, enabled=False):
        return _FP8Linear.apply(x, w, out_dtype)
