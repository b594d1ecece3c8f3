"""``exact_dedup``: drop documents whose normalised text is identical to an earlier one (by id)."""

from __future__ import annotations

import polars as pl
import xxhash
from pydantic import Field

from curate.dedup.keyed import KeyedDedup, KeyedDedupConfig
from curate.engine.registry import register

_U64 = (1 << 64) - 1


def normalise_text(texts: pl.Series, lowercase: bool, whitespace: bool, punctuation: bool) -> pl.Series:
    """The text the content hash is taken of; each switch removes one kind of difference."""
    t = texts.cast(pl.Utf8)
    if lowercase:
        t = t.str.to_lowercase()
    if punctuation:  # Unicode punctuation and symbols
        t = t.str.replace_all(r"[\p{P}\p{S}]+", "")
    if whitespace:  # runs of whitespace count as one space; leading/trailing ignored
        t = t.str.replace_all(r"\s+", " ").str.strip_chars()
    return t


def content_hash(texts: pl.Series) -> pl.DataFrame:
    """128-bit xxh3 of each text's UTF-8 as ``key_hi``/``key_lo`` (null text -> null key).

    xxhash rather than Polars' hash: the key is stable across library versions, and 128 bits make
    a collision between different texts negligible even at billions of documents.
    """
    hi, lo = [], []
    digest = xxhash.xxh3_128_intdigest
    for t in texts.to_list():
        if t is None:
            hi.append(None)
            lo.append(None)
        else:
            d = digest(t.encode("utf-8", "surrogatepass"))
            hi.append(d >> 64)
            lo.append(d & _U64)
    return pl.DataFrame({"key_hi": pl.Series(hi, dtype=pl.UInt64), "key_lo": pl.Series(lo, dtype=pl.UInt64)})


@register("exact_dedup")
class ExactDedup(KeyedDedup):
    """Exact duplicates on a normalised content hash; the first by id (or the keep rule) survives.

    Dropped rows get reason ``exact_duplicate``, ``duplicate_of`` (the kept id) and ``cluster_size``
    (how many copies the group had).
    """

    reason = "exact_duplicate"

    class Config(KeyedDedupConfig):
        lowercase: bool = Field(False, description="ignore case")
        whitespace: bool = Field(True, description="collapse runs of whitespace, strip the ends")
        punctuation: bool = Field(False, description="ignore punctuation and symbols")

    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        return content_hash(normalise_text(df[c.text_column], c.lowercase, c.whitespace, c.punctuation))
