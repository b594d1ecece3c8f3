"""Stage registry: built-in stages by name, custom stages by explicit import path.

``stage: gopher_quality`` finds a built-in stage. ``stage: mypkg.mod:MyStage`` imports ``mypkg.mod``
and uses ``MyStage`` - that runs the module's code, which is why it must be spelled out in full
in the pipeline file and is never guessed.
"""

from __future__ import annotations

import importlib

from curate.engine.stage import Stage

_STAGES: dict[str, type[Stage]] = {}

# Packages whose import registers built-in stages. Each owns its stages; listed here so that
# `curate stages` and spec validation see every built-in without importing the world up front.
BUILTIN_MODULES = (
    "curate.filters",
    "curate.dedup",
    "curate.mix.stage",  # the package itself defers the stage (see curate/mix/__init__.py)
    "curate.format",
    "curate.sft",
    "curate.decontam",
)
_loaded = False


def register(name: str):
    """Class decorator: register a :class:`Stage` subclass under ``name``."""

    def deco(cls: type[Stage]) -> type[Stage]:
        if name in _STAGES and _STAGES[name] is not cls:
            raise ValueError(f"stage {name!r} is registered twice ({_STAGES[name]} and {cls})")
        cls.name = name
        _STAGES[name] = cls
        return cls

    return deco


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    for mod in BUILTIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a package not built yet; any other import error is real
            if e.name != mod:
                raise
    _loaded = True


def builtin_stages() -> dict[str, type[Stage]]:
    """All built-in stages by name, sorted."""
    _load_builtins()
    return dict(sorted(_STAGES.items()))


def is_import_path(name: str) -> bool:
    return ":" in name


def resolve_stage(name: str) -> type[Stage]:
    """The stage class for a built-in name or an explicit ``module:Class`` path (runs that module)."""
    if is_import_path(name):
        module, _, attr = name.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if not (isinstance(cls, type) and issubclass(cls, Stage)):
            raise TypeError(f"{name} is not a curate Stage subclass")
        if not cls.name:
            cls.name = attr
        return cls
    stages = builtin_stages()
    if name not in stages:
        raise KeyError(name)
    return stages[name]
