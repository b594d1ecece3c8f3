"""The few names the engine, the readers and the writer all agree on, in a module each may import.

``StageConfig`` is the base of every typed config (stages and readers alike) and ``SCRATCH_PREFIX``
marks the scratch columns stages share and the writer never writes. They live here, below
``curate.io`` and ``curate.engine``, so that io never imports the engine (an arrow running back up).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

SCRATCH_PREFIX = "__"


class StageConfig(BaseModel):
    """Base of every stage's config. Unknown keys are errors; field docs become the YAML reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)
