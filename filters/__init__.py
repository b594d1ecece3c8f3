"""Quality-filter stages (installed as ``curate.filters``): extraction, language id, Gopher, C4,
FineWeb, URL, PII, code, length, normalisation, sampling, the quality classifier, perplexity
and reward-model scoring of SFT / preference rows.

Importing this package registers every stage (the registry imports it by name).
"""

from curate.filters import (  # noqa: F401  (imported to register the stages)
    c4,
    classifier,
    code_quality,
    extract,
    fineweb,
    gopher,
    langid,
    length,
    normalize,
    perplexity,
    pii,
    reward,
    sample,
    url,
)
