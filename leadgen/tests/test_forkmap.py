"""leadgen.forkmap: work done in forked processes comes back in order, errors come back as errors, and no worker
outlives the call however it ends."""

from __future__ import annotations

import os

import pytest

from leadgen.forkmap import WorkerFailed, forkmap


def _children() -> set[int]:
    """Live (or unreaped) children of this process, from /proc."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                        found.add(int(entry))
            except (OSError, ValueError):
                continue
    return found


def _square_and_pid(n: int) -> tuple[int, int]:
    return n * n, os.getpid()


def test_results_come_back_in_order_from_other_processes() -> None:
    before = _children()
    results = list(forkmap(_square_and_pid, range(50), processes=3))
    assert [square for square, _ in results] == [n * n for n in range(50)]
    pids = {pid for _, pid in results}
    assert len(pids) == 3 and os.getpid() not in pids
    assert _children() == before


def test_an_exception_in_a_worker_is_raised_in_the_caller_and_stops_the_workers() -> None:
    before = _children()

    def fail_on_seven(n: int) -> int:
        if n == 7:
            raise ValueError(f"bad item {n}")
        return n

    seen = []
    with pytest.raises(ValueError, match="bad item 7"):
        for value in forkmap(fail_on_seven, range(100), processes=2):
            seen.append(value)
    assert seen == list(range(7))
    assert _children() == before


def test_a_worker_that_dies_is_reported_and_closing_early_stops_the_rest() -> None:
    before = _children()

    def die_on_three(n: int) -> int:
        if n == 3:
            os._exit(9)
        return n

    with pytest.raises(WorkerFailed):
        list(forkmap(die_on_three, range(10), processes=2))
    results = forkmap(_square_and_pid, range(1000), processes=2)
    assert next(results)[0] == 0
    results.close()  # the caller stopped reading: workers and feeder stop
    assert _children() == before


def test_an_error_while_reading_the_items_is_raised_after_the_items_before_it() -> None:
    def items() -> object:
        yield 1
        yield 2
        raise OSError("the file went away")

    got = []
    with pytest.raises(OSError, match="went away"):
        for square, _pid in forkmap(_square_and_pid, items(), processes=2):
            got.append(square)
    assert got == [1, 4]
