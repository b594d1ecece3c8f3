"""The fused training forward for the bundled Llama presets: same parameters, same maths, fewer
and larger kernels than transformers' forward.

`FusedCausalLMLoss` replaces `CausalLMLoss` for training (pretrain, SFT) when the model is a plain
`LlamaForCausalLM` (what every preset builds; also a local Llama-shaped model without biases):

- q/k/v and gate/up run as one matmul each (the weights are concatenated per step: under
  autocast that concatenation is the bf16 cast copy the separate matmuls make anyway, and
  torch.compile fuses the two), so each block reads its normalised input twice, not five times;
- attention is one call per block with the backend chosen (`attention`): cuDNN or flash SDPA for
  unpacked rows (plain causal, no mask), flex attention with a per-document block mask for packed
  rows (`position_ids` that restart per document), so attention stays inside a conversation
  without the (B, T, T) mask transformers builds;
- `loss_chunk > 0`: the output projection and cross entropy run chunk by chunk of tokens with the
  gradients computed in the forward (Liger's fused-linear-cross-entropy scheme), so neither the
  (B*T, V) logits nor their float32 copy ever exist whole;
- RoPE's cos/sin tables are computed once per step outside the compiled core and passed in, so
  inductor cannot inline their transcendentals into every layer's q/k kernels;
- `fp8`: the block matmuls (q/k/v, o, gate/up, down) take FP8 operands with dynamic tensorwise
  scales (fp8.py); the output projection, norms and attention keep their dtype.

The HF modules keep their parameters (checkpoints, export and generation see the same model); the
RMSNorms and rotary embedding are the HF modules' own. Everything here runs on CPU too (the tests
hold its loss and gradients to the plain path's); backends that need a GPU are only asked for there.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F

from .data import IGNORE
from .fp8 import fp8_linear

ATTENTION = ("auto", "cudnn", "flash", "efficient", "math", "flex")
KERNELS = ("auto", "fused", "plain")


def unfusable_reason(model: Any) -> str | None:
    """Why `model` cannot take the fused path (None: it can)."""
    cfg = getattr(model, "config", None)
    if type(model).__name__ != "LlamaForCausalLM" or cfg is None:
        return f"{type(model).__name__} is not a LlamaForCausalLM"
    if getattr(cfg, "hidden_act", "silu") != "silu":
        return f"hidden_act {cfg.hidden_act}"
    if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
        return "biases in attention or MLP"
    if getattr(cfg, "pretraining_tp", 1) != 1:
        return "pretraining_tp > 1"
    if getattr(cfg, "attention_dropout", 0.0):
        return "attention dropout"
    return None


def _backends(attention: str) -> list | None:
    """The SDPA backends to try, in order, for `attention` (None: let PyTorch choose)."""
    from torch.nn.attention import SDPBackend

    return {
        "cudnn": [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION],
        "flash": [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION],
        "efficient": [SDPBackend.EFFICIENT_ATTENTION],
        "math": [SDPBackend.MATH],
    }.get(attention)


_PICKED: dict[tuple, str] = {}


def pick_sdpa_backend(shape: tuple[int, int, int, int], dtype: torch.dtype, device: torch.device) -> str:
    """`attention: auto` on a GPU: time causal SDPA forward + backward at the run's (B, H, T, D)
    under cuDNN and under flash attention and keep the faster (a few ms, once per shape).
    cuDNN's attention is the faster one on Hopper at some shapes, flash at others."""
    key = (tuple(shape), dtype, str(device))
    if key in _PICKED:
        return _PICKED[key]
    from torch.nn.attention import sdpa_kernel

    q, k, v = (torch.randn(shape, device=device, dtype=dtype, requires_grad=True) for _ in range(3))
    g = torch.randn(shape, device=device, dtype=dtype)
    times = {}
    for name in ("cudnn", "flash"):
        try:
            with sdpa_kernel(_backends(name)[:1]):
                for i in range(8):
                    if i == 3:
                        torch.cuda.synchronize(device)
                        start = torch.cuda.Event(enable_timing=True)
                        end = torch.cuda.Event(enable_timing=True)
                        start.record()
                    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                    torch.autograd.grad(o, (q, k, v), g)
                end.record()
                torch.cuda.synchronize(device)
                times[name] = start.elapsed_time(end)
        except RuntimeError:  # the backend cannot run this shape/dtype here
            continue
    _PICKED[key] = min(times, key=times.get) if times else "flash"
    return _PICKED[key]


def doc_block_mask(position_ids: torch.Tensor):
    """A flex-attention BlockMask: causal, and only within the document a token belongs to
    (a document starts where `position_ids` is 0)."""
    from torch.nn.attention.flex_attention import create_block_mask

    doc = (position_ids == 0).cumsum(-1)
    B, T = doc.shape

    def mask_mod(b, h, q, kv):
        return (q >= kv) & (doc[b, q] == doc[b, kv])

    return create_block_mask(mask_mod, B, None, T, T, device=position_ids.device)


