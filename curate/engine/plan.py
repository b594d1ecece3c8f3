"""The planner: cut the stage list into phases at global stages, and the inputs into task units.

Phase 0 reads the inputs and runs the map stages up to the first global stage, whose ``collect``
sees the phase's output. Each later phase starts with the previous global stage's ``apply``
(its ``process``), runs the following map stages, and ends with the next global stage's
``collect`` - or with the final Parquet writer. One task = one unit of input (a file, or a group of
small files) through one phase; the same unit index carries through every phase.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from curate.engine.registry import resolve_stage
from curate.engine.spec import PipelineSpec
from curate.io.paths import relative_name
from curate.io.storage import is_uri


@dataclasses.dataclass(frozen=True)
class Phase:
    """A run of stages between barriers. ``stages`` are indices into ``spec.stages``."""

    index: int
    stages: tuple[int, ...]
    collect: int | None  # the global stage whose collect ends this phase; None for the last phase

    @property
    def final(self) -> bool:
        return self.collect is None


@dataclasses.dataclass(frozen=True)
class InputFile:
    path: str
    relpath: str  # stable name used in ids


@dataclasses.dataclass(frozen=True)
class Unit:
    """The input of one task: files of one input (source + reader), read in order."""

    index: int
    input_index: int
    files: tuple[InputFile, ...]

    @property
    def task_id(self) -> str:
        return f"{self.index:05d}"


def plan_phases(spec: PipelineSpec) -> list[Phase]:
    phases: list[Phase] = []
    current: list[int] = []
    for i, s in enumerate(spec.stages):
        if resolve_stage(s.stage).is_global:
            phases.append(Phase(len(phases), tuple(current), collect=i))
            current = [i]  # the next phase starts by applying this global stage
        else:
            current.append(i)
    phases.append(Phase(len(phases), tuple(current), collect=None))
    return phases


def plan_units(spec: PipelineSpec) -> list[Unit]:
    """Expand every input's globs into task units, in a deterministic order."""
    from curate.io.readers.base import readers

    units: list[Unit] = []
    base = Path.cwd()
    for i, inp in enumerate(spec.inputs):
        reader_cls = readers()[inp.reader]
        reader = reader_cls(reader_cls.Config(**inp.options), inp.source)
        seen: set[str] = set()
        files: list[InputFile] = []
        for pattern in inp.paths:
            for p in reader.list_files(pattern, base):
                key = p if is_uri(p) else os.path.realpath(p)
                if key in seen:  # the same file named by two patterns is read once
                    continue
                seen.add(key)
                files.append(InputFile(p, relative_name(p, pattern, base)))
        per = max(1, reader_cls.files_per_task)
        for start in range(0, len(files), per):
            units.append(Unit(len(units), i, tuple(files[start : start + per])))
    return units
