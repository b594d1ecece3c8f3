"""Generated corpora with planted duplicates, for dedup tests and ``bench/dedup.py``.

Documents are random sequences over a pseudo-word vocabulary (so unrelated documents share almost
no 5-gram); a near-duplicate copies a document and substitutes words at random positions, which
lowers its Jaccard similarity to the source by a controlled amount; an exact duplicate is a copy.
The true similarities are *not* taken from this module: tests recompute them by brute force.
"""

from __future__ import annotations

import numpy as np
import polars as pl

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]


def vocabulary(size: int = 20_000, seed: int = 0) -> list[str]:
    """``size`` distinct pseudo-words of 2-4 syllables."""
    rng = np.random.default_rng(seed)
    words: set[str] = set()
    while len(words) < size:
        k = int(rng.integers(2, 5))
        words.add("".join(_SYLLABLES[i] for i in rng.integers(0, len(_SYLLABLES), k)))
    return sorted(words)


def substitutions_for(n_words: int, jaccard: float, ngram: int = 5) -> int:
    """Word substitutions that bring a copy to about ``jaccard`` with its source (isolated edits)."""
    shingles = max(n_words - ngram + 1, 1)
    return max(int(round(shingles * (1 - jaccard) / (ngram * (1 + jaccard)))), 0)


def planted_corpus(
    n_docs: int,
    near_fraction: float = 0.2,
    exact_fraction: float = 0.05,
    jaccard_range: tuple[float, float] = (0.5, 1.0),
    words: tuple[int, int] = (80, 400),
    family_max: int = 1,
    seed: int = 0,
) -> pl.DataFrame:
    """``n_docs`` rows (``id``, ``text``, ``source``) in shuffled order with planted duplicates.

    ``near_fraction`` of the rows are near-duplicates of another row with target Jaccard drawn
    uniformly from ``jaccard_range``; ``exact_fraction`` are verbatim copies (of random originals).
    ``family_max=1``: each source gets at most one near copy; ``> 1``: copies come from a pool of
    ``n_orig / family_max`` sources, so several copies share one (clusters larger than pairs, and
    copies of one source are less similar to each other than to it).
    """
    rng = np.random.default_rng(seed)
    vocab = np.array(vocabulary(seed=seed))
    n_near = int(n_docs * near_fraction)
    n_exact = int(n_docs * exact_fraction)
    n_orig = max(n_docs - n_near - n_exact, 1)
    lengths = rng.integers(words[0], words[1] + 1, n_orig)
    originals = [vocab[rng.integers(0, len(vocab), n)] for n in lengths]
    texts = [" ".join(w) for w in originals]
    if family_max <= 1:  # one copy per source: every planted pair stands alone
        if n_near > n_orig:
            raise ValueError("family_max=1 needs near_fraction small enough for one copy per source")
        sources = rng.permutation(n_orig)[:n_near]
    else:  # copies drawn from a smaller pool of sources, so some share one (clusters > 2)
        sources = rng.integers(0, max(n_orig // family_max, 1), n_near)
    for s in sources:
        src = originals[int(s)].copy()
        k = substitutions_for(len(src), float(rng.uniform(*jaccard_range)))
        pos = rng.choice(len(src), size=min(k, len(src)), replace=False)
        src[pos] = vocab[rng.integers(0, len(vocab), len(pos))]
        texts.append(" ".join(src))
    for _ in range(n_exact):
        texts.append(texts[int(rng.integers(0, n_orig))])
    order = rng.permutation(len(texts))
    texts = [texts[i] for i in order]
    return pl.DataFrame(
        {
            "id": [f"doc-{i:08d}" for i in range(len(texts))],
            "text": texts,
            "source": ["synthetic"] * len(texts),
        }
    )


def shingle_sets(texts: list[str], ngram: int = 5) -> list[set[tuple[str, ...]]]:
    """Word n-gram sets straight from the strings (the brute-force reference, no hashing)."""
    out = []
    for t in texts:
        w = t.lower().split()
        if len(w) < ngram:
            out.append({tuple(w)} if w else set())
        else:
            out.append({tuple(w[i : i + ngram]) for i in range(len(w) - ngram + 1)})
    return out


def true_pairs(texts: list[str], threshold: float, ngram: int = 5) -> dict[tuple[int, int], float]:
    """All pairs (i < j) with exact Jaccard >= ``threshold``, by brute force over an inverted index.

    Every pair sharing at least one shingle gets its exact intersection counted; pairs sharing none
    have Jaccard 0, so nothing above the threshold is missed.
    """
    sets = shingle_sets(texts, ngram)
    index: dict[tuple[str, ...], list[int]] = {}
    for i, s in enumerate(sets):
        for sh in s:
            index.setdefault(sh, []).append(i)
    inter: dict[tuple[int, int], int] = {}
    for docs in index.values():
        if len(docs) < 2:
            continue
        for x in range(len(docs)):
            for y in range(x + 1, len(docs)):
                key = (docs[x], docs[y])
                inter[key] = inter.get(key, 0) + 1
    out = {}
    for (i, j), k in inter.items():
        jac = k / (len(sets[i]) + len(sets[j]) - k)
        if jac >= threshold:
            out[(i, j)] = jac
    return out


def exact_jaccard(a: str, b: str, ngram: int = 5) -> float:
    sa, sb = shingle_sets([a, b], ngram)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def pair_scores(
    ids: list[str], dropped: list[str], duplicate_of: list[str], truth: dict[tuple[int, int], float]
) -> dict[str, float]:
    """Precision/recall of duplicate pairs against ``truth`` (pairs of row indices, from :func:`true_pairs`).

    * ``precision``/``recall``: predicted pairs are all pairs of documents in one cluster (a kept
      document and those dropped as its duplicates), transitive.
    * ``edge_precision``: share of dropped documents whose ``duplicate_of`` is truly a duplicate.
    """
    import itertools

    idx = {x: i for i, x in enumerate(ids)}
    clusters: dict[str, list[int]] = {}
    for i, d in zip(dropped, duplicate_of, strict=True):
        clusters.setdefault(d, [idx[d]]).append(idx[i])
    pred = {p for m in clusters.values() for p in itertools.combinations(sorted(m), 2)}
    hit = len(pred & set(truth))
    edges = [tuple(sorted((idx[i], idx[d]))) for i, d in zip(dropped, duplicate_of, strict=True)]
    return {
        "precision": hit / max(len(pred), 1),
        "recall": hit / max(len(truth), 1),
        "edge_precision": sum(e in truth for e in edges) / max(len(edges), 1),
        "true_pairs": len(truth),
        "predicted_pairs": len(pred),
    }
