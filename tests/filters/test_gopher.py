"""Gopher quality and repetition: exact reasons on crafted documents, n-gram maths vs a plain reference."""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
from conftest import run_stage
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.filters.gopher import GopherQuality, GopherRepetition, ngram_failures

_SUBJECTS = [
    "garden", "river", "teacher", "market", "village", "window", "journey", "library", "kitchen", "season",
]
GOOD = "\n".join([
    "The garden behind the old library was quiet when we arrived with our friends.",
    "A river runs through the village and the children like to swim there in summer.",
    "Our teacher explained that the market opens early on Saturday mornings.",
    "Every window of the kitchen faces east, so breakfast comes with bright sunshine.",
    "The journey to the mountains took four hours because of heavy traffic.",
    "She wrote a long letter to her brother about the new job and the apartment.",
    "They have planted tomatoes, beans and herbs along the southern fence.",
    "During the winter season the harbour is calm and almost empty of boats.",
    "He reads history books in the evening and shares the best stories with us.",
    "Nobody expected that the small team would win the regional championship.",
])


def reasons(cls, texts, ctx, **cfg):
    return run_stage(cls, texts, ctx, **cfg)[1]


def test_good_document_passes_both(ctx):
    assert reasons(GopherQuality, [GOOD], ctx) == [None]
    assert reasons(GopherRepetition, [GOOD], ctx) == [None]


def test_quality_rules_fire_with_their_reason(ctx):
    lines = GOOD.split("\n")
    docs = {
        "gopher_short_doc": "The cat and the dog sat with friends.",
        "gopher_below_avg_threshold": " ".join(["to be or it an in on at of and the"] * 8),
        "gopher_above_avg_threshold": " ".join(
            ["the internationalization and the counterrevolutionaries"] * 20
        ),
        "gopher_too_many_hashes": GOOD + " " + " ".join(f"#tag{i}" for i in range(40)),
        "gopher_too_many_ellipsis": GOOD + " " + " ".join(f"word{i}..." for i in range(40)),
        "gopher_too_many_bullets": "\n".join("- " + line for line in lines),
        "gopher_too_many_end_ellipsis": "\n".join(
            line[:-1] + "..." if i < 4 else line for i, line in enumerate(lines)
        ),
        "gopher_below_alpha_threshold": GOOD + " " + " ".join(str(1000 + i) for i in range(60)),
        "gopher_enough_stop_words": " ".join(
            f"Cats chase birds near houses during warm afternoons{i}." for i in range(10)
        ),
    }
    got = reasons(GopherQuality, list(docs.values()), ctx)
    assert got == list(docs)


def test_quality_thresholds_are_configurable(ctx):
    assert reasons(GopherQuality, [GOOD], ctx, max_words=60) == ["gopher_long_doc"]
    assert reasons(GopherQuality, ["The cat and the dog sat with friends."], ctx, min_words=5) == [None]
    assert reasons(
        GopherQuality, ["The cat and the dog sat with friends."], ctx, min_words=None, min_stop_words=3
    ) == [None]


def test_repetition_rules_fire_with_their_reason(ctx):
    uniq = [f"Distinct line number {i} about the {w} and more." for i, w in enumerate(_SUBJECTS)]
    long_line = (
        "This one long line is repeated twice and it holds many characters of the whole text " * 3
    ).strip()
    words = [f"word{i}" for i in range(300)]
    phrase = " ".join(f"phrase{i}" for i in range(40))
    docs = {
        "gopher_empty": "",
        "gopher_dup_para_frac": "First paragraph here.\n\nSecond paragraph here.\n\nFirst paragraph here.",
        "gopher_dup_para_char_frac": "\n\n".join(uniq + [long_line, long_line]),
        "gopher_dup_line_frac": "\n".join(uniq[:6] + ["Same line."] * 5),
        "gopher_dup_line_char_frac": "\n".join(uniq + [long_line, long_line]),
        "gopher_top_2_gram": " ".join(f"foo bar {w}" for w in words[:40]),
        "gopher_dup_5_gram": " ".join(words[:60])
        + " "
        + phrase
        + " "
        + " ".join(words[60:120])
        + " "
        + phrase,
    }
    assert reasons(GopherRepetition, list(docs.values()), ctx) == list(docs)


# --- n-gram maths against a plain-Python reference of the documented semantics -----------------

def _ref_top(tokens: list[str], n: int) -> int:
    grams = [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return -1
    g, c = Counter(grams).most_common(1)[0]
    return len(g) * c


def _ref_dup(tokens: list[str], n: int) -> int:
    """Greedy scan; a repeat is an n-gram seen at any earlier position (see GopherRepetition)."""
    seen_at = {}
    for i in range(len(tokens) - n + 1):
        seen_at.setdefault(tuple(tokens[i : i + n]), i)
    total, i = 0, 0
    while i < len(tokens) - n + 1:
        g = tuple(tokens[i : i + n])
        if seen_at[g] < i:
            total += sum(len(t) for t in g)
            i += n
        else:
            i += 1
    return total


def _ref_failure(tokens, n_chars, top, dup):
    for n, f in sorted(top.items()):
        v = _ref_top(tokens, n)
        if v >= 0 and v / n_chars > f:
            return f"top_{n}"
    for n, f in sorted(dup.items()):
        if _ref_dup(tokens, n) / n_chars > f:
            return f"dup_{n}"
    return None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["a", "bb", "ccc", "the", "of", "x"]), max_size=40), min_size=1, max_size=8
    ),
    st.floats(0.05, 0.6),
    st.floats(0.05, 0.6),
)
def test_ngram_failures_match_reference(docs, f_top, f_dup):
    top = {2: f_top, 3: f_top * 0.9, 4: f_top * 0.8}
    dup = {5: f_dup, 6: f_dup * 0.95, 7: f_dup * 0.9, 8: f_dup * 0.85, 9: f_dup * 0.8, 10: f_dup * 0.75}
    n_chars = np.array([max(1, len(" ".join(d))) for d in docs], dtype=np.int64)
    tokens = pl.Series("t", docs, dtype=pl.List(pl.Utf8))
    got = ngram_failures(tokens, n_chars, top, dup, np.ones(len(docs), dtype=bool))
    want = [_ref_failure(d, c, top, dup) for d, c in zip(docs, n_chars, strict=True)]
    assert got == want


def test_ngram_failures_skip_docs_not_alive():
    tokens = pl.Series("t", [["a", "b"] * 20, ["a", "b"] * 20], dtype=pl.List(pl.Utf8))
    out = ngram_failures(tokens, np.array([80, 80]), {2: 0.2}, {}, np.array([True, False]))
    assert out == ["top_2", None]
