"""PII redaction: e-mail addresses, IPv4/IPv6 addresses, phone numbers, optionally card numbers.

Matches are replaced by placeholders (``<EMAIL>``, ``<IP_ADDRESS>``, ``<PHONE>``,
``<CREDIT_CARD>``); counts per kind go to the stage counters (``pii_email`` ...). Never drops a
document. Patterns run as Rust regexes over the whole column; only card candidates are checked in
Python (Luhn), and only in documents that contain one.

Limits (regexes, not a model): phone numbers need separators between digit groups
(``+1 555-123-4567``, ``(030) 1234 5678``); a run like ``100 200 300`` also looks like one.
"""

from __future__ import annotations

import re

import polars as pl
from pydantic import Field

from curate.engine.registry import register
from curate.engine.stage import Stage, StageConfig, StageResult
from curate.filters import textview as tv

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = rf"\b{_OCTET}(?:\.{_OCTET}){{3}}\b"
_H = r"[0-9A-Fa-f]{1,4}"
IPV6 = rf"\b(?:{_H}:){{7}}{_H}\b|\b(?:{_H}:){{1,6}}(?::{_H}){{1,6}}\b|\b(?:{_H}:){{2,7}}:"
PHONE = r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)|\b\d{2,4})[ .-]\d{3,4}[ .-]\d{3,4}\b"
CARD_CANDIDATE = r"\b(?:\d[ -]?){12,18}\d\b"
# Python pattern for the final phone decision: not part of a longer run of digit groups (a card
# number, an ID), which the Rust engine cannot express without look-around.
_PHONE_PY = re.compile(
    r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)|\d{2,4})[ .-]\d{3,4}[ .-]\d{3,4}(?![\w-]|[ .-]\d)"
)


def luhn_ok(number: str) -> bool:
    """The Luhn checksum of the digits in ``number`` (card numbers pass it)."""
    digits = [int(ch) for ch in number if ch.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@register("pii")
class Pii(Stage):
    """Redact PII into placeholders; counters ``pii_<kind>`` count the replacements. Never drops."""

    class Config(StageConfig):
        email: bool = Field(True, description="Redact e-mail addresses.")
        ip: bool = Field(True, description="Redact IPv4 and IPv6 addresses.")
        phone: bool = Field(True, description="Redact phone numbers (digit groups with separators).")
        credit_card: bool = Field(False, description="Redact 13-19 digit numbers that pass the Luhn check.")
        email_placeholder: str = Field("<EMAIL>", description="Replacement for e-mail addresses.")
        ip_placeholder: str = Field("<IP_ADDRESS>", description="Replacement for IP addresses.")
        phone_placeholder: str = Field("<PHONE>", description="Replacement for phone numbers.")
        card_placeholder: str = Field("<CREDIT_CARD>", description="Replacement for card numbers.")

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        if df.height == 0:
            return StageResult(kept=df)
        counters: dict[str, int] = {}
        if c.email:
            df, counters["pii_email"] = _redact(df, EMAIL, c.email_placeholder)
        if c.credit_card:
            df, counters["pii_credit_card"] = _redact_python(
                df, CARD_CANDIDATE, _CARD_PY, c.card_placeholder, lambda m: luhn_ok(m.group(0))
            )
        if c.ip:
            df, n6 = _redact(df, IPV6, c.ip_placeholder)
            df, n4 = _redact(df, IPV4, c.ip_placeholder)
            counters["pii_ip"] = n6 + n4
        if c.phone:
            df, counters["pii_phone"] = _redact_python(
                df, PHONE, _PHONE_PY, c.phone_placeholder, lambda m: True
            )
        if any(counters.values()):
            df = tv.invalidate(df)
        return StageResult(kept=df, counters=counters)


def _redact(df: pl.DataFrame, pattern: str, placeholder: str) -> tuple[pl.DataFrame, int]:
    n = int(df.select(pl.col("text").str.count_matches(pattern).sum()).item() or 0)
    if n:
        df = df.with_columns(pl.col("text").str.replace_all(pattern, placeholder.replace("$", "$$")))
    return df, n


_CARD_PY = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def _redact_python(
    df: pl.DataFrame, prefilter: str, rx: re.Pattern, placeholder: str, accept
) -> tuple[pl.DataFrame, int]:
    """Replace ``rx`` matches that ``accept`` approves, only in documents the Rust ``prefilter`` flags."""
    has = df.select(pl.col("text").str.contains(prefilter).fill_null(False)).to_series()
    if not has.any():
        return df, 0
    count = 0

    def repl(m: re.Match) -> str:
        nonlocal count
        if accept(m):
            count += 1
            return placeholder
        return m.group(0)

    texts = df["text"].to_list()
    for i in has.arg_true().to_list():
        texts[i] = rx.sub(repl, texts[i])
    return df.with_columns(pl.Series("text", texts, dtype=pl.Utf8)), count
