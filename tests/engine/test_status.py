"""`curate status` after a failure gives advice that works: resume as it is, or, when the
pipeline changed since, the --force (and the keys) a re-run needs."""

from __future__ import annotations

import json
import shlex

from click.testing import CliRunner

from curate.cli import main


def _write(tmp_path, stages_module, sleep: float):
    doc = {
        "name": "s",
        "inputs": [{"source": "web", "reader": "jsonl", "paths": "corpus/*.jsonl"}],
        "stages": [{"stage": f"{stages_module}:MinChars", "config": {"min_chars": 5, "sleep": sleep}}],
    }
    (tmp_path / "p.yaml").write_text(json.dumps(doc))


def _next(status: str) -> str:
    return next(x.strip()[len("next: "):] for x in status.splitlines() if x.strip().startswith("next: "))


def test_status_after_failure_names_the_command_that_resumes(tmp_path, corpus, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, stages_module, sleep=-1.0)  # time.sleep(-1): every task raises ValueError
    cli = CliRunner()
    r = cli.invoke(main, ["run", "p.yaml", "-o", "out", "-q"])
    assert r.exit_code == 1, r.output
    st = cli.invoke(main, ["status", "out"]).output
    assert "state: failed: TaskFailed" in st, st
    out, pipeline = tmp_path / "out", tmp_path / "p.yaml"
    assert _next(st) == f"fix the cause, then resume with: curate run {pipeline} -o {out}", st

    # the fix changes the config: a plain re-run would be refused, and status says so and how
    _write(tmp_path, stages_module, sleep=0.0)
    monkeypatch.chdir(tmp_path / "corpus")  # status from elsewhere: the run's own folder is used
    st = cli.invoke(main, ["status", str(out)]).output
    advice = _next(st)
    assert advice.startswith(
        f"re-running {pipeline} here is refused: {out} holds a run with a different config "
        "(changed: stages[0].config.sleep)"
    ), st
    assert advice.endswith(f"(e.g. curate run {pipeline} -o {out} --force)"), st
    monkeypatch.chdir(tmp_path)
    refused = cli.invoke(main, ["run", "p.yaml", "-o", "out", "-q"])
    assert refused.exit_code == 2 and "different config" in refused.output
    command = shlex.split(advice[advice.index("(e.g. ") + 6:-1])
    assert command[:2] == ["curate", "run"]
    done = cli.invoke(main, command[1:] + ["-q"])
    assert done.exit_code == 0, done.output
    assert "state: finished" in cli.invoke(main, ["status", "out"]).output


def test_status_of_a_failed_run_keeps_its_overrides(tmp_path, corpus, stages_module, monkeypatch):
    """The --set overrides of the run are part of the command that resumes it."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, stages_module, sleep=0.0)
    cli = CliRunner()
    r = cli.invoke(main, ["run", "p.yaml", "-o", "out", "-q", "--set", "stages.0.sleep=-1"])
    assert r.exit_code == 1, r.output
    st = cli.invoke(main, ["status", "out"]).output
    want = (f"fix the cause, then resume with: curate run {tmp_path / 'p.yaml'} -o {tmp_path / 'out'} "
            "--set stages.0.sleep=-1")
    assert _next(st) == want, st


def test_eta_uses_the_seconds_tasks_took_in_this_run_per_phase():
    """`curate status` ETA: observed per-phase task seconds, run `workers` at a time (item 17)."""
    from curate.inspect import phase_eta

    events = [{"event": "run_start", "t": 0}]
    events += [{"event": "task_done", "task": f"p0-{i:05d}", "seconds": 10.0, "rows": 500} for i in range(4)]
    # a reduce task is not a phase task
    events += [{"event": "task_done", "task": "r01-0-bands-0000", "seconds": 99.0}]
    events += [{"event": "task_done", "task": "p1-00000", "seconds": 2.0, "rows": 400}]
    # phase 0: 4 left x 10 s on 2 workers = 20 s; phase 1: 3 left x 2 s, 2 at a time = 4 s
    eta = phase_eta(events, {0: 4, 1: 3}, workers=2, elapsed=50.0)
    assert eta == ("rate: 40 documents/s read, 8.4 s per task observed in this run; "
                   "ETA ~24 s for the 7 phase task(s) left")
    # a phase with no task seen yet is costed at the mean over all phase tasks seen (8.4 s)
    assert "ETA ~16 s" in phase_eta(events, {2: 2}, workers=1, elapsed=50.0)
    assert phase_eta([{"event": "run_start", "t": 0}], {0: 3}, workers=2, elapsed=5.0) is None
