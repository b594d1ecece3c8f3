"""Deduplication stages (global): exact content hash, URL, MinHash-LSH near-duplicates, frequent lines.

Importing this package registers ``exact_dedup``, ``url_dedup``, ``minhash_dedup`` and ``line_dedup``.
"""

from curate.dedup.exact import ExactDedup
from curate.dedup.lines import LineDedup
from curate.dedup.minhash import MinHasher
from curate.dedup.near import MinhashDedup
from curate.dedup.url import UrlDedup

__all__ = ["ExactDedup", "LineDedup", "MinHasher", "MinhashDedup", "UrlDedup"]
