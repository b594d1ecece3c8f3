"""`curate ablate`: train the same model on several data arms at equal tokens and compare them.

    from curate.ablate import load_ablation, run_ablation
    result = run_ablation(load_ablation("ablation.yaml"))   # OUT/ablation.json + OUT/ablation.html

Modules: config (the YAML, validated), arms (prepare each arm's shards and lineage), scoring
(held-out bits per byte and tasks, through curate.eval), runner (train every arm x seed), report
(the HTML page).
"""

from __future__ import annotations

from .config import AblationConfig, load_ablation

__all__ = ["AblationConfig", "load_ablation", "run_ablation"]


def run_ablation(*args, **kw):
    """See :func:`curate.ablate.runner.run_ablation` (imported lazily: it needs torch)."""
    from .runner import run_ablation as _run

    return _run(*args, **kw)
