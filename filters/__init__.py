"""Quality-filter stages (installed as ``curate.filters``): extraction, language id, Gopher, C4,
FineWeb, URL, PII, code, length, normalisation and the fastText quality classifier."""