def doc_dense_mask(position_ids: torch.Tensor) -> torch.Tensor:
    """The same mask as a (B, 1, T, T) boolean tensor, for SDPA where flex attention cannot run
    (its backward needs a GPU)."""
    doc = (position_ids == 0).cumsum(-1)
    T = doc.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=doc.device).tril()
    return (causal & (doc[:, :, None] == doc[:, None, :]))[:, None]


def _repeat_kv(x: torch.Tensor, n: int) -> torch.Tensor:
    if n == 1:
        return x
    B, H, T, D = x.shape
    return x[:, :, None].expand(B, H, n, T, D).reshape(B, H * n, T, D)


def _attend(q, k, v, scale: float, mask) -> torch.Tensor:
    if isinstance(mask, torch.Tensor):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    if mask is not None:
        from torch.nn.attention.flex_attention import flex_attention

        return flex_attention(q, k, v, block_mask=mask, scale=scale)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)


def _block(layer, x, cos, sin, block_mask, linear=F.linear) -> torch.Tensor:
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    a, mlp = layer.self_attn, layer.mlp
    B, T, _ = x.shape
    D = a.head_dim
    nq, nkv = a.q_proj.out_features // D, a.k_proj.out_features // D
    h = layer.input_layernorm(x)
    w = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])
    q, k, v = linear(h, w).split([nq * D, nkv * D, nkv * D], dim=-1)
    # RoPE in the projection's own (B, T, H, D) layout, then a transposed view for attention (SDPA
    # and flex read strided inputs): applied after the transpose, its backward kernel gathered
    # (B, H, T, D) gradients into the (B, T, 3C) q/k/v gradient, 7 ms of a 70 ms step at gpt2-124m.
    # The float32 tables promote q and k to float32; cast back to v's (the matmul's) dtype here,
    # inside the one fused kernel, where transformers' forward leaves it to SDPA's autocast: the
    # same values, but half the bytes written forward and read backward.
    q, k = apply_rotary_pos_emb(q.view(B, T, nq, D), k.view(B, T, nkv, D), cos, sin, unsqueeze_dim=2)
    v = v.view(B, T, nkv, D).transpose(1, 2)
    q, k = q.to(v.dtype).transpose(1, 2), k.to(v.dtype).transpose(1, 2)
    k, v = _repeat_kv(k, nq // nkv), _repeat_kv(v, nq // nkv)
    o = _attend(q, k, v, a.scaling, block_mask).transpose(1, 2).reshape(B, T, nq * D)
    x = x + linear(o, a.o_proj.weight)
    h = layer.post_attention_layernorm(x)
    g, u = linear(h, torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])).chunk(2, dim=-1)
    return x + linear(F.silu(g) * u, mlp.down_proj.weight)


def _compute_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return dtype


class _LinearCrossEntropy(torch.autograd.Function):
    """sum over tokens of cross_entropy(h @ w.T, targets), chunk by chunk of tokens; the
    gradients for h and w are computed in the forward, so the logits are never stored."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, w: torch.Tensor, targets: torch.Tensor, chunk: int, dt: torch.dtype):
        wc = w.to(dt)
        gh = torch.empty_like(h)
        gw = torch.zeros(w.shape, dtype=torch.float32, device=w.device)
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        for s in range(0, h.shape[0], chunk):
            hc, t = h[s:s + chunk].to(dt), targets[s:s + chunk]
            logits = (hc @ wc.t()).float()
            valid = t != IGNORE
            tt = torch.where(valid, t, 0)
            lse = torch.logsumexp(logits, dim=-1)
            picked = logits.gather(1, tt[:, None]).squeeze(1)
            total = total + torch.where(valid, lse - picked, 0.0).sum()
            g = torch.exp(logits - lse[:, None])
            g = g - F.one_hot(tt, g.shape[1]).to(g.dtype)
            g = (g * valid[:, None].to(g.dtype)).to(dt)
            gh[s:s + chunk] = (g @ wc).to(h.dtype)
            gw += (g.t() @ hc).float()
        ctx.save_for_backward(gh, gw)
        ctx.w_dtype = w.dtype
        return total

    @staticmethod
    def backward(ctx, grad):
        gh, gw = ctx.saved_tensors
        return gh * grad.to(gh.dtype), (gw * grad).to(ctx.w_dtype), None, None, None


def linear_cross_entropy(h: torch.Tensor, w: torch.Tensor, targets: torch.Tensor, chunk: int,
                         dt: torch.dtype) -> torch.Tensor:
    """Summed cross entropy of (h @ w.T) against `targets` (IGNORE skipped), `chunk` tokens at a
    time, in `dt` matmuls with float32 softmax; with gradients computed in the forward when they
    are needed (training), the loss alone otherwise (eval)."""
    if torch.is_grad_enabled() and (h.requires_grad or w.requires_grad):
        return _LinearCrossEntropy.apply(h, w, targets, chunk, dt)
    wc, total = w.to(dt), torch.zeros((), dtype=torch.float32, device=h.device)
    for s in range(0, h.shape[0], chunk):
        logits, t = (h[s:s + chunk].to(dt) @ wc.t()).float(), targets[s:s + chunk]
        valid = t != IGNORE
        picked = logits.gather(1, torch.where(valid, t, 0)[:, None]).squeeze(1)
        total = total + torch.where(valid, torch.logsumexp(logits, dim=-1) - picked, 0.0).sum()
    return total


def token_losses_full(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-token float32 cross entropy, (B, T); 0 where the target is IGNORE."""
    B, T, V = logits.shape
    return F.cross_entropy(logits.float().view(-1, V), targets.reshape(-1), ignore_index=IGNORE,
                           reduction="none").view(B, T)


