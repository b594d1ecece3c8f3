"""``url_dedup``: one document per normalised URL (web records fetched twice, http/https, ``www.``)."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from curate.dedup.common import KeepRule
from curate.dedup.exact import content_hash
from curate.dedup.keyed import KeyedDedup, KeyedDedupConfig
from curate.engine.registry import register


def normalise_url(urls: pl.Series, strip_query: bool = False) -> pl.Series:
    """Lowercased URL without scheme, ``www.``, fragment and trailing slash (optionally no query).

    The whole URL is lowercased: paths are case-sensitive in principle, but in crawls a case-only
    difference is far more often the same page than a different one.
    """
    u = urls.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    u = u.str.replace(r"#.*$", "").str.replace(r"^[a-z][a-z0-9+.-]*://", "").str.replace(r"^www\d*\.", "")
    if strip_query:
        u = u.str.replace(r"\?.*$", "")
    u = u.str.replace(r"/+$", "")
    return pl.Series(urls.name, [x if x else None for x in u.to_list()], dtype=pl.Utf8)


@register("url_dedup")
class UrlDedup(KeyedDedup):
    """Documents sharing a normalised URL: keep one (default the longest text, ties smallest id).

    Rows without a URL (or without the column) take no part and are kept. Dropped rows get reason
    ``url_duplicate`` and ``duplicate_of``.
    """

    reason = "url_duplicate"

    class Config(KeyedDedupConfig):
        keep: KeepRule = Field("longest", description="which document of a URL survives")
        url_column: str = Field("url", description="column holding the URL")
        strip_query: bool = Field(False, description="treat URLs differing only in ?query as one")

    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        if c.url_column not in df.columns:
            return pl.DataFrame(
                {
                    "key_hi": pl.Series([None] * df.height, dtype=pl.UInt64),
                    "key_lo": pl.Series([None] * df.height, dtype=pl.UInt64),
                }
            )
        return content_hash(normalise_url(df[c.url_column], c.strip_query))
