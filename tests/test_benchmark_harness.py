"""The benchmarks' shared helpers: a timeout is a figure to record, not a crash."""

import time

import pytest

from benchmarks.harness import machine_load, ratio, seconds_until, wait_until


def test_wait_until_raises_timeout_error_which_callers_catch():
    with pytest.raises(TimeoutError):
        wait_until(lambda: False, timeout=0.05, interval=0.01)
    assert wait_until(lambda: 7, timeout=0.05) == 7


def test_a_drain_that_does_not_finish_is_recorded_as_none():
    assert seconds_until(lambda: False, timeout=0.05, interval=0.01) is None
    started = time.monotonic()
    done_at = started + 0.05
    took = seconds_until(lambda: time.monotonic() >= done_at, timeout=5, interval=0.01)
    assert took is not None and 0 <= took < 5


def test_ratio_and_machine_load():
    assert ratio(30.0, 20.0) == 1.5
    assert ratio(None, 20.0) is None and ratio(3.0, 0) is None
    load = machine_load()
    assert load["cores"] >= 1 and load["loadavg_1m"] >= 0