class FusedCausalLMLoss(torch.nn.Module):
    """A Llama model + token losses, forward fused (see the module docstring). Same call as
    model.CausalLMLoss: (input_ids, targets, position_ids=None, per_row=False) -> summed loss."""

    def __init__(self, model: torch.nn.Module, *, attention: str = "auto", loss_chunk: int = 0,
                 compile: bool = False, compile_mode: str | None = None, fp8: bool = False):
        super().__init__()
        reason = unfusable_reason(model)
        if reason:
            raise ValueError(f"the fused training path cannot run this model: {reason}")
        if attention not in ATTENTION:
            raise ValueError(f"attention must be one of {', '.join(ATTENTION)}, not {attention!r}")
        self.model = model
        self.attention, self.loss_chunk = attention, int(loss_chunk or 0)
        self.linear = fp8_linear if fp8 else F.linear
        self._core = self._forward_core
        if compile:
            mode = None if compile_mode in (None, "", "default") else compile_mode
            self._core = torch.compile(self._forward_core, mode=mode)

    def _rotary(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None):
        """RoPE's cos and sin tables, computed outside the compiled core: traced inside it, inductor
        inlines the cos/sin of every (position, frequency) into each layer's q/k kernels, forward
        and backward (12 ms of a 73 ms step at gpt2-124m on an H200, the largest gap to nanoGPT)."""
        m = self.model.model
        if position_ids is None:
            pos = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        else:
            pos = position_ids
        dt = m.embed_tokens.weight.dtype  # the dtype of the embeddings the tables are applied beside
        with torch.no_grad():
            return m.rotary_emb(torch.empty(0, dtype=dt, device=input_ids.device), pos)

    def _forward_core(self, input_ids, targets, cos, sin, block_mask, per_row: bool):
        m = self.model.model
        x = m.embed_tokens(input_ids)
        for layer in m.layers:
            x = _block(layer, x, cos, sin, block_mask, self.linear)
        x = m.norm(x)
        w = self.model.lm_head.weight
        if self.loss_chunk and not per_row:
            h = x.reshape(-1, x.shape[-1])
            dt = _compute_dtype(x.device, w.dtype)
            return linear_cross_entropy(h, w, targets.reshape(-1), self.loss_chunk, dt)
        tl = token_losses_full(self.model.lm_head(x), targets)
        return tl.sum(-1) if per_row else tl.sum()

    def forward(self, input_ids: torch.Tensor, targets: torch.Tensor,
                position_ids: torch.Tensor | None = None, per_row: bool = False) -> torch.Tensor:
        # Packed rows (position_ids given: they restart per document): a per-document flex mask
        # on GPU, built here (eager, no host sync) and passed into the compiled core; on CPU a
        # dense boolean mask for SDPA. Rows without position_ids: plain causal attention, no mask.
        cuda = input_ids.is_cuda
        if position_ids is None and self.attention == "flex":
            position_ids = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
        block_mask = None
        if position_ids is not None:
            flex = cuda and self.attention in ("auto", "flex")
            block_mask = doc_block_mask(position_ids) if flex else doc_dense_mask(position_ids)
        ctx = contextlib.nullcontext()
        attention = self.attention
        if attention == "auto" and cuda and block_mask is None:
            m = self.model.model
            a = m.layers[0].self_attn
            dt = _compute_dtype(input_ids.device, torch.float32)
            shape = (input_ids.shape[0], a.q_proj.out_features // a.head_dim, input_ids.shape[1], a.head_dim)
            attention = pick_sdpa_backend(shape, dt, input_ids.device)
            if attention != getattr(self, "picked", None):
                self.picked = attention
                print(f"attention: auto -> {attention} SDPA (timed at B, H, T, D = {shape})", flush=True)
        backends = _backends(attention) if cuda else None
        if backends and (block_mask is None or isinstance(block_mask, torch.Tensor)):
            from torch.nn.attention import sdpa_kernel

            ctx = sdpa_kernel(backends, set_priority=True)
        cos, sin = self._rotary(input_ids, position_ids)
        with ctx:
            return self._core(input_ids, targets, cos, sin, block_mask, per_row)
