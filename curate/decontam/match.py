"""Match a batch of texts against a :class:`~curate.decontam.index.BenchmarkIndex`, vectorised.

For each text: the number of distinct benchmark n-grams it contains plus the number of distinct
short benchmark texts it contains whole (as a contiguous word sequence), and the benchmark item it
shares the most of them with (ties: the lowest item number). One ``np.searchsorted`` per length
over the batch's hashes; no per-document Python.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from curate.decontam.index import BenchmarkIndex
from curate.decontam.ngrams import P, words


@dataclasses.dataclass
class Matches:
    """Per text: ``hits`` (int32), and for texts with hits the item's ``benchmark`` and ``row``."""

    hits: np.ndarray
    item: np.ndarray  # int64, -1 where no hit

    def benchmark(self, index: BenchmarkIndex) -> pl.Series:
        names = pl.Series(index.names, dtype=pl.Utf8)
        has = self.item >= 0
        codes = np.where(has, np.asarray(index.item_bench)[np.where(has, self.item, 0)], 0)
        out = names.gather(codes.astype(np.int64)) if len(index.names) else pl.Series([None] * has.size)
        return pl.select(pl.when(pl.Series(has)).then(out).otherwise(None)).to_series().alias(
            "contamination_benchmark"
        )

    def row(self, index: BenchmarkIndex) -> pl.Series:
        has = self.item >= 0
        rows = np.where(has, np.asarray(index.item_row)[np.where(has, self.item, 0)], 0)
        return pl.Series("contamination_item", rows, dtype=pl.Int64).set(pl.Series(~has), None)


_FILTERS: dict[int, tuple[np.ndarray, np.ndarray, np.uint64]] = {}  # id(table) -> (table, bits, mask)


def _filter(table: np.ndarray) -> tuple[np.ndarray, np.uint64]:
    """A one-probe filter for a sorted hash table: ``bits[h & mask]`` is False for most hashes not in
    it (about 32 bits per entry, at most 2**24), so the binary search sees only the candidates."""
    hit = _FILTERS.get(id(table))
    if hit is not None and hit[0] is table:
        return hit[1], hit[2]
    size = 1 << min(max(int(table.size).bit_length() + 5, 12), 24)
    mask = np.uint64(size - 1)
    bits = np.zeros(size, dtype=bool)
    bits[np.asarray(table) & mask] = True
    if len(_FILTERS) > 32:
        _FILTERS.clear()
    _FILTERS[id(table)] = (table, bits, mask)
    return bits, mask


def _lookup(table: np.ndarray, items: np.ndarray, h: np.ndarray, room: np.ndarray, m: int):
    """(word positions whose m-gram hash is in the sorted ``table`` and lies in one text, items)."""
    if not table.size or not h.size:
        return np.empty(0, np.int64), np.empty(0, np.int32)
    # Most n-grams are in no benchmark: one probe into the filter drops them before the searches
    bits, mask = _filter(table)
    cand = np.flatnonzero(bits[h & mask])
    cand = cand[room[cand] >= m]  # the m words after i stay inside i's text
    hc = h[cand]
    pos = np.minimum(np.searchsorted(table, hc), table.size - 1)
    found = np.asarray(table[pos]) == hc
    return cand[found], np.asarray(items[pos[found]])


def match(texts: pl.Series | list[str], index: BenchmarkIndex) -> Matches:
    """Contamination of each text against ``index``."""
    w = words(texts)
    n_texts = w.counts.size
    total = w.hashes.size
    doc = w.doc
    room = w.offsets[1:][doc] - np.arange(total)  # words from i to the end of its text
    tables: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for m, t in index.short.items():
        tables.setdefault(m, []).append(t)
    tables.setdefault(index.ngram, []).append((index.grams, index.gram_item))
    hit_doc, hit_hash, hit_item = [], [], []
    h = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for m in range(1, max(tables) + 1):
            if total < m:
                break
            h = h[: total - m + 1] * P + w.hashes[m - 1 :]  # Horner, as ngrams.gram_hashes
            for table, items in tables.get(m, []):
                at, it = _lookup(table, items, h, room, m)
                if it.size:
                    hit_doc.append(doc[at])
                    # a short text's hash and an n-gram's can only meet by a 2**-64 accident: the
                    # length goes into the key so that the distinct count keeps them apart
                    hit_hash.append(h[at] ^ np.uint64(m))
                    hit_item.append(it.astype(np.int64))
    hits = np.zeros(n_texts, dtype=np.int32)
    item = np.full(n_texts, -1, dtype=np.int64)
    if not hit_doc:
        return Matches(hits, item)
    doc = np.concatenate(hit_doc)
    hh = np.concatenate(hit_hash)
    it = np.concatenate(hit_item)
    # distinct (doc, hash): a repeated n-gram counts once, as in the set-intersection definition
    order = np.lexsort((hh, doc))
    doc, hh, it = doc[order], hh[order], it[order]
    keep = np.ones(doc.size, dtype=bool)
    keep[1:] = (doc[1:] != doc[:-1]) | (hh[1:] != hh[:-1])
    doc, it = doc[keep], it[keep]
    hits = np.bincount(doc, minlength=n_texts).astype(np.int32)
    # the item with the most distinct hits per doc: count (doc, item) pairs, take each doc's largest
    pair_order = np.lexsort((it, doc))
    doc, it = doc[pair_order], it[pair_order]
    starts = np.flatnonzero(np.r_[True, (doc[1:] != doc[:-1]) | (it[1:] != it[:-1])])
    counts = np.diff(np.r_[starts, doc.size])
    p_doc, p_item = doc[starts], it[starts]
    best = np.lexsort((p_item, -counts, p_doc))  # per doc: most hits first, then the lowest item
    first = np.r_[True, p_doc[best][1:] != p_doc[best][:-1]]
    item[p_doc[best][first]] = p_item[best][first]
    return Matches(hits, item)
