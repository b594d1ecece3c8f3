"""The held-out overlap counter: exact shares on hand-made texts, batch order irrelevant."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.ablate.overlap import OverlapCounter, overlap

WORDS = [f"w{i}" for i in range(40)]


def test_share_counts_ngram_occurrences_found_in_training_text():
    held = " ".join(WORDS[:20])  # 20 words: 8 word 13-grams
    train = ["Noise. " + " ".join(WORDS[:14]).upper() + "!"]  # normalised: lowercase, no punctuation
    r = overlap([train], {"gold": [held, "too short"]}, n=13)["gold"]
    assert r["ngrams"] == 8
    assert r["share"] == 2 / 8  # the 13-grams starting at w0 and w1
    assert r["docs_scored"] == 1  # "too short" has no 13-gram
    assert (r["docs_over_10pct"], r["docs_over_50pct"]) == (1, 0)


def test_no_overlap_and_full_overlap():
    held = [" ".join(WORDS[:15]), " ".join(WORDS[20:35])]
    c = OverlapCounter({"s": held}, n=13)
    c.add([" ".join(WORDS[20:40])])
    assert c.result()["s"]["share"] == 0.5
    assert np.allclose(c.doc_shares("s"), [0.0, 1.0])
    assert c.result()["s"]["docs_over_90pct"] == 1


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS[:6]), min_size=0, max_size=30), min_size=1, max_size=8),
       st.integers(1, 4))
def test_share_equals_a_python_set_count_whatever_the_batches(train_docs, n_batches):
    held = [" ".join(WORDS[:6] * 4), " ".join(reversed(WORDS[:6] * 3))]
    texts = [" ".join(d) for d in train_docs]
    batches = [texts[i::n_batches] for i in range(n_batches)]
    got = overlap(batches, {"h": held}, n=3)["h"]["share"]
    grams = {tuple(d[i : i + 3]) for d in train_docs for i in range(len(d) - 2)}
    held_grams = [tuple(h.split()[i : i + 3]) for h in held for i in range(len(h.split()) - 2)]
    assert got == sum(g in grams for g in held_grams) / len(held_grams)
