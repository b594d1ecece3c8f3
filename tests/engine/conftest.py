"""Engine fixtures: a JSONL corpus and a module of test stages importable by worker processes."""

from __future__ import annotations

import json
import os
import random
import sys
import textwrap
from pathlib import Path

import pytest

STAGES_MODULE = textwrap.dedent('''
    """Stages used by the engine tests (loaded by explicit import path, as users do)."""
    import json
    import time
    from pathlib import Path

    import polars as pl

    from curate import Filter, GlobalStage, Rule, Stage, StageConfig, StageResult
    from curate.engine.stage import ReduceStep


    class MinChars(Filter):
        """Drop documents shorter than min_chars."""

        class Config(StageConfig):
            min_chars: int = 20
            sleep: float = 0.0

        def rules(self, df):
            if self.config.sleep:
                time.sleep(self.config.sleep)
            return [Rule("too_short", pl.col("text").str.len_chars() >= self.config.min_chars)]


    class DieInTask(Stage):
        """Kill its own process (os._exit(3)) in task `task_id`, `times` times in all: each death
        leaves a file in the folder `deaths`, so a retry knows how often it has died."""

        class Config(StageConfig):
            task_id: str = "00001"
            times: int = 1
            deaths: str = "deaths"

        def process(self, df):
            import os

            if self.ctx.task_id == self.config.task_id:
                d = Path(self.config.deaths)
                d.mkdir(parents=True, exist_ok=True)
                n = len(list(d.iterdir()))
                if n < self.config.times:
                    (d / f"death-{n}").write_text(str(os.getpid()))
                    os._exit(3)
            return StageResult(kept=df)


    class Upper(Stage):
        """Upper-case the text (a map stage that rewrites a column)."""

        def process(self, df):
            return StageResult(kept=df.with_columns(pl.col("text").str.to_uppercase()))


    class PackPairs(Stage):
        """Join every two documents into one row, carrying an odd one across batches (tests flush)."""

        def setup(self):
            self.carry = None

        def process(self, df):
            if self.carry is not None:
                df = pl.concat([self.carry, df], how="diagonal_relaxed")
                n_new = df.height - 1
            else:
                n_new = df.height
            even = df.height - df.height % 2
            self.carry = df.slice(even) if df.height % 2 else None
            pairs = df.slice(0, even).select(pl.col("id"), pl.col("text"))
            joined = pl.DataFrame({
                "id": pairs["id"].gather_every(2),
                "text": [a + " || " + b for a, b in zip(pairs["text"].gather_every(2), pairs["text"].gather_every(2, offset=1))],
            })
            return StageResult(kept=joined, consumed=n_new)

        def flush(self):
            if self.carry is None:
                return None
            out = self.carry.select("id", "text")
            self.carry = None
            return StageResult(kept=out, consumed=0)


    class RareSource(GlobalStage):
        """Drop every document whose first word occurs fewer than min_count times in the corpus."""

        class Config(StageConfig):
            min_count: int = 2
            partitions: int = 3

        def setup(self):
            self.parts = []

        def collect(self, df):
            self.parts.append(df.select(pl.col("text").str.split(" ").list.first().alias("w")))

        def finish_collect(self):
            df = pl.concat(self.parts) if self.parts else pl.DataFrame({"w": []}, schema={"w": pl.Utf8})
            counts = df.group_by("w").len()
            counts = counts.with_columns((pl.col("w").hash(seed=1) % self.config.partitions).alias("p"))
            for p in range(self.config.partitions):
                d = self.ctx.work_dir / "counts" / f"p{p}"
                d.mkdir(parents=True, exist_ok=True)
                counts.filter(pl.col("p") == p).drop("p").write_parquet(d / f"{self.ctx.task_id}.parquet")

        def reduce_steps(self):
            return [ReduceStep("count", self.config.partitions, self._reduce)]

        def _reduce(self, part):
            files = sorted((self.ctx.work_dir / "counts" / f"p{part}").glob("*.parquet"))
            df = pl.concat([pl.read_parquet(f) for f in files]).group_by("w").agg(pl.col("len").sum())
            rare = df.filter(pl.col("len") < self.config.min_count).sort("w")
            out = self.ctx.work_dir / "rare"
            out.mkdir(exist_ok=True)
            rare.write_parquet(out / f"p{part}.parquet")
            return {"rare_words": rare.height}

        def reduce_summary(self):
            files = sorted((self.ctx.work_dir / "rare").glob("*.parquet"))
            return {"rare_words": sum(pl.read_parquet(f).height for f in files)}

        def process(self, df):
            files = sorted((self.ctx.work_dir / "rare").glob("*.parquet"))
            rare = set(pl.concat([pl.read_parquet(f) for f in files])["w"].to_list()) if files else set()
            first = df["text"].str.split(" ").list.first()
            df = df.with_columns(pl.when(first.is_in(list(rare))).then(pl.lit("rare_first_word")).otherwise(None).alias("reason"))
            from curate.engine.stage import split_by_reason
            return split_by_reason(df)
''')  # noqa: E501


@pytest.fixture
def stages_module(tmp_path, monkeypatch) -> str:
    """Write the test stages module and make it importable here and in spawned workers."""
    d = tmp_path / "mods"
    d.mkdir()
    (d / "engine_test_stages.py").write_text(STAGES_MODULE)
    monkeypatch.syspath_prepend(str(d))
    monkeypatch.setenv("PYTHONPATH", str(d) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    sys.modules.pop("engine_test_stages", None)
    return "engine_test_stages"


def write_corpus(folder: Path, n_files: int = 3, rows: int = 400, seed: int = 0, bad_every: int = 0) -> None:
    """JSONL files of short random documents (some with extra metadata keys)."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(60)]
    folder.mkdir(parents=True, exist_ok=True)
    line = 0
    for f in range(n_files):
        with open(folder / f"part{f}.jsonl", "w") as fh:
            for i in range(rows):
                line += 1
                if bad_every and line % bad_every == 0:
                    fh.write("{not json\n")
                    continue
                rec = {"text": " ".join(rng.choice(words) for _ in range(rng.randint(1, 12))), "n": i}
                if f == 1:
                    rec["extra"] = f"only-in-file-1-{i}"
                fh.write(json.dumps(rec) + "\n")


@pytest.fixture
def corpus(tmp_path) -> Path:
    d = tmp_path / "corpus"
    write_corpus(d, bad_every=97)
    return d
