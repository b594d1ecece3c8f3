"""Invariants of the demo generator's building blocks (property tests)."""

from __future__ import annotations

import gzip
import random
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from curate.demo.archive import gzip_member, warc_record
from curate.demo.duplicates import NEAR_DUP_RANGE, article_tokens, jaccard, near_duplicate, shingles
from curate.demo.pages import good_article
from curate.demo.prose import prose
from curate.demo.web import KIND_WEIGHTS, quotas
from curate.demo.words import VOCABS


@given(st.integers(min_value=1, max_value=5000))
def test_quotas_sum_and_cover_every_kind(n):
    kinds = quotas(n, KIND_WEIGHTS)
    assert len(kinds) == n
    if n >= 2 * len(KIND_WEIGHTS):
        assert set(kinds) == set(KIND_WEIGHTS)
    if n >= 200:  # below that, the one-of-each minimum eats into the good share
        assert abs(kinds.count("good") / n - KIND_WEIGHTS["good"] / sum(KIND_WEIGHTS.values())) < 0.06


@given(st.binary(max_size=5000))
def test_gzip_member_roundtrip_and_deterministic(data):
    member = gzip_member(data)
    assert gzip.decompress(member) == data
    assert member == gzip_member(data)
    assert member[4:8] == b"\0\0\0\0"  # mtime 0
    assert zlib.decompress(member, 31) == data


@given(st.binary(max_size=2000), st.text(max_size=50).filter(lambda s: "\r" not in s and "\n" not in s))
def test_warc_record_content_length_is_exact(block, uri):
    raw = warc_record(
        "resource", [("WARC-Target-URI", uri.encode("utf-8", "replace").decode("latin-1"))], block, "x/y"
    )
    head, _, rest = raw.partition(b"\r\n\r\n")
    length = int(next(x for x in head.split(b"\r\n") if x.startswith(b"Content-Length:")).split(b":")[1])
    assert length == len(block) and rest == block + b"\r\n\r\n"


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["en", "de", "fr", "es", "ru"]))
def test_near_duplicate_lands_in_range(seed, lang):
    rng = random.Random(seed)
    a = good_article(prose(lang), rng)
    b, j = near_duplicate(a, rng, lang)
    measured = jaccard(shingles(article_tokens(a.text)), shingles(article_tokens(b.text)))
    assert NEAR_DUP_RANGE[0] <= measured <= NEAR_DUP_RANGE[1]
    assert abs(measured - j) < 1e-3
    assert [t for t, _ in a.blocks] == [t for t, _ in b.blocks]


def test_vocabularies_are_large_and_html_safe():
    for lang in VOCABS:
        p = prose(lang)
        assert len(p.nouns) >= 90 and len(p.verbs) >= 30 and len(p.adjectives) >= 30, lang
        for field in ("nouns", "adjectives", "verbs", "adverbs"):
            words = getattr(p, field)
            assert len(set(words)) == len(words), f"duplicate {field} in {lang}"
        text = " ".join(p.sentences[:500])
        assert not set("<>&") & set(text)
