"""Normalisation and n-gram hashing: lm-eval's janitor on ASCII, invariance to re-wrapping."""

from __future__ import annotations

import random
import string

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.decontam.ngrams import gram_hashes, normalize, whole_hashes, words
from curate.decontam.planting import rewrap

# lm-eval's Janitor.normalize_string + str.split (lm_eval/decontamination/janitor.py)
JANITOR = str.maketrans(string.ascii_lowercase + string.ascii_uppercase, string.ascii_lowercase * 2,
                        string.punctuation)

ascii_text = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " \n\t",
                     max_size=200)


@settings(max_examples=100, deadline=None)
@given(ascii_text)
def test_ascii_normalisation_is_lm_evals(text):
    if "-\n" in text or "-\t" in text or "- " in text:  # a line-break hyphen is joined: our one change
        text = text.replace("-", "")
    ours = normalize(pl.Series([text])).str.extract_all(r"\S+").to_list()[0] or []
    assert ours == text.translate(JANITOR).split()


def test_line_break_hyphen_and_invisible_characters():
    out = normalize(pl.Series(["Contami-\n   nation, well-known;\u00ad soft\u200bword ÉTÉ"])).to_list()[0]
    assert out.split() == ["contamination", "wellknown", "softword", "été"]


words_st = st.lists(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=12), min_size=1,
                    max_size=60)


@settings(max_examples=100, deadline=None)
@given(words_st, st.integers(0, 10_000))
def test_rewrapping_keeps_the_words(ws, seed):
    text = " ".join(ws)
    wrapped = rewrap(text, random.Random(seed))
    a, b = words([text]), words([wrapped])
    assert a.hashes.tolist() == b.hashes.tolist()


def test_gram_hashes_stay_inside_each_text_and_whole_hash_matches():
    w = words(["a b c d", "e f", "g h i"])
    grams = gram_hashes(w, [2, 3])
    assert grams[2][1].tolist() == [0, 0, 0, 1, 2, 2]
    assert grams[3][1].tolist() == [0, 0, 2]
    # the 2-gram "e f" is text 1's whole word sequence
    assert whole_hashes(w)[1] == grams[2][0][3]
    single = words(["b c d"])
    assert gram_hashes(single, [3])[3][0][0] == grams[3][0][1]
    assert np.asarray(whole_hashes(words(["", "x"]))).tolist()[0] == 0
