"""Unicode normalisation: mojibake repair (ftfy), control-character stripping, NFC."""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from curate.engine.registry import register
from curate.engine.stage import Stage, StageConfig, StageResult
from curate.filters import textview as tv

# C0/C1 controls except tab, newline, carriage return; plus zero-width / BOM / bidi controls
CONTROL_CHARS = (
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\x{200b}\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}\x{feff}]"
)
# byte sequences that UTF-8 text decoded as Latin-1/cp1252 leaves behind ("Ã©", "â€™", "Â ")
MOJIBAKE_HINT = r"[ÃÂâ][\x{80}-\x{bf}\x{20ac}\x{201a}-\x{2122}\x{a0}-\x{bf}]"


@register("normalize")
class Normalize(Stage):
    """Repair mojibake with ftfy (only in documents that show its traces), strip control characters,
    normalise to NFC (or another form). Never drops; counters ``normalize_mojibake_fixed``,
    ``normalize_changed``."""

    class Config(StageConfig):
        form: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = Field(
            "NFC", description="Unicode normalisation form (None: leave)."
        )
        fix_mojibake: bool = Field(
            True, description="Repair text decoded with the wrong codec (ftfy.fix_encoding)."
        )
        strip_control: bool = Field(
            True, description="Remove control, zero-width and bidi-override characters."
        )
        normalize_newlines: bool = Field(True, description="\\r\\n and \\r become \\n.")

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        if df.height == 0:
            return StageResult(kept=df)
        before = df["text"]
        counters = {"normalize_mojibake_fixed": 0}
        if c.fix_mojibake:
            import ftfy

            hint = before.str.contains(MOJIBAKE_HINT).fill_null(False)
            if hint.any():
                texts = before.to_list()
                for i in hint.arg_true().to_list():
                    fixed = ftfy.fix_encoding(texts[i])
                    counters["normalize_mojibake_fixed"] += fixed != texts[i]
                    texts[i] = fixed
                df = df.with_columns(pl.Series("text", texts, dtype=pl.Utf8))
        text = pl.col("text")
        if c.normalize_newlines:
            text = text.str.replace_all("\r\n", "\n", literal=True).str.replace_all("\r", "\n", literal=True)
        if c.strip_control:
            text = text.str.replace_all(CONTROL_CHARS, "")
        if c.form:
            text = text.str.normalize(c.form)
        df = df.with_columns(text.alias("text"))
        counters["normalize_changed"] = int((df["text"] != before).fill_null(False).sum())
        if counters["normalize_changed"]:
            df = tv.invalidate(df)
        return StageResult(kept=df, counters=counters)
