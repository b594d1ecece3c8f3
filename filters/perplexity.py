"""``perplexity``: score every document with a causal LM; keep by threshold or by CCNet buckets.

Each document gets ``ppl`` (``exp`` of its mean token negative log-likelihood, in nats) and ``bpb``
(bits per UTF-8 byte: ``-sum(log p) / ln 2 / bytes``, exactly as :func:`curate.eval.score_bpb`
defines it). A document longer than the model's context is scored in lm-eval's rolling windows
(:mod:`curate.eval.windows`), so every token counts and nothing is truncated; the first token is
conditioned on ``prefix_token_id`` (EOS by default, as curate packs training rows). Empty texts
have no tokens: their ``ppl``/``bpb`` are null and they are kept (a missing signal is not a drop).

The scorer is any local causal LM folder: a ``curate train`` run directory or a Hugging Face model
folder with its tokenizer (``tokenizer:`` when the tokenizer lives elsewhere). The folder is
checked at validation, before any work: missing, not a causal LM, no tokenizer, or a tokenizer
with more ids than the model's vocabulary are errors naming the path.

Why a global stage (one, for both modes): CCNet's head/middle/tail cut-offs are percentiles over
the whole corpus, so they exist only after every document is scored. The stage scores each batch
once, in ``collect`` (phase before the barrier), and writes ``(id, ppl, bpb, group)`` per task to
``work_dir/scores/<task>.parquet``; the reduce step ``cutoffs`` reads them all and writes the
percentile cut-offs (per ``group_by`` value, e.g. per language as CCNet does) to
``cutoffs.json``; ``process`` (after the barrier) reads its own task's scores back in row order
(the engine hands it exactly the rows ``collect`` saw, in order; the ids are checked) and applies
thresholds and buckets, so the model runs once per document. Threshold-only use pays the barrier
(one extra Parquet round trip of the rows), which is small beside the forward passes.

Buckets: ``head`` if score < the first cut-off, ``tail`` if score >= the second, else ``middle``
(``bucket_by``: ``ppl`` as CCNet, or ``bpb``); the bucket is written to ``bucket_column`` and
``drop_buckets`` drops whole buckets (reason ``ppl_<bucket>``). Thresholds drop as ``ppl_too_high``
/ ``bpb_too_high`` (checked first).

Batching and devices: all windows of a batch of documents are sorted by length (longest first)
and cut into forward batches of at most ``batch_tokens`` (rows x padded length), so padding is
small and long and short documents never share a batch. Smaller batches are faster on CPU (the
logits of a batch stay in cache: ``batch_tokens: 1024`` measured best on 2 cores with the tiny
preset), larger on a GPU. ``device: auto`` uses CUDA when present
(bf16 autocast, float32 log-softmax, as curate.eval), else the CPU with ``threads`` torch threads.

Sharing a GPU with pool workers: the model is loaded once per worker *process* (cached across the
tasks it runs), so ``--workers N`` on one GPU would hold N copies and fight for it. Use one worker
per GPU. On CUDA a worker takes an exclusive lock on ``OUT/_work/perplexity-cuda<i>.lock``
for its device: with ``device: auto`` each worker process takes the first GPU no other holds, so
``--workers N`` on an N-GPU box scores on all N; more workers than GPUs, or an explicit
``cuda:i`` someone holds, fails with a message saying so, unless ``share_gpu: true``.
"""

from __future__ import annotations

import fcntl
import functools
import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curate.engine.registry import register
from curate.engine.stage import REASON, StageConfig, StageResult
from curate.filters.scored import ScoredStage

BUCKETS = ("head", "middle", "tail")
NULL_GROUP = "<null>"
# Measured (bench/perplexity.py, tiny preset, 2 cores): 512-1024 tokens a batch beat 8192 by 1.3x on
# CPU, where a batch's logits must stay in cache; a GPU wants large batches.
CPU_BATCH_TOKENS = 1024
CUDA_BATCH_TOKENS = 16384
LN2 = math.log(2.0)


