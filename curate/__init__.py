"""curate: raw dumps and instruction data in, clean Parquet training shards out, and a model trained on them.

The Python API mirrors the CLI::

    from curate import load_spec, run_pipeline
    spec = load_spec("pipelines/web.yaml", overrides=["output.shard_rows=5000"])
    result = run_pipeline(spec, "out/web", workers=2)
    result.frame().collect()

Nothing heavy is imported here: ``curate.train`` must stay importable with only torch,
transformers, tokenizers, pyarrow and numpy installed.
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = {
    "load_spec": "curate.engine.spec",
    "spec_from_dict": "curate.engine.spec",
    "SpecError": "curate.engine.errors",
    "PipelineSpec": "curate.engine.spec",
    "run_pipeline": "curate.engine.runner",
    "RunResult": "curate.engine.runner",
    "RunRefused": "curate.engine.errors",
    "Stage": "curate.engine.stage",
    "Filter": "curate.engine.stage",
    "GlobalStage": "curate.engine.stage",
    "StageConfig": "curate.engine.stage",
    "StageResult": "curate.engine.stage",
    "Rule": "curate.engine.stage",
    "register": "curate.engine.registry",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'curate' has no attribute {name!r}")
