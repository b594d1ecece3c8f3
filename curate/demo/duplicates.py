"""Planted duplicates: the similarity ground truth is measured on, and near-duplicate making.

Similarity is the Jaccard index of word 5-gram shingles of an article's text (its h2/p blocks
joined by newlines), with words = lower-cased whitespace tokens. Near-duplicates are only planted
for languages written with spaces (not zh), where that definition is meaningful.
"""

from __future__ import annotations

import random
from collections import Counter

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


def near_duplicate(a: Article, rng: random.Random, lang: str, n: int = 5) -> tuple[Article, float]:
    """A copy of ``a`` with words replaced until shingle Jaccard lands in NEAR_DUP_RANGE.

    Jaccard is tracked incrementally (a replaced word touches only the ``n`` shingles that cover
    it), then checked once on the final text; returns the article and its measured Jaccard.
    """
    p = prose(lang)
    lo, hi = NEAR_DUP_RANGE
    target = rng.uniform(lo + 0.03, hi - 0.005)  # the last change lands a step below target
    blocks = [text.split(" ") for _, text in a.blocks]
    where = [(b, t) for b, toks in enumerate(blocks) for t in range(len(toks))]
    low = [blocks[b][t].lower() for b, t in where]
    starts = range(len(low) - n + 1)
    base = {tuple(low[k : k + n]) for k in starts}
    current = Counter(tuple(low[k : k + n]) for k in starts)
    inter, extra = len(base), 0  # |current & base|, |current - base| (distinct shingles)

    def replace(k: int, word: str) -> None:
        nonlocal inter, extra
        span = range(max(0, k - n + 1), min(k, len(low) - n) + 1)
        for s in span:
            sh = tuple(low[s : s + n])
            current[sh] -= 1
            if current[sh] == 0:
                del current[sh]
                inter, extra = (inter - 1, extra) if sh in base else (inter, extra - 1)
        low[k] = word.lower()
        b, t = where[k]
        blocks[b][t] = word
        for s in span:
            sh = tuple(low[s : s + n])
            current[sh] += 1
            if current[sh] == 1:
                inter, extra = (inter + 1, extra) if sh in base else (inter, extra + 1)

    j = 1.0
    candidates = [k for k, (b, t) in enumerate(where) if blocks[b][t].isalpha()]
    for k in rng.sample(candidates, len(candidates)):
        old = blocks[where[k][0]][where[k][1]]
        new = p.content_words(rng, 1)[0]
        if new.lower() == old.lower():
            continue
        replace(k, new.capitalize() if old[0].isupper() else new)
        j = inter / (len(base) + extra)
        if j < lo:  # overshot: undo this change and try another position
            replace(k, old)
            j = inter / (len(base) + extra)
        elif j <= target:
            break
    out = Article(
        a.title, [(tag, " ".join(toks)) for (tag, _), toks in zip(a.blocks, blocks, strict=True)], a.byline
    )
    measured = jaccard(shingles(article_tokens(a.text)), shingles(article_tokens(out.text)))
    if not lo <= measured <= hi:
        raise RuntimeError(f"near-duplicate Jaccard {measured:.3f} outside {NEAR_DUP_RANGE}")
    return out, round(measured, 4)
