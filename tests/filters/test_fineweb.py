"""FineWeb quality rules: exact reasons on crafted documents."""

from __future__ import annotations

from conftest import run_stage

from curate.filters.fineweb import FineWebQuality

GOOD = "\n".join(
    f"This is line {i} of a document with enough words to pass every rule here." for i in range(8)
)


def test_reasons(ctx):
    docs = {
        None: GOOD,
        "fineweb_empty": "\n \n\n",
        "fineweb_line_punct_ratio": "\n".join(
            f"A heading without any punctuation number {i}" for i in range(10)
        ),
        "fineweb_short_line_ratio": "\n".join(f"Short line {i}." for i in range(10)),
        "fineweb_char_dup_ratio": GOOD + "\n" + GOOD.split("\n")[0],
        "fineweb_list_ratio": "\n".join(
            f"Supercalifragilistic{i}antidisestablishmentarianism." for i in range(10)
        ),
    }
    assert run_stage(FineWebQuality, list(docs.values()), ctx)[1] == list(docs)


def test_unicode_terminal_punctuation_counts(ctx):
    doc = "\n".join(f"これは十分に長い日本語の文で、句点で終わります。番号{i}番の行です。" for i in range(6))
    assert run_stage(FineWebQuality, [doc], ctx)[1][0] != "fineweb_line_punct_ratio"
