"""``reward``: score SFT and preference rows with a reward model; keep by threshold or top fraction.

The reward model is a folder that ``AutoModelForSequenceClassification`` loads with one label and
a ``pad_token_id`` (what ``curate train rm`` writes), with its tokenizer and chat template. Each
conversation is rendered with that template (``apply_chat_template``, as the SFT format stage
rendered the rows the model was trained on) and scored at its last token:

* an SFT row (``messages``): ``reward`` is the score of the conversation through its last assistant
  turn (``turns: last``), or the lowest / mean score over every assistant turn, each scored with the
  conversation up to and including it (``turns: min`` / ``mean``: one weak reply in a long
  conversation shows);
* a preference row (``chosen_messages`` / ``rejected_messages`` set): ``reward`` is the chosen
  side's score, ``reward_rejected`` the rejected side's, ``reward_margin`` their difference; with
  ``drop_contradicting`` a pair whose margin is not above ``min_margin`` (the model prefers the
  rejected answer) is dropped as ``reward_contradicts_label``.

``min_reward`` drops rows below it (``reward_too_low``); ``top_fraction`` keeps the best-scored
fraction of the whole corpus (``reward_not_top``). A conversation longer than the reward model's
context cannot be scored without cutting it: it is dropped as ``reward_too_long`` (never
truncated silently). With ``ppl_model`` (a causal LM folder, as the ``perplexity`` stage takes)
the assistant text is also scored with :func:`curate.filters.perplexity.score_texts`
(``response_ppl``, ``response_bpb``; the responses alone, not conditioned on the prompt), and
``max_response_ppl`` drops rows above it (``response_ppl_too_high``).

Why a global stage: the top-fraction cut-off is a percentile of the rewards of every row, known
only once all are scored. As the ``perplexity`` stage does, ``collect`` scores each batch once and
writes the scores per task to ``work_dir/scores/<task>.parquet``, the reduce step ``cutoffs``
reads them all and writes ``cutoffs.json``, and ``process`` reads its task's scores back in row
order (ids checked) and applies the rules. Devices and processes: as ``perplexity`` (one model per
worker process, cached across its tasks; on CUDA one process per GPU, enforced with the same
``OUT/_work/perplexity-cuda<i>.lock``, so the two stages in one pipeline share a GPU's process;
``share_gpu: true`` lifts it).

Validation, before any work: a folder that is missing, is not a one-label sequence classifier,
has no ``pad_token_id``, has no tokenizer or no chat template, or whose tokenizer does not match
(more ids than the model's vocabulary, another pad id) is an error naming the path and the reason.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import Field, model_validator

from curate.engine.registry import register
from curate.engine.stage import REASON, StageConfig, StageResult
from curate.filters.perplexity import (
    CPU_BATCH_TOKENS,
    CUDA_BATCH_TOKENS,
    _stamp,
    check_scorer,
    claim_device,
    load_scorer,
    ppl_bpb,
    score_texts,
)
from curate.filters.scored import ScoredStage

SCORE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("reward", pa.float64()),
        ("reward_rejected", pa.float64()),
        ("reward_margin", pa.float64()),
        ("too_long", pa.bool_()),
        ("response_ppl", pa.float64()),
        ("response_bpb", pa.float64()),
    ]
)


# -- checks at validation --------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def check_reward_model(model: str, stamp: tuple) -> None:
    """Raise ValueError naming the path when ``model`` is not a usable reward model folder."""
    folder = Path(model)
    if not folder.is_dir():
        raise ValueError(
            f"{folder}: no such folder (expected a reward model folder, as curate train rm writes)"
        )
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder}: no config.json; not a finished curate train rm run or a HF model folder")
    from transformers import AutoConfig

    try:
        cfg = AutoConfig.from_pretrained(str(folder))
    except Exception as e:  # noqa: BLE001  (any reason it cannot be read is the user's to see)
        raise ValueError(f"{folder}/config.json: cannot be read as a model config: {e}") from None
    archs = getattr(cfg, "architectures", None) or []
    if not any(a.endswith("ForSequenceClassification") for a in archs):
        raise ValueError(
            f"{folder}: not a sequence classifier (architectures: {archs or None}); a reward model "
            "folder is what curate train rm writes (e.g. LlamaForSequenceClassification)"
        )
    if cfg.num_labels != 1:
        raise ValueError(f"{folder}: the classifier has {cfg.num_labels} labels; a reward model has one")
    if getattr(cfg, "pad_token_id", None) is None:
        raise ValueError(
            f"{folder}: config.json has no pad_token_id, so the score cannot be read at the last real "
            "token of a padded batch"
        )
    if not any(
        (folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
    ):
        raise ValueError(f"{folder}: no tokenizer (tokenizer.json / tokenizer_config.json) beside the model")
    from curate.train.model import load_tokenizer

    try:
        tok = load_tokenizer(folder)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{folder}: the tokenizer cannot be loaded: {e}") from None
    vocab = getattr(cfg, "vocab_size", None)
    if vocab and len(tok) > vocab:
        raise ValueError(
            f"{folder}: the tokenizer has {len(tok)} ids but the model's vocabulary is {vocab}: "
            "they do not belong together"
        )
    if tok.pad_token_id != cfg.pad_token_id:
        raise ValueError(
            f"{folder}: the tokenizer's pad id {tok.pad_token_id} is not the model's pad_token_id "
            f"{cfg.pad_token_id}: the tokenizer does not match the model (rewards would be read at "
            "the wrong token)"
        )
    if not getattr(tok, "chat_template", None):
        raise ValueError(f"{folder}: the tokenizer has no chat template, so conversations cannot be rendered")


# -- scoring ---------------------------------------------------------------------------------------

_MODELS: dict[tuple[str, str], tuple[Any, Any]] = {}


def load_reward_model(folder: str, device: str) -> tuple[Any, Any]:
    """(model, tokenizer), loaded once per process (float32 weights; bf16 autocast on CUDA)."""
    key = (str(Path(folder).resolve()), device)
    if key not in _MODELS:
        import torch
        from transformers import AutoModelForSequenceClassification

        from curate.train.model import load_tokenizer

        model = AutoModelForSequenceClassification.from_pretrained(
            folder, dtype=torch.float32, attn_implementation="sdpa"
        )
        _MODELS[key] = (model.to(device).eval(), load_tokenizer(folder))
    return _MODELS[key]


def context_length(model: Any) -> int:
    """The most tokens the model reads in one row (its position table)."""
    return int(getattr(model.config, "max_position_embeddings", None) or 2048)


def score_conversations(
    model: Any,
    tokenizer: Any,
    conversations: list[list[dict]],
    *,
    batch_tokens: int = CPU_BATCH_TOKENS,
    max_length: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(reward, too long) per conversation, rendered with the tokenizer's chat template; the reward
    is NaN for a conversation longer than ``max_length`` (default: the model's context; too long
    is True) or with no tokens.

    Rows are sorted longest first and cut into forward batches of at most ``batch_tokens`` padded
    tokens, right-padded with the pad token: the model reads the last token that is not pad, and a
    real token never attends to the padding after it.
    """
    import torch

    from curate.eval.scorer import autocast, model_device

    L = max_length or context_length(model)
    out = np.full(len(conversations), np.nan, dtype=np.float64)
    if not conversations:
        return out, np.zeros(0, dtype=bool)
    texts = [tokenizer.apply_chat_template(c, tokenize=False) if c else "" for c in conversations]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    too_long = np.array([len(x) > L for x in ids], dtype=bool)
    order = sorted((i for i in range(len(ids)) if 0 < len(ids[i]) <= L), key=lambda i: (-len(ids[i]), i))
    device, pad = model_device(model), tokenizer.pad_token_id
    start = 0
    while start < len(order):
        rows = max(1, batch_tokens // len(ids[order[start]]))
        chunk = order[start : start + rows]
        T = len(ids[chunk[0]])
        x = torch.full((len(chunk), T), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), T), dtype=torch.long)
        for r, i in enumerate(chunk):
            x[r, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
            mask[r, : len(ids[i])] = 1
        with torch.no_grad(), autocast(device):
            logits = model(input_ids=x.to(device), attention_mask=mask.to(device)).logits
        out[chunk] = logits[:, 0].float().cpu().numpy()
        start += len(chunk)
    return out, too_long


def assistant_prefixes(messages: list[dict]) -> list[list[dict]]:
    """The conversation up to and including each assistant turn."""
    return [messages[: i + 1] for i, m in enumerate(messages) if m["role"] == "assistant"]


def _clean(messages: list[dict] | None) -> list[dict]:
    return [{"role": m["role"], "content": m["content"] or ""} for m in messages or []]


# -- the stage -------------------------------------------------------------------------------------


@register("reward")
class Reward(ScoredStage):
    """Score SFT / preference rows with a reward model (``reward``); keep by threshold or top fraction."""

    class Config(StageConfig):
        model: str = Field(
            ..., description="A reward model folder (curate train rm; a one-label HF classifier)."
        )
        messages_column: str = Field("messages", description="The conversation column of SFT rows.")
        turns: Literal["last", "min", "mean"] = Field(
            "last",
            description="SFT rows: score the whole conversation (last), or each assistant turn with what "
            "precedes it and take the lowest (min) or the mean.",
        )
        min_reward: float | None = Field(
            None, description="Drop rows whose reward is below this (reward_too_low)."
        )
        top_fraction: float | None = Field(
            None,
            gt=0,
            lt=1,
            description="Keep this fraction of the corpus with the highest rewards (reward_not_top).",
        )
        drop_contradicting: bool = Field(
            False,
            description="Preference rows: drop pairs whose margin is not above min_margin "
            "(reward_contradicts_label).",
        )
        min_margin: float = Field(
            0.0, description="The smallest chosen - rejected margin that agrees with the label."
        )
        ppl_model: str | None = Field(
            None,
            description="A causal LM folder: also score the assistant text (response_ppl, response_bpb).",
        )
        ppl_tokenizer: str | None = Field(
            None, description="Tokenizer folder for ppl_model; default: its own."
        )
        max_response_ppl: float | None = Field(
            None, gt=0, description="Drop rows whose response_ppl is above this (response_ppl_too_high)."
        )
        batch_tokens: int | None = Field(
            None,
            ge=1,
            description="Most padded tokens in one forward batch; default 1024 on CPU, 16384 on CUDA.",
        )
        max_length: int | None = Field(
            None, ge=2, description="Longest conversation scored (tokens); default: the model's context."
        )
        device: str = Field(
            "auto",
            description="auto (a GPU no other worker process holds, else the CPU), cpu, cuda or cuda:N.",
        )
        threads: int | None = Field(None, ge=1, description="Torch CPU threads per worker; default: torch's.")
        share_gpu: bool = Field(
            False, description="Allow several worker processes to load the model on one GPU."
        )

        @model_validator(mode="after")
        def _check(self):
            if self.max_response_ppl is not None and not self.ppl_model:
                raise ValueError("max_response_ppl needs ppl_model: a causal LM folder")
            check_reward_model(self.model, _stamp(self.model))
            if self.ppl_model:
                check_scorer(self.ppl_model, self.ppl_tokenizer, _stamp(self.ppl_model, self.ppl_tokenizer))
            return self

    # -- scoring ------------------------------------------------------------------------------------

    def _dev(self) -> str:
        import torch

        c = self.config
        dev = claim_device(self.ctx.run_dir, c.device, c.share_gpu)
        if not dev.startswith("cuda") and c.threads:
            torch.set_num_threads(c.threads)
        return dev

    def score(self, df: pl.DataFrame) -> pa.Table:
        """The scores of each row of ``df``, as a table of SCORE_SCHEMA (see the module docstring)."""
        c = self.config
        pref_col = "chosen_messages" in df.columns
        if c.messages_column not in df.columns and not pref_col:
            raise ValueError(
                f"reward: messages_column {c.messages_column!r} is not a column (columns: {df.columns}); "
                "run it after sft_normalize"
            )
        dev = self._dev()
        model, tok = load_reward_model(c.model, dev)
        bt = c.batch_tokens or (CUDA_BATCH_TOKENS if dev.startswith("cuda") else CPU_BATCH_TOKENS)
        n = df.height
        chosen = df["chosen_messages"].to_list() if pref_col else [None] * n
        rejected = df["rejected_messages"].to_list() if pref_col else [None] * n
        msgs = df[c.messages_column].to_list() if c.messages_column in df.columns else [None] * n
        # one list of conversations to score for the whole batch: (row, side) owns each
        convs, owner = [], []
        responses = []
        for i in range(n):
            if chosen[i] is not None:
                convs += [_clean(chosen[i]), _clean(rejected[i])]
                owner += [(i, "chosen"), (i, "rejected")]
                k = len(msgs[i] or [])
                responses.append(
                    "\n\n".join(m["content"] for m in _clean(chosen[i])[k:] if m["role"] == "assistant")
                )
                continue
            conv = _clean(msgs[i])
            parts = [conv] if c.turns == "last" else assistant_prefixes(conv)
            convs += parts
            owner += [(i, "sft")] * len(parts)
            responses.append("\n\n".join(m["content"] for m in conv if m["role"] == "assistant"))
        r, long_ = score_conversations(model, tok, convs, batch_tokens=bt, max_length=c.max_length)
        per_row: list[list[float]] = [[] for _ in range(n)]
        reward, rej = np.full(n, np.nan), np.full(n, np.nan)
        too_long = np.zeros(n, dtype=bool)
        for (i, side), v, lg in zip(owner, r, long_, strict=True):
            too_long[i] |= bool(lg)
            if side == "rejected":
                rej[i] = v
            elif side == "chosen":
                reward[i] = v
            else:
                per_row[i].append(v)
        for i, vals in enumerate(per_row):
            if vals and not too_long[i]:
                reward[i] = min(vals) if c.turns == "min" else float(np.mean(vals))
        reward[too_long] = np.nan
        rej[too_long] = np.nan
        ppl = bpb = [None] * n
        if c.ppl_model:
            lm, lm_tok = load_scorer(c.ppl_model, c.ppl_tokenizer, dev)
            ppl, bpb = ppl_bpb(*score_texts(lm, lm_tok, responses, batch_tokens=bt))
        ids = df["id"].cast(pl.Utf8).to_list() if "id" in df.columns else [None] * n
        nan_to_none = lambda a: [None if np.isnan(x) else float(x) for x in a]  # noqa: E731
        return pa.table(
            {
                "id": ids,
                "reward": nan_to_none(reward),
                "reward_rejected": nan_to_none(rej),
                "reward_margin": nan_to_none(reward - rej),
                "too_long": too_long.tolist(),
                "response_ppl": ppl,
                "response_bpb": bpb,
            },
            schema=SCORE_SCHEMA,
        )

    # -- phase 1 (collect) and the score files are ScoredStage's ------------------------------------

    SCORE_SCHEMA = SCORE_SCHEMA

    def score_table(self, df: pl.DataFrame) -> pa.Table:
        return self.score(df)

    # -- phase 2: reduce (the corpus cut-off) -----------------------------------------------------------

    def build_cutoffs(self) -> dict[str, Any]:
        """The reward above which ``top_fraction`` of the scored rows lie, and summary figures."""
        frame = self.all_scores()
        v = frame["reward"].drop_nulls().to_numpy()
        tf = self.config.top_fraction
        cut = float(np.quantile(v, 1 - tf)) if tf is not None and v.size else None
        margins = frame["reward_margin"].drop_nulls()
        summary = {
            "top_fraction": tf,
            "cutoff": cut,
            "rows": frame.height,
            "scored": int(v.size),
            "too_long": int(frame["too_long"].sum()),
            "mean_reward": float(v.mean()) if v.size else None,
            "pairs": margins.len(),
            "pairs_agreeing": int((margins > self.config.min_margin).sum()),
        }
        self.write_cutoffs(summary)
        return {"reward_rows_scored": int(v.size)}

    # -- phase 3: apply -------------------------------------------------------------------------------

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        part = self.task_scores(df)
        cutoff = self.cutoffs()["cutoff"] if c.top_fraction is not None else None
        cols = [part["reward"]]
        if "chosen_messages" in df.columns:
            cols += [part["reward_rejected"], part["reward_margin"]]
        if c.ppl_model:
            cols += [part["response_ppl"], part["response_bpb"]]
        out = df.with_columns(cols + [part["too_long"].alias("_reward_too_long")])
        # the first rule that fails names the drop: checked in reverse so the earliest wins
        rules: list[tuple[str, pl.Expr]] = [("reward_too_long", pl.col("_reward_too_long"))]
        if c.drop_contradicting and "chosen_messages" in df.columns:
            rules.append(("reward_contradicts_label", pl.col("reward_margin") <= c.min_margin))
        if c.min_reward is not None:
            rules.append(("reward_too_low", pl.col("reward") < c.min_reward))
        if c.max_response_ppl is not None:
            rules.append(("response_ppl_too_high", pl.col("response_ppl") > c.max_response_ppl))
        if cutoff is not None:
            rules.append(("reward_not_top", pl.col("reward") < cutoff))
        reason = pl.lit(None, dtype=pl.Utf8)
        for name, bad in reversed(rules):
            reason = pl.when(bad.fill_null(False)).then(pl.lit(name)).otherwise(reason)
        out = out.with_columns(reason.alias(REASON)).drop("_reward_too_long")
        mask = out[REASON].is_not_null()
        return StageResult(kept=out.filter(~mask).drop(REASON), dropped=out.filter(mask))
