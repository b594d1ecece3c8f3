"""Deduplication stages, all global (collect per shard -> reduce on disk -> drop per shard).

Importing this package registers:

* ``exact_dedup`` - identical text after normalisation (``whitespace`` on by default, ``lowercase``
  and ``punctuation`` optional); 128-bit xxh3 keys; reason ``exact_duplicate``.
* ``url_dedup`` - one record per normalised URL (scheme, ``www.``, fragment, trailing slash ignored;
  keeps the longest text by default); reason ``url_duplicate``.
* ``minhash_dedup`` - near-duplicates by MinHash-LSH (``ngram``, ``num_perm`` or ``bands`` x ``rows``,
  ``threshold``, ``tokenizer: words|chars``, ``seed``, ``verify``, ``keep: first|longest|quality``);
  reason ``near_duplicate``. With the default ``verify: true`` a candidate pair counts only if the
  exact Jaccard of its shingle sets reaches ``threshold``.
* ``line_dedup`` - CCNet-style removal of lines seen more than ``max_occurrences`` times; a document
  left empty is dropped with ``line_dedup_empty``.

Dropped rows carry ``duplicate_of`` (the kept id) and ``cluster_size``. ``stats.json`` -> ``global``
holds each stage's summary (clusters, size histogram, sample clusters for the report). Survivors
and choices never depend on the number of shards or workers: ties always fall to the smallest id.

```yaml
stages:
  - url_dedup: {}
  - exact_dedup: {lowercase: false}
  - line_dedup: {max_occurrences: 10}
  - minhash_dedup: {ngram: 5, num_perm: 128, threshold: 0.8, keep: longest}
```
"""

from curate.dedup.exact import ExactDedup
from curate.dedup.lines import LineDedup
from curate.dedup.minhash import MinHasher
from curate.dedup.near import MinhashDedup
from curate.dedup.url import UrlDedup

__all__ = ["ExactDedup", "LineDedup", "MinHasher", "MinhashDedup", "UrlDedup"]
