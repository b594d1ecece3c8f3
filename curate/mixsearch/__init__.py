"""`curate mix search`: mix weights from many small proxy models and a regression (RegMix).

    from curate.mixsearch import load_search, run_search
    doc = run_search(load_search("search.yaml"))   # OUT/mix.yaml, candidates.csv, search.json, search.html

Modules: config (SEARCH.yaml, validated), sampler (Dirichlet candidates inside box bounds),
sources (the sources' documents and tokens; each candidate's data by the `mix` arithmetic),
regression (the fits, k-fold Spearman, the search over the fit), runner (the proxies through
`curate.ablate`'s runner, then fit and search), validate (the chosen, natural and uniform mixes
at a larger budget: an ablation), mixblock (mix.yaml, candidates.csv), report (search.html).
"""

from __future__ import annotations

from .config import SearchConfig, SearchError, load_search

__all__ = ["SearchConfig", "SearchError", "load_search", "run_search"]


def run_search(*args, **kw):
    """See :func:`curate.mixsearch.runner.run_search` (imported lazily: it needs torch)."""
    from .runner import run_search as _run

    return _run(*args, **kw)
