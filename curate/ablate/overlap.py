"""How much of each held-out text set an arm's training text already holds, verbatim.

A held-out set scored after training on text that contains it measures memorisation, not
generalisation, and an arm that removes repeats (dedup) is then penalised for it. So the ablation
reports, per arm and text set, the share of the set's word n-grams (13 words by default, lm-eval's
decontamination unit, normalised as `curate.decontam.ngrams` does) that occur anywhere in the arm's
training text, and how many of the set's documents are mostly contained.

Memory is the held-out sets' n-grams (a sorted ``uint64`` array) plus one batch of the arm's text:
the arm is streamed, never held whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from curate.decontam.ngrams import gram_hashes, words


@dataclass
class SetGrams:
    """The n-gram hashes of one text set: ``hashes[i]`` belongs to document ``doc[i]``."""

    hashes: np.ndarray  # uint64, every occurrence
    doc: np.ndarray     # int64
    n_docs: int


def set_grams(docs: list[str], n: int) -> SetGrams:
    """Every word n-gram of every document (documents shorter than n words have none)."""
    h, d = gram_hashes(words(docs), [n])[n]
    return SetGrams(hashes=h, doc=d.astype(np.int64), n_docs=len(docs))


class OverlapCounter:
    """Marks which of the held-out sets' n-grams occur in the text fed to :meth:`add`."""

    def __init__(self, sets: dict[str, list[str]], n: int = 13) -> None:
        self.n = n
        self.sets = {name: set_grams(docs, n) for name, docs in sets.items()}
        parts = [g.hashes for g in self.sets.values()]
        self.universe = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.uint64)
        self.found = np.zeros(self.universe.size, dtype=bool)

    def add(self, texts: list[str]) -> None:
        """Mark the held-out n-grams that occur in ``texts`` (one batch of training text)."""
        if not texts or not self.universe.size:
            return
        g = np.unique(gram_hashes(words(texts), [self.n])[self.n][0])
        if not g.size:
            return
        idx = np.searchsorted(self.universe, g)
        ok = idx < self.universe.size
        idx, g = idx[ok], g[ok]
        self.found[idx[self.universe[idx] == g]] = True

    def _hits(self, sg: SetGrams) -> np.ndarray:
        """For each n-gram occurrence of a set: was it found?"""
        return self.found[np.searchsorted(self.universe, sg.hashes)] if sg.hashes.size else np.zeros(0, bool)

    def doc_shares(self, name: str) -> np.ndarray:
        """Each document's share of n-grams found (NaN for a document shorter than n words)."""
        sg = self.sets[name]
        per_doc = np.bincount(sg.doc, minlength=sg.n_docs).astype(float)
        per_hit = np.bincount(sg.doc, weights=self._hits(sg), minlength=sg.n_docs)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(per_doc > 0, per_hit / per_doc, np.nan)

    def result(self) -> dict[str, dict[str, float | int]]:
        """Per set: the share of its n-gram occurrences found, and documents by share found."""
        out: dict[str, dict[str, float | int]] = {}
        for name, sg in self.sets.items():
            hit = self._hits(sg)
            share = self.doc_shares(name)
            share = share[~np.isnan(share)]
            out[name] = {
                "ngram": self.n,
                "ngrams": int(sg.hashes.size),
                "share": float(hit.mean()) if hit.size else 0.0,
                "docs_scored": int(share.size),
                "docs_over_10pct": int((share >= 0.1).sum()),
                "docs_over_50pct": int((share >= 0.5).sum()),
                "docs_over_90pct": int((share >= 0.9).sum()),
            }
        return out


def overlap(train_batches: Iterable[list[str]], sets: dict[str, list[str]], n: int = 13) -> dict:
    """The overlap of ``sets`` with the training text streamed as ``train_batches``."""
    c = OverlapCounter(sets, n)
    for batch in train_batches:
        c.add(batch)
    return c.result()
