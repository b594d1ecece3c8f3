"""C4: line removals with counters, rewritten text, document drops with exact reasons."""

from __future__ import annotations

import polars as pl
from conftest import run_stage

from curate.filters.c4 import C4, sentence_count

GOOD = [f"Sentence number {i} is a complete thought about the garden." for i in range(6)]


def test_lines_removed_counted_and_text_rewritten(ctx):
    lines = [GOOD[0], "Menu", "Please enable JavaScript to view the comments.", GOOD[1],
             "We use cookies to improve the site.", "Two words.", "x" * 1001 + " is too long.",
             "A cited claim stays here.[1]", "The end of it ...", *GOOD[2:]]
    res, why = run_stage(C4, ["\n".join(lines)], ctx)
    assert why == [None]
    assert res.kept["text"][0] == "\n".join([GOOD[0], GOOD[1], "A cited claim stays here.", *GOOD[2:]])
    c = res.counters
    assert (
        c["c4_lines_removed_no_terminal_punct"],
        c["c4_lines_removed_javascript"],
        c["c4_lines_removed_policy"],
        c["c4_lines_removed_too_few_words"],
        c["c4_lines_removed_too_long_word"],
        c["c4_lines_kept"],
    ) == (2, 1, 1, 1, 1, 7)


def test_document_drops(ctx):
    docs = {
        "c4_lorem_ipsum": "\n".join([*GOOD, "Lorem ipsum dolor sit amet, consectetur."]),
        "c4_curly_bracket": "\n".join([*GOOD, "The function f is { return x } here."]),
        "c4_too_few_sentences": "\n".join(GOOD[:2]),
    }
    assert run_stage(C4, list(docs.values()), ctx)[1] == list(docs)


def test_brackets_only_in_removed_lines_do_not_drop(ctx):
    doc = "\n".join([*GOOD, "if (x) { y }", "Enable javascript { here } please."])
    assert run_stage(C4, [doc], ctx)[1] == [None]


def test_sentence_count_follows_spacy_abbreviations():
    s = pl.Series(["Mr. Smith went home. He slept well!", "The U.S. economy grew, e.g. in May.",
                   "Wait... then it ended.", "One. Two. Three."])
    assert pl.select(sentence_count(pl.lit(s))).to_series().to_list() == [2, 1, 1, 3]


def test_null_and_empty_text(ctx):
    assert run_stage(C4, [None, ""], ctx)[1] == ["c4_too_few_sentences"] * 2
