"""The engine's exceptions, in one module every other engine module may import (it imports nothing).

``SpecError`` (exit 2): the pipeline file cannot run. ``RunRefused`` (exit 2): the run cannot start
in this folder. ``TaskFailed`` (exit 1): a task raised, or its worker died twice.
``StageContractError``: a stage's rows do not add up, a bug in that stage.
"""

from __future__ import annotations


class SpecError(Exception):
    """A pipeline file that cannot run; ``problems`` are ``FILE:LINE: message`` strings."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class RunRefused(Exception):
    """The run cannot start (locked folder, changed config); the message says what to do."""


class TaskFailed(RuntimeError):
    """A task raised; carries the task's name so the user knows which input to look at."""


class StageContractError(RuntimeError):
    """A stage returned rows that do not add up (``in != out + dropped``): a bug in that stage."""
