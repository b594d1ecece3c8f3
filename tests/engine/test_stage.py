"""The stage contract's setup rule: ``setup`` runs once per stage, lazily, wherever the stage lives."""

from __future__ import annotations

import multiprocessing
import pickle
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from curate.engine.stage import StageContext

MODULE = textwrap.dedent('''
    """Stages that log each setup call to a file, so a worker process's calls can be counted."""
    from pathlib import Path

    import polars as pl

    from curate import Filter, Rule, Stage, StageConfig, StageResult


    class Logged(Stage):
        class Config(StageConfig):
            log: str

        def setup(self):
            with open(self.config.log, "a") as f:
                f.write("setup\\n")
            self.loaded = "model"

        def process(self, df):
            return StageResult(kept=df.with_columns(pl.lit(self.loaded).alias("loaded")))


    class LoggedChild(Logged):
        """A subclass whose setup extends its parent's: both bodies run, once."""

        def setup(self):
            super().setup()
            self.extra = 1


    class LoggedFilter(Filter):
        """A filter reading setup state in rules(): Filter.process sets it up first."""

        class Config(StageConfig):
            log: str

        def setup(self):
            with open(self.config.log, "a") as f:
                f.write("setup\\n")
            self.limit = 3

        def rules(self, df):
            return [Rule("too_long", pl.col("text").str.len_chars() <= self.limit)]


    def run_in_worker(stage, n_batches):
        df = pl.DataFrame({"text": ["a", "abcd"]})
        out = [stage.process(df) for _ in range(n_batches)]
        return out[-1].kept.height
''')


@pytest.fixture
def mod(tmp_path, monkeypatch):
    d = tmp_path / "mods"
    d.mkdir()
    (d / "setup_once_stages.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(d))
    sys.modules.pop("setup_once_stages", None)
    import setup_once_stages

    return setup_once_stages


def _ctx(tmp_path: Path) -> StageContext:
    return StageContext(run_dir=tmp_path, work_dir=tmp_path, stage_index=0, stage_name="logged")


def _n_setups(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


DF = pl.DataFrame({"text": ["a", "abcd"]})


@pytest.mark.parametrize("cls", ["Logged", "LoggedChild", "LoggedFilter"])
def test_process_sets_up_once_without_an_explicit_setup(mod, tmp_path, cls):
    log = tmp_path / "log"
    stage_cls = getattr(mod, cls)
    stage = stage_cls(stage_cls.Config(log=str(log)), _ctx(tmp_path))
    assert _n_setups(log) == 0  # lazy: nothing loads at construction
    for _ in range(3):
        stage.process(DF)
    assert _n_setups(log) == 1


def test_explicit_setup_then_process_sets_up_once(mod, tmp_path):
    log = tmp_path / "log"
    stage = mod.LoggedChild(mod.LoggedChild.Config(log=str(log)), _ctx(tmp_path))
    stage.setup()
    stage.setup()
    res = stage.process(DF)
    assert _n_setups(log) == 1
    assert res.kept["loaded"].to_list() == ["model", "model"]
    assert stage.extra == 1


def test_failed_setup_is_retried(tmp_path):
    from curate.engine.stage import Stage, StageResult

    class Flaky(Stage):
        calls = 0

        def setup(self):
            type(self).calls += 1
            if type(self).calls == 1:
                raise OSError("model not there yet")

        def process(self, df):
            return StageResult(kept=df)

    stage = Flaky(Flaky.Config(), _ctx(tmp_path))
    with pytest.raises(OSError):
        stage.process(DF)
    stage.process(DF)
    stage.process(DF)
    assert Flaky.calls == 2


def _pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))


def test_pickled_before_setup_sets_up_once_in_the_worker(mod, tmp_path):
    log = tmp_path / "log"
    stage = mod.LoggedFilter(mod.LoggedFilter.Config(log=str(log)), _ctx(tmp_path))
    with _pool() as pool:
        kept = pool.submit(mod.run_in_worker, stage, 3).result()
    assert kept == 1
    assert _n_setups(log) == 1  # in the worker, once for three batches
    assert "_setup_done" not in stage.__dict__  # the driver's copy is untouched


def test_pickled_after_setup_is_not_set_up_again(mod, tmp_path):
    log = tmp_path / "log"
    stage = mod.Logged(mod.Logged.Config(log=str(log)), _ctx(tmp_path))
    stage.setup()
    copy = pickle.loads(pickle.dumps(stage))
    copy.process(DF)
    with _pool() as pool:
        assert pool.submit(mod.run_in_worker, stage, 2).result() == 2
    assert _n_setups(log) == 1  # the state setup built travelled with the stage
