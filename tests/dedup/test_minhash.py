"""Signature math: shingles against a plain-Python reference, estimates against datasketch."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest
from datasketch import MinHash

from curate.dedup.minhash import (
    MinHasher,
    candidate_probability,
    choose_bands_rows,
    estimate_jaccard,
    jaccard,
    splitmix64,
)
from curate.dedup.synthetic import planted_corpus, shingle_sets


def _reference_shingles(h: MinHasher, text: str) -> np.ndarray:
    """Per-document, per-shingle Python loop: what the vectorised code must reproduce."""
    toks = re.findall(r"\w+", text.lower())
    if not toks:
        return np.zeros(0, np.uint64)
    t = splitmix64(pl.Series(toks, dtype=pl.Utf8).hash(seed=h.seed).to_numpy())
    m = h._ngram_mult
    n = min(h.ngram, len(toks))
    with np.errstate(over="ignore"):  # wrapping uint64 arithmetic is the point
        out = [sum((t[i + j] * m[j] for j in range(n)), np.uint64(0)) for i in range(len(toks) - n + 1)]
    return splitmix64(np.array(out, dtype=np.uint64)) >> np.uint64(32)


def test_shingles_match_reference_loop():
    h = MinHasher(ngram=5)
    texts = [
        "One two three four five six seven.",
        "",
        "Short text",
        "x",
        "Ünïcödé words, with; punctuation! " * 3,
        None,
    ]
    sh = h.shingles(pl.Series(texts))
    assert sh.counts.tolist() == [3, 0, 1, 1, 8, 0]
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(sh.doc(i), _reference_shingles(h, t or ""))


def test_char_shingles_count_and_whitespace():
    h = MinHasher(ngram=3, tokenizer="chars")
    sh = h.shingles(pl.Series(["abcd", "a  b\n\tc d", "ab", ""]))
    assert sh.counts.tolist() == [2, 5, 1, 0]  # "a b c d" has 7 chars -> 5 trigrams
    same = h.shingles(pl.Series(["ABCD"]))
    np.testing.assert_array_equal(same.doc(0), sh.doc(0))


def test_signature_does_not_depend_on_batch():
    h = MinHasher(num_perm=64)
    texts = planted_corpus(30, seed=3)["text"].to_list()
    whole = h.signatures(pl.Series(texts))
    for i in (0, 7, 29):
        np.testing.assert_array_equal(h.signatures(pl.Series([texts[i]]))[0], whole[i])
    np.testing.assert_array_equal(h.signatures(pl.Series(texts[::-1]))[::-1], whole)


def test_signature_is_min_over_shingle_permutations():
    h = MinHasher(num_perm=16)
    sh = h.shingles(pl.Series(["a b c d e f g h i j k l"]))
    a, b = h._perm
    # Python integers: exact arithmetic, reduced mod 2^32 explicitly
    expected = np.array(
        [
            min((int(ak) * int(x) + int(bk)) % 2**32 for x in sh.values)
            for ak, bk in zip(a[:, 0], b[:, 0], strict=True)
        ]
    )
    np.testing.assert_array_equal(h.signatures_from_shingles(sh)[0], expected.astype(np.uint32))


def test_empty_document_has_empty_signature():
    sig = MinHasher(num_perm=8).signatures(pl.Series(["", "   ", "a b c d e"]))
    assert (sig[0] == 0xFFFFFFFF).all() and (sig[1] == 0xFFFFFFFF).all() and not (sig[2] == 0xFFFFFFFF).all()


def test_jaccard_estimates_agree_with_datasketch_and_truth():
    """Our estimates and datasketch's (per-shingle update, its default scheme) against exact Jaccard."""
    df = planted_corpus(160, near_fraction=0.5, exact_fraction=0.0, jaccard_range=(0.3, 1.0), seed=5)
    texts = df["text"].to_list()
    h = MinHasher(num_perm=256)
    sig = h.signatures(pl.Series(texts))
    u = h.shingles(pl.Series(texts)).unique_per_doc()

    def ds(t: str) -> MinHash:
        w = t.lower().split()
        m = MinHash(num_perm=256, seed=1)
        m.update_batch([" ".join(w[i : i + 5]).encode() for i in range(len(w) - 4)])
        return m

    sets = shingle_sets(texts)
    pairs = [(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts))]
    sims = {(i, j): len(sets[i] & sets[j]) / len(sets[i] | sets[j]) for i, j in pairs}
    close = [p for p in pairs if sims[p] > 0.2][:60]
    assert len(close) >= 30
    ours = np.array([estimate_jaccard(sig[i], sig[j]) for i, j in close])
    theirs = np.array([ds(texts[i]).jaccard(ds(texts[j])) for i, j in close])
    truth = np.array([sims[p] for p in close])
    hashed = np.array([jaccard(u.doc(i), u.doc(j)) for i, j in close])
    np.testing.assert_allclose(hashed, truth, atol=1e-3)  # 32-bit shingle hashes: ~no collisions
    # the standard error of a 256-permutation estimate is <= 0.5/16 = 0.031
    assert np.abs(ours - truth).mean() < 0.03 and np.abs(ours - truth).max() < 0.12
    assert np.abs(theirs - truth).mean() < 0.03
    assert np.abs(ours - theirs).mean() < 0.04
    assert abs((ours - truth).mean()) < 0.015  # no systematic bias
    # unrelated documents: estimate ~0
    unrelated = [p for p in pairs if sims[p] == 0.0][:200]
    assert np.mean([estimate_jaccard(sig[i], sig[j]) for i, j in unrelated]) < 0.01


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
def test_band_layout_favours_recall(threshold):
    bands, rows = choose_bands_rows(threshold, 128)
    assert bands * rows <= 128
    assert candidate_probability(threshold, bands, rows) >= 0.97
    assert candidate_probability(threshold - 0.3, bands, rows) < 0.5


def test_band_keys_separate_bands():
    h = MinHasher(num_perm=8)
    sig = np.zeros((2, 8), np.uint32)  # identical values in every band
    keys = h.band_keys(sig, 4, 2)
    assert len(set(keys[0].tolist())) == 4 and (keys[0] == keys[1]).all()
    with pytest.raises(ValueError):
        h.band_keys(sig, 5, 2)


def test_vectorised_pair_jaccard_matches_sets():
    from curate.dedup.near import _pair_jaccard

    rng = np.random.default_rng(0)
    sets = [np.unique(rng.integers(0, 60, rng.integers(0, 30))).astype(np.uint32) for _ in range(40)]
    offsets = np.zeros(len(sets) + 1, np.int64)
    np.cumsum([len(x) for x in sets], out=offsets[1:])
    flat = np.concatenate(sets)
    ia, ib = rng.integers(0, 40, 300), rng.integers(0, 40, 300)
    got = _pair_jaccard(flat, offsets, ia, ib, chunk=37)
    want = [jaccard(sets[i], sets[j]) for i, j in zip(ia, ib, strict=True)]
    np.testing.assert_allclose(got, want)
