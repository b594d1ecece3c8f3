"""Issue 18: nanoGPT's model and curate's (fused or plain) in the same training loop at gpt2-124m,
B=32, T=1024 on one GPU, so the difference is the model graph alone; with `prof`, a
torch.profiler table of the top CUDA kernels for each.

    python3 bench/profile_step.py nanogpt,fused:cudnn,fused:flash,plain [prof]

A fused arm takes options after its attention backend: `fused:cudnn:chunk=8192` (the chunked
linear + cross entropy), `fused:cudnn:mode=max-autotune-no-cudagraphs` (a torch.compile mode).

nanoGPT's model.py is read from $CURATE_NANOGPT (default out/bench/nanogpt, an ignored copy of
../shared/anchors/nanogpt/).
"""

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
NANOGPT = os.environ.get("CURATE_NANOGPT", str(REPO / "out/bench/nanogpt"))
sys.path[:0] = [NANOGPT, str(REPO)]
sys.path.append(str(REPO / "bench"))  # behind the standard library: bench/tokenize.py would shadow it
import torch  # noqa: E402
from _bench_common import import_curate_train  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

import_curate_train()
from model import GPT, GPTConfig  # noqa: E402  (nanoGPT's)
from transformers import AutoModelForCausalLM  # noqa: E402

from curate.train.fused import FusedCausalLMLoss  # noqa: E402
from curate.train.model import CausalLMLoss, compile_losses  # noqa: E402
from curate.train.presets import preset_config  # noqa: E402

B, T, V = 32, 1024, 50304


def make(arm: str, X: torch.Tensor, Y: torch.Tensor):
    """(the parameters' owner, a function returning the mean loss of the batch) for one arm."""
    if arm == "nanogpt":
        cfg = GPTConfig(block_size=T, vocab_size=V, n_layer=12, n_head=12, n_embd=768, dropout=0, bias=False)
        m = GPT(cfg).cuda()
        c = torch.compile(m)
        return m, lambda: c(X, Y)[1]
    hf = AutoModelForCausalLM.from_config(preset_config("gpt2-124m", V), attn_implementation="sdpa",
                                         dtype=torch.float32).cuda()
    if arm.startswith("fused"):
        parts = arm.split(":")
        opts = dict(o.split("=", 1) for o in parts[2:])
        mod = FusedCausalLMLoss(hf, attention=parts[1] if len(parts) > 1 else "flash", compile=True,
                                loss_chunk=int(opts.get("chunk", 0)), compile_mode=opts.get("mode"))
    else:
        compile_losses(True)
        mod = torch.compile(CausalLMLoss(hf))
    return hf, lambda: mod(X, Y) / (B * T)


def run(arm: str, prof_on: bool) -> None:
    """12 warm-up steps, 20 timed (no sync between them), then 3 under the profiler."""
    torch.manual_seed(0)
    x = torch.randint(0, V, (B, T + 1), device="cuda")
    X, Y = x[:, :-1].contiguous(), x[:, 1:].contiguous()
    m, fwd = make(arm, X, Y)
    opt = torch.optim.AdamW(m.parameters(), lr=6e-4, fused=True)

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = fwd()
        loss = loss[0] if isinstance(loss, tuple) else loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(12):
        step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(20):
        step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / 20
    n = sum(p.numel() for p in m.parameters()) / 1e6
    print(f"{arm}: {dt * 1e3:.1f} ms/step {B * T / dt:,.0f} tok/s params {n:.2f}M", flush=True)
    if prof_on:
        with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as p:
            for _ in range(3):
                step()
            torch.cuda.synchronize()
        print(p.key_averages().table(sort_by="self_cuda_time_total", row_limit=22, max_name_column_width=70))


if __name__ == "__main__":
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    for a in sys.argv[1].split(","):
        run(a, len(sys.argv) > 2)
        torch.cuda.empty_cache()
