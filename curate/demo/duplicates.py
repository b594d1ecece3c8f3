"""Planted duplicates: the similarity ground truth is measured on, and near-duplicate making.

Similarity is the Jaccard index of word 5-gram shingles of an article's text (its h2/p blocks
joined by newlines), with words = lower-cased whitespace tokens. Near-duplicates are only planted
for languages written with spaces (not zh), where that definition is meaningful.
"""

from __future__ import annotations

import random

from curate.demo.pages import Article
from curate.demo.prose import prose

NEAR_DUP_RANGE = (0.85, 0.95)


def article_tokens(text: str) -> list[str]:
    """The tokens duplicate ground truth is measured on: lower-cased whitespace tokens."""
    return text.lower().split()


def shingles(tokens: list[str], n: int = 5) -> set[tuple[str, ...]]:
    """Word ``n``-gram shingles."""
    return {tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1))}


def jaccard(a: set, b: set) -> float:
    """Jaccard similarity of two sets."""
    return len(a & b) / len(a | b) if a or b else 1.0


def near_duplicate(a: Article, rng: random.Random, lang: str) -> tuple[Article, float]:
    """A copy of ``a`` with a few words replaced so that shingle Jaccard lands in NEAR_DUP_RANGE."""
    p = prose(lang)
    lo, hi = NEAR_DUP_RANGE
    target = rng.uniform(lo + 0.03, hi - 0.005)  # the last change lands a step below target
    blocks = [(tag, text.split(" ")) for tag, text in a.blocks]
    base = shingles(article_tokens(a.text))
    n = len(base)
    candidates = [(b, t) for b, (_, toks) in enumerate(blocks) for t, w in enumerate(toks) if w.isalpha()]
    order = rng.sample(candidates, len(candidates))
    estimate = max(1, int(n * (1 - target) / (5 * (1 + target))) - 1)

    def current() -> Article:
        return Article(a.title, [(tag, " ".join(toks)) for tag, toks in blocks], a.byline)

    j = 1.0
    for k, (b, t) in enumerate(order):
        old = blocks[b][1][t]
        new = p.content_words(rng, 1)[0]
        if new.lower() == old.lower():
            continue
        blocks[b][1][t] = new.capitalize() if old[0].isupper() else new
        if k + 1 < estimate:
            continue
        j = jaccard(base, shingles(article_tokens(current().text)))
        if j < lo:  # overshot: undo this change and try another position
            blocks[b][1][t] = old
            j = jaccard(base, shingles(article_tokens(current().text)))
            continue
        if j <= target:
            break
    if not lo <= j <= hi:
        raise RuntimeError(f"near-duplicate Jaccard {j:.3f} outside {NEAR_DUP_RANGE}")
    return current(), round(j, 4)
