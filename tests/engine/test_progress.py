"""Progress moves within a file: the rows a running task reads reach the bar batch by batch
(in process and from pool workers), not only when the task ends (issue 15 item 17)."""

from __future__ import annotations

import json

from curate.engine import progress
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict


def _corpus(tmp_path, files: int, rows: int) -> None:
    (tmp_path / "c").mkdir()
    for f in range(files):
        lines = [json.dumps({"text": f"document {f}-{i} " + "word " * 20}) for i in range(rows)]
        (tmp_path / "c" / f"{f}.jsonl").write_text("\n".join(lines) + "\n")


def _record(monkeypatch) -> list[tuple[str, str, int]]:
    calls: list[tuple[str, str, int]] = []
    running, advance = progress.Progress.running, progress.Progress.advance

    def on_running(self, task, rows):
        calls.append(("running", task, rows))
        running(self, task, rows)

    def on_advance(self, rows, task=None):
        calls.append(("done", task, rows))
        advance(self, rows, task)

    monkeypatch.setattr(progress.Progress, "running", on_running)
    monkeypatch.setattr(progress.Progress, "advance", on_advance)
    return calls


def _spec(tmp_path):
    return spec_from_dict({
        "name": "p",
        "inputs": [{"source": "s", "reader": "jsonl", "paths": str(tmp_path / "c/*.jsonl"),
                    "batch_rows": 10}],
        "stages": [],
    })


def test_one_multi_batch_file_reports_every_batch_before_it_ends(tmp_path, monkeypatch):
    _corpus(tmp_path, files=1, rows=95)
    calls = _record(monkeypatch)
    run_pipeline(_spec(tmp_path), tmp_path / "out", workers=1, quiet=True)
    phase0 = [c for c in calls if c[1] and c[1].startswith("p0-")]
    running = [c for c in phase0 if c[0] == "running"]
    assert len(running) == 10, phase0  # 9 full batches of 10 and one of 5
    assert sum(r[2] for r in running) == 95
    assert phase0[-1] == ("done", running[0][1], 95), phase0  # the task's end comes after its batches


def test_pool_workers_report_rows_while_their_task_runs(tmp_path, monkeypatch):
    _corpus(tmp_path, files=2, rows=40)
    calls = _record(monkeypatch)
    run_pipeline(_spec(tmp_path), tmp_path / "out", workers=2, quiet=True)
    for task in {c[1] for c in calls if c[0] == "done" and c[1] and c[1].startswith("p0-")}:
        mine = [c for c in calls if c[1] == task]
        assert mine[0][0] == "running" and mine[0][2] > 0, mine  # the first batch is sent at once
        assert mine[-1] == ("done", task, 40), mine


def test_live_rows_count_in_docs_until_the_task_ends_and_late_messages_are_ignored():
    bar = progress.Progress("x", total=2, quiet=True)
    bar.running("a", 30)
    bar.running("a", 20)
    bar.running("b", 5)
    assert bar.docs == 55
    bar.advance(60, "a")  # the task's final count replaces its partial one
    assert bar.docs == 65
    bar.running("a", 7)  # a message that arrives after its task ended
    assert bar.docs == 65
