"""Where everything lives inside an output folder (OUT). The output contract, in one place."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class RunLayout:
    """Paths of one run's output folder.

    ``data/`` shards, ``rejects/<stage>/`` dropped rows, ``manifest.json``, ``stats.json``,
    ``report.html`` and ``logs/`` are the contract; ``_work/`` holds resumable intermediate state
    (phase outputs, global stages' side files, done markers) and may be deleted after a run.
    """

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def rejects(self) -> Path:
        return self.root / "rejects"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def work(self) -> Path:
        return self.root / "_work"

    @property
    def spec(self) -> Path:
        return self.work / "spec.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    def done(self, name: str) -> Path:
        return self.work / "done" / f"{name}.json"

    def phase_output(self, phase: int) -> Path:
        return self.work / f"phase{phase}"

    def stage_work(self, stage_index: int, stage_name: str) -> Path:
        safe = stage_name.replace(":", "_").replace(".", "_")
        return self.work / f"stage{stage_index:02d}-{safe}"

    def stage_rejects(self, stage_index: int, stage_name: str) -> Path:
        safe = stage_name.replace(":", "_").replace(".", "_")
        return self.rejects / (f"{stage_index:02d}-{safe}" if stage_index >= 0 else safe)
