"""Normalised words and hashed word n-grams, vectorised over a batch of texts (Polars + NumPy).

Normalisation follows lm-eval's decontamination (``lm_eval/decontamination/janitor.py``: ``Janitor``
lowercases, deletes ``string.punctuation``, ``word_ngrams`` splits on whitespace and joins 13 words),
with three deliberate additions so that re-wrapped or re-spaced copies still match:

* a word hyphenated at a line break (``contami-\\n  nation``) is joined first (lm-eval would see two
  words, ``contami`` and ``nation``; a hyphen inside a line is deleted as lm-eval deletes it, so
  ``well-known`` is ``wellknown`` either way);
* soft hyphens and zero-width characters are deleted (they split no word visually);
* all letters are lowercased, not only ASCII ones (the same result on ASCII text).

Whitespace of any kind and amount separates words, so line wrapping, indentation, tabs and CRLF
never change the word sequence.

Each word is hashed once (Polars' 64-bit hash, seeded); an n-gram's hash is the polynomial
``sum(w[i + k] * P ** (n - 1 - k))`` modulo 2**64, built by Horner's rule, so the hashes of every
length from 1 to n cost n vector passes over the batch's words.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

# string.punctuation, as a character class: !"#$%&'()*+,-./ :;<=>?@ [\]^_` {|}~
PUNCTUATION = r"[!-/:-@\[-`{-~]"
LINE_BREAK_HYPHEN = r"(\w)-[ \t]*\r?\n\s*(\w)"
INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"  # soft hyphen, zero-width characters
DELETED = PUNCTUATION[:-1] + INVISIBLE + "]"  # one pass deletes both
WORD = r"\S+"
HASH_SEED = 0x5EED
P = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplication by it is a bijection mod 2**64


@dataclasses.dataclass
class Words:
    """The word hashes of a batch of texts: ``hashes[offsets[d]:offsets[d + 1]]`` are text ``d``'s."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, len = texts + 1

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def doc(self) -> np.ndarray:
        """The text index of every word."""
        return np.repeat(np.arange(self.counts.size), self.counts)


def normalize(texts: pl.Series) -> pl.Series:
    """The texts as lm-eval's janitor sees them (plus the additions in the module docstring)."""
    return (
        texts.fill_null("")
        .str.replace_all(LINE_BREAK_HYPHEN, "${1}${2}")
        .str.to_lowercase()
        .str.replace_all(DELETED, "")
    )


def words(texts: pl.Series | list[str]) -> Words:
    """Normalise, split on whitespace and hash every word of every text."""
    s = texts if isinstance(texts, pl.Series) else pl.Series(texts, dtype=pl.Utf8)
    lists = normalize(s.cast(pl.Utf8)).str.extract_all(WORD)
    counts = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = lists.explode().drop_nulls()
    hashes = flat.hash(HASH_SEED).to_numpy() if flat.len() else np.empty(0, np.uint64)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Words(hashes=hashes.astype(np.uint64, copy=False), offsets=offsets)


def gram_hashes(w: Words, lengths: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each m in ``lengths``: ``(hashes, text index)`` of every m-gram that lies inside one text."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if not lengths:
        return out
    total = w.hashes.size
    doc = w.doc
    # an m-gram starting at word i lies inside its text when i + m <= the end of i's text
    room = w.offsets[1:][doc] - np.arange(total)  # words from i to the end of its text
    h = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for m in range(1, max(lengths) + 1):
            if total < m:
                break
            # Horner: the m-gram at i is the (m-1)-gram at i times P plus word i + m - 1
            h = h[: total - m + 1] * P + w.hashes[m - 1 :]
            if m in lengths:
                inside = np.flatnonzero(room[: total - m + 1] >= m)
                out[m] = (h[inside], doc[inside])
    for m in lengths:
        out.setdefault(m, (np.empty(0, np.uint64), np.empty(0, np.int64)))
    return out


def whole_hashes(w: Words) -> np.ndarray:
    """The hash of each text's whole word sequence (the m-gram hash with m = its word count)."""
    out = np.zeros(w.counts.size, dtype=np.uint64)
    if not w.hashes.size:
        return out
    counts = w.counts
    # h(text) = sum_k w_k * P ** (len - 1 - k): weight every word by P ** (words after it)
    after = (w.offsets[1:][w.doc] - 1 - np.arange(w.hashes.size)).astype(np.int64)
    powers = _powers(int(counts.max()))
    with np.errstate(over="ignore"):
        terms = w.hashes * powers[after]
    nonempty = counts > 0
    out[nonempty] = np.add.reduceat(terms, w.offsets[:-1][nonempty])
    return out


def _powers(n: int) -> np.ndarray:
    p = np.ones(max(n, 1), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(1, n):
            p[i] = p[i - 1] * P
    return p