# -- checks at validation --------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def check_scorer(model: str, tokenizer: str | None, stamp: tuple) -> None:
    """Raise ValueError naming the path when ``model`` is not a usable causal LM folder.

    Cached on the folders' mtimes (``stamp``), so validating a spec twice loads nothing twice.
    """
    folder = Path(model)
    if not folder.is_dir():
        raise ValueError(
            f"{folder}: no such folder (expected a curate train run directory or a local HF causal LM; "
            "train one on clean text with `curate train pretrain --data SHARDS --tokenizer TOK -o DIR`, "
            "README 'Web plus')"
        )
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder}: no config.json; not a finished run directory or a HF model folder")
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        cfg = AutoConfig.from_pretrained(str(folder))
    except Exception as e:  # noqa: BLE001  (any reason it cannot be read is the user's to see)
        raise ValueError(f"{folder}/config.json: cannot be read as a model config: {e}") from None
    archs = getattr(cfg, "architectures", None) or []
    if not (
        any(a.endswith("ForCausalLM") or a.endswith("LMHeadModel") for a in archs)
        or (not archs and cfg.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    ):
        raise ValueError(
            f"{folder}: not a causal LM (architectures: {archs or None}, model_type: {cfg.model_type})"
        )
    tok_dir = Path(tokenizer) if tokenizer else folder
    if not any(
        (tok_dir / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
    ):
        raise ValueError(
            f"{tok_dir}: no tokenizer (tokenizer.json / tokenizer_config.json); "
            "give tokenizer: a local tokenizer folder"
        )
    from curate.train.model import load_tokenizer

    try:
        tok = load_tokenizer(tok_dir)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{tok_dir}: the tokenizer cannot be loaded: {e}") from None
    vocab = getattr(cfg, "vocab_size", None)
    if vocab and len(tok) > vocab:
        raise ValueError(
            f"{tok_dir}: the tokenizer has {len(tok)} ids but the model {folder} has a vocabulary "
            f"of {vocab}: they do not belong together"
        )


def _stamp(*paths: str | None) -> tuple:
    out = []
    for p in paths:
        if p:
            d = Path(p)
            out.append(
                tuple(sorted((f.name, f.stat().st_mtime_ns) for f in d.iterdir())) if d.is_dir() else None
            )
    return tuple(out)


# -- scoring ---------------------------------------------------------------------------------------


def encode_texts(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Token ids per text, no special tokens (one batched call for a ``transformers`` tokenizer)."""
    if not texts:
        return []
    if callable(tokenizer) and hasattr(tokenizer, "convert_ids_to_tokens"):
        return tokenizer(texts, add_special_tokens=False)["input_ids"]
    from curate.eval import encode

    return [encode(tokenizer, t) for t in texts]


def score_texts(
    model: Any,
    tokenizer: Any,
    texts: list[str | None],
    *,
    batch_tokens: int = CPU_BATCH_TOKENS,
    max_length: int | None = None,
    context_len: int = 1,
    prefix_token_id: int | str = "eos",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nats, tokens, bytes) per text: summed negative log-likelihood over lm-eval rolling windows.

    The windows, the prefix token, the context length and the left truncation are curate.eval's
    (``rolling_requests``, ``resolve_prefix_token``, ``model_max_length``, and the model reads
    ``(context + continuation)[-(L+1):][:-1]`` as ``loglikelihood_tokens`` does), so the bits per
    byte equal ``score_bpb``'s (a test holds them equal). Windows of all texts are sorted longest
    first and cut into forward batches of at most ``batch_tokens`` padded tokens (at least one
    window each). The forward is :func:`_window_nats`, not ``loglikelihood_tokens``: that one
    also takes an argmax (the greedy flag tasks need) and a separate log-softmax over the whole
    batch, which measured as much CPU time as the model itself (bench/perplexity.py).
    """
    from curate.eval import resolve_prefix_token
    from curate.eval.scorer import model_max_length
    from curate.eval.windows import rolling_requests

    L = max_length or model_max_length(model)
    prefix = resolve_prefix_token(tokenizer, prefix_token_id)
    clean = [t or "" for t in texts]
    n_bytes = np.array([len(t.encode("utf-8")) for t in clean], dtype=np.int64)
    nats = np.zeros(len(clean), dtype=np.float64)
    n_tok = np.zeros(len(clean), dtype=np.int64)
    inputs: list[tuple[list[int], list[int]]] = []
    owner: list[int] = []
    for i, ids in enumerate(encode_texts(tokenizer, clean)):
        for ctx, cont in rolling_requests(list(ids), prefix, L, context_len):
            inputs.append(((ctx + cont)[-(L + 1) :][:-1], cont))
            owner.append(i)
    order = sorted(range(len(inputs)), key=lambda j: (-len(inputs[j][0]), j))
    start = 0
    while start < len(order):
        rows = max(1, batch_tokens // max(len(inputs[order[start]][0]), 1))
        chunk = order[start : start + rows]
        for j, v in zip(chunk, _window_nats(model, [inputs[j] for j in chunk]), strict=True):
            nats[owner[j]] += v
            n_tok[owner[j]] += len(inputs[j][1])
        start += len(chunk)
    return nats, n_tok, n_bytes


def _window_nats(model: Any, batch: list[tuple[list[int], list[int]]]) -> list[float]:
    """Summed NLL (nats) of each window's continuation: its last ``len(cont)`` input positions.

    Right-padded (causal attention never looks right); one fused cross-entropy over the batch in
    float32 (logits are cast first; on CUDA the forward runs under bf16 autocast, as curate.eval).
    """
    import torch

    from curate.eval.scorer import autocast, model_device, model_logits

    device = model_device(model)
    T = max(len(inp) for inp, _ in batch)
    ids = torch.zeros((len(batch), T), dtype=torch.long)
    target = torch.full((len(batch), T), -100, dtype=torch.long)
    for r, (inp, cont) in enumerate(batch):
        ids[r, : len(inp)] = torch.tensor(inp, dtype=torch.long)
        target[r, len(inp) - len(cont) : len(inp)] = torch.tensor(cont, dtype=torch.long)
    with torch.no_grad():
        with autocast(device):
            logits = model_logits(model, ids.to(device))
        loss = torch.nn.functional.cross_entropy(
            logits.float().flatten(0, 1), target.to(device).flatten(), ignore_index=-100, reduction="none"
        )
    return loss.view(len(batch), T).double().sum(dim=1).tolist()


def ppl_bpb(nats: np.ndarray, n_tok: np.ndarray, n_bytes: np.ndarray) -> tuple[list, list]:
    """Per-token perplexity and bits per byte; None where a text has no tokens."""
    ppl = [float(math.exp(a / t)) if t else None for a, t in zip(nats, n_tok, strict=True)]
    bpb = [float(a / LN2 / b) if t and b else None for a, t, b in zip(nats, n_tok, n_bytes, strict=True)]
    return ppl, bpb


# One model per worker process, shared by every task (and stage instance) that process runs.
_MODELS: dict[tuple[str, str | None, str], tuple[Any, Any]] = {}
_GPU_LOCKS: dict[str, int] = {}


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_scorer(model: str, tokenizer: str | None, device: str) -> tuple[Any, Any]:
    """(model, tokenizer), loaded once per process (float32 weights; bf16 autocast on CUDA)."""
    key = (str(Path(model).resolve()), tokenizer, device)
    if key not in _MODELS:
        from curate.eval.run import load_run
        from curate.train.model import load_tokenizer

        m, tok = load_run(model, device)
        if tokenizer:
            tok = load_tokenizer(tokenizer)
        _MODELS[key] = (m, tok)
    return _MODELS[key]


def _try_lock(run_dir: Path, index: int) -> bool:
    """Take ``OUT/_work/perplexity-cuda<index>.lock`` for this process's life; False if another holds it."""
    name = f"perplexity-cuda{index}.lock"
    if name in _GPU_LOCKS:
        return True
    path = Path(run_dir) / "_work" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _GPU_LOCKS[name] = fd  # never closed: the lock goes with the process
    return True


def _free_gpu(run_dir: Path, count: int) -> int | None:
    """The GPU this process holds, else the first of ``count`` whose lock it can take, else None."""
    held = [int(n[len("perplexity-cuda") : -len(".lock")]) for n in _GPU_LOCKS]
    if held:
        return held[0]
    return next((i for i in range(count) if _try_lock(run_dir, i)), None)


def claim_device(run_dir: Path, device: str, share_gpu: bool) -> str:
    """The device this worker process scores on; on CUDA, one scorer process a GPU.

    ``auto`` on a box with N GPUs gives each worker process the first GPU no other worker holds
    (so ``--workers N`` spreads over N GPUs); an explicit ``cuda``/``cuda:i`` must be free.
    ``share_gpu`` skips the locks (and with ``auto``, uses the current GPU).
    """
    import torch

    dev = _device(device)
    if not dev.startswith("cuda") or share_gpu:
        return dev
    lock_dir = Path(run_dir) / "_work"
    if device == "auto":
        count = torch.cuda.device_count()
        index = _free_gpu(run_dir, count)
        if index is None:
            raise RuntimeError(
                f"perplexity: all {count} GPU(s) already have a scorer process (locks in {lock_dir}): "
                f"run with --workers {count} or fewer, or set share_gpu: true to load several copies a GPU"
            )
        return f"cuda:{index}"
    index = torch.device(dev).index
    index = torch.cuda.current_device() if index is None else index
    if not _try_lock(run_dir, index):
        raise RuntimeError(
            f"perplexity: another worker process already scores on cuda:{index} "
            f"({lock_dir}/perplexity-cuda{index}.lock is locked): each worker would hold its own copy "
            "of the model on one GPU. Use device: auto (one GPU each), --workers 1 per GPU, or "
            "share_gpu: true to allow it"
        )
    return dev


# -- the stage -------------------------------------------------------------------------------------


@register("perplexity")
class Perplexity(ScoredStage):
    """Score documents with a causal LM (``ppl``, ``bpb``); keep by threshold or CCNet percentile buckets."""

    class Config(StageConfig):
        model: str = Field(..., description="A curate train run directory or a local HF causal LM folder.")
        tokenizer: str | None = Field(None, description="Tokenizer folder; default: the model folder.")
        text_column: str = Field("text", description="The column scored.")
        max_ppl: float | None = Field(
            None, gt=0, description="Drop documents with ppl above this (ppl_too_high)."
        )
        max_bpb: float | None = Field(
            None, gt=0, description="Drop documents with bpb above this (bpb_too_high)."
        )
        buckets: bool = Field(
            False, description="CCNet mode: head/middle/tail by corpus percentiles of bucket_by."
        )
        bucket_by: Literal["ppl", "bpb"] = Field("ppl", description="The score the buckets cut.")
        percentiles: tuple[float, float] = Field(
            (33.3, 66.7),
            description="The head/middle and middle/tail cut-offs, as corpus percentiles (0-100).",
        )
        group_by: str | None = Field(
            None,
            description="Cut-offs per value of this column (CCNet: per language, `lang`); default: one set.",
        )
        drop_buckets: list[Literal["head", "middle", "tail"]] = Field(
            default_factory=list, description="Buckets to drop (reason ppl_<bucket>); e.g. [tail]."
        )
        bucket_column: str = Field("ppl_bucket", description="The column the bucket is written to.")
        batch_tokens: int | None = Field(
            None,
            ge=1,
            description="Most padded tokens in one forward batch; default 1024 on CPU, 16384 on CUDA.",
        )
        max_length: int | None = Field(None, ge=2, description="Window length; default: the model's context.")
        context_len: int = Field(1, ge=1, description="Windows' overlap (1: disjoint windows, as lm-eval).")
        prefix_token_id: int | Literal["eos", "bos", "auto"] = Field(
            "eos", description="What conditions a document's first token (curate packs rows with EOS)."
        )
        device: str = Field(
            "auto",
            description="auto (a GPU no other worker process holds, else the CPU), cpu, cuda or cuda:N.",
        )
        threads: int | None = Field(None, ge=1, description="Torch CPU threads per worker; default: torch's.")
        share_gpu: bool = Field(
            False, description="Allow several worker processes to load the model on one GPU."
        )

        @field_validator("percentiles")
        @classmethod
        def _ordered(cls, v):
            if not 0 < v[0] < v[1] < 100:
                raise ValueError(f"must be two percentiles with 0 < first < second < 100, got {list(v)}")
            return v

        @model_validator(mode="after")
        def _check(self):
            if self.drop_buckets and not self.buckets:
                raise ValueError("drop_buckets needs buckets: true")
            if self.max_length is not None and self.context_len > self.max_length:
                raise ValueError(
                    f"context_len {self.context_len} is larger than max_length {self.max_length}"
                )
            check_scorer(self.model, self.tokenizer, _stamp(self.model, self.tokenizer))
            return self

    # -- helpers --------------------------------------------------------------------------------------

    def _groups(self, df: pl.DataFrame) -> list[str]:
        by = self.config.group_by
        if by is None:
            return [NULL_GROUP] * df.height
        if by not in df.columns:
            raise ValueError(f"perplexity: group_by: {by!r} is not a column (columns: {df.columns})")
        return df[by].cast(pl.Utf8).fill_null(NULL_GROUP).to_list()

    def _scorer(self) -> tuple[Any, Any]:
        import torch

        c = self.config
        dev = claim_device(self.ctx.run_dir, c.device, c.share_gpu)
        if not dev.startswith("cuda") and c.threads:
            torch.set_num_threads(c.threads)
        return load_scorer(c.model, c.tokenizer, dev)

    def score(self, df: pl.DataFrame) -> tuple[list, list]:
        """(ppl, bpb) per row of ``df`` (see the module docstring)."""
        c = self.config
        if c.text_column not in df.columns:
            raise ValueError(
                f"perplexity: text_column {c.text_column!r} is not a column (columns: {df.columns})"
            )
        model, tok = self._scorer()
        cuda = next(model.parameters()).device.type == "cuda"
        nats, n_tok, n_bytes = score_texts(
            model,
            tok,
            df[c.text_column].to_list(),
            batch_tokens=c.batch_tokens or (CUDA_BATCH_TOKENS if cuda else CPU_BATCH_TOKENS),
            max_length=c.max_length,
            context_len=c.context_len,
            prefix_token_id=c.prefix_token_id,
        )
        return ppl_bpb(nats, n_tok, n_bytes)

    # -- phase 1: collect (the scoring); phase 2 and the file handling are ScoredStage's ---------------

    SCORE_SCHEMA = pa.schema(
        [("id", pa.string()), ("ppl", pa.float64()), ("bpb", pa.float64()), ("group", pa.string())]
    )

    def score_table(self, df: pl.DataFrame) -> pa.Table:
        ppl, bpb = self.score(df)
        ids = df["id"].cast(pl.Utf8).to_list() if "id" in df.columns else [None] * df.height
        return pa.table(
            {
                "id": pa.array(ids, type=pa.string()),
                "ppl": pa.array(ppl, type=pa.float64()),
                "bpb": pa.array(bpb, type=pa.float64()),
                "group": pa.array(self._groups(df), type=pa.string()),
            }
        )

    def build_cutoffs(self) -> dict[str, Any]:
        """Percentile cut-offs of ``bucket_by`` per group over every scored document -> cutoffs.json."""
        c = self.config
        frame = self.all_scores()
        groups: dict[str, Any] = {}
        for (g,), part in sorted(frame.partition_by("group", as_dict=True).items()):
            v = part[c.bucket_by].drop_nulls().to_numpy()
            cut = [float(x) for x in np.percentile(v, list(c.percentiles))] if v.size else None
            groups[g] = {
                "docs": part.height,
                "scored": int(v.size),
                "cutoffs": cut,
                "mean_ppl": _mean(part["ppl"]),
                "mean_bpb": _mean(part["bpb"]),
            }
        self.write_cutoffs(
            {
                "bucket_by": c.bucket_by,
                "percentiles": list(c.percentiles),
                "buckets": c.buckets,
                "group_by": c.group_by,
                "groups": groups,
            }
        )
        return {"ppl_docs_scored": int(frame["ppl"].is_not_null().sum()), "ppl_groups": len(groups)}

    # -- phase 3: apply -------------------------------------------------------------------------------

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        part = self.task_scores(df)
        out = df.with_columns(part["ppl"].alias("ppl"), part["bpb"].alias("bpb"))
        reason = pl.lit(None, dtype=pl.Utf8)
        if c.buckets:
            cuts = {g: v["cutoffs"] for g, v in self.cutoffs()["groups"].items()}
            lo = pl.col("group").replace_strict({g: v[0] for g, v in cuts.items() if v}, default=None,
                                                return_dtype=pl.Float64)
            hi = pl.col("group").replace_strict({g: v[1] for g, v in cuts.items() if v}, default=None,
                                                return_dtype=pl.Float64)
            x = pl.col(c.bucket_by)
            bucket = (
                pl.when(lo.is_null() | x.is_null() | x.is_nan()).then(pl.lit(None, dtype=pl.Utf8))
                .when(x < lo).then(pl.lit("head"))
                .when(x >= hi).then(pl.lit("tail"))
                .otherwise(pl.lit("middle"))
            )
            out = out.with_columns(part.select(bucket.alias(c.bucket_column)).to_series())
            for b in reversed(BUCKETS):
                if b in c.drop_buckets:
                    reason = pl.when(pl.col(c.bucket_column) == b).then(pl.lit(f"ppl_{b}")).otherwise(reason)
        if c.max_bpb is not None:
            reason = pl.when(pl.col("bpb") > c.max_bpb).then(pl.lit("bpb_too_high")).otherwise(reason)
        if c.max_ppl is not None:
            reason = pl.when(pl.col("ppl") > c.max_ppl).then(pl.lit("ppl_too_high")).otherwise(reason)
        out = out.with_columns(reason.alias(REASON))
        mask = out[REASON].is_not_null()
        return StageResult(kept=out.filter(~mask).drop(REASON), dropped=out.filter(mask))


def _mean(s: pl.Series) -> float | None:
    m = s.drop_nulls().mean()
    return None if m is None else float(m)  # type: ignore[arg-type]
