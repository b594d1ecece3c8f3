"""The shared text view: spaCy-like tokens, str.splitlines lines, caching and invalidation."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.filters import textview as tv


def test_tokens_split_like_spacy_english():
    assert tv.tokenize(
        "Hello, world! It's well-known -- Mr. Smith paid $3.50 (approx.) e.g. at 10:30am..."
    ) == [
        "Hello", ",", "world", "!", "It", "'s", "well", "-", "known", "--", "Mr.", "Smith", "paid", "$",
        "3.50", "(", "approx", ".", ")", "e.g.", "at", "10:30am", "...",
    ]
    assert tv.tokenize("See https://example.com/a-b?x=1 or U.S. #tag") == [
        "See", "https://example.com/a-b?x=1", "or", "U.S.", "#", "tag"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \n\r\x0b\x0c\x1c\x85\u2028\t")), max_size=30))
def test_lines_equal_python_splitlines(text):
    df = tv.ensure(pl.DataFrame({"text": [text]}), "__lines")
    assert df["__lines"][0].to_list() == text.splitlines()


def test_views_are_cached_and_invalidated():
    df = tv.ensure(pl.DataFrame({"text": ["a b c"]}), "__n_tokens")
    assert {"__tokens", "__n_tokens"} <= set(df.columns)
    poisoned = df.with_columns(pl.lit(99, dtype=pl.UInt32).alias("__n_tokens"))
    assert tv.ensure(poisoned, "__n_tokens")["__n_tokens"][0] == 99  # reused, not recomputed
    assert [c for c in tv.invalidate(poisoned).columns if c.startswith("__")] == []


def test_punctuation_sets_loaded():
    assert "#" in tv.PUNCTUATION and "。" in tv.TERMINAL_PUNCTUATION and "a" not in tv.PUNCTUATION


def test_stale_views_are_recomputed_when_text_changed_without_invalidate():
    df = tv.ensure(pl.DataFrame({"text": ["a b c"]}), "__n_tokens")
    changed = df.with_columns(pl.lit("a b c d e").alias("text"))  # a stage that forgot invalidate()
    assert tv.ensure(changed, "__n_tokens")["__n_tokens"][0] == 5
