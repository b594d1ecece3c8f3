"""The driver thread that works while Ray starts (ray_executor._DriverWork): no Ray needed."""

from __future__ import annotations

import collections
import threading
import time

import pytest

from curate.engine.errors import TaskFailed
from curate.engine.ray_executor import _DriverWork


def test_driver_and_ray_loop_share_the_queue_without_losing_or_repeating_a_task():
    ran_in_driver: list[int] = []

    def fn(t: int) -> dict:
        time.sleep(0.002)
        return {"t": t}

    queue = collections.deque(range(200))
    work = _DriverWork(fn, queue)
    taken_by_loop = []
    while True:  # the Ray loop's side: take tasks as fast as it can
        t = work.take()
        if t is None:
            break
        taken_by_loop.append(t)
    work.thread.join()
    got: dict[int, dict] = {}
    work.hand_on(lambda t, r: got.__setitem__(t, r), ran_in_driver)
    assert sorted(taken_by_loop + list(got)) == list(range(200))  # each task exactly once
    assert all(got[t] == {"t": t} for t in got)
    assert len(ran_in_driver) == len(got) > 0


def test_the_driver_keeps_taking_tasks_until_the_queue_is_empty():
    gate = threading.Event()

    def fn(t: int) -> dict:
        gate.wait(5)
        return {}

    queue = collections.deque(range(5))
    work = _DriverWork(fn, queue)
    time.sleep(0.05)
    assert len(queue) == 4  # one under way in the driver, none lost
    gate.set()
    work.thread.join(5)
    assert not work.busy() and not queue
    done: list = []
    work.hand_on(lambda t, r: done.append(t), [])
    assert done == [0, 1, 2, 3, 4]


def test_a_failed_driver_task_is_raised_with_its_name():
    def fn(t):
        raise ValueError(f"bad input {t}")

    work = _DriverWork(fn, collections.deque(["a", "b"]))
    work.thread.join(5)
    with pytest.raises(TaskFailed, match="bad input a"):
        work.hand_on(lambda t, r: None, [])
    assert list(work.queue) == ["b"]  # it stops at the first failure
