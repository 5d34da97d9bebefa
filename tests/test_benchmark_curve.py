"""The SPO-vs-SB3 benchmark's equal-return comparison: the curve keeps its evaluations out of the training time,
and time-to-reach takes the first evaluation at or above the threshold."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import train_throughput as tt  # noqa: E402


@pytest.fixture
def clock(monkeypatch):
    """A fake clock shared by both of the benchmark's clocks, and an evaluation that costs 10 s of it."""
    now = [0.0]
    monkeypatch.setattr(tt, "CLOCKS", {"wall": lambda: now[0], "cpu": lambda: now[0]})
    returns = iter([100.0, 900.0, 2500.0, 2400.0])

    def evaluate(act, env_id, episodes):
        now[0] += 10.0
        return next(returns)

    monkeypatch.setattr(tt, "evaluate", evaluate)
    return now


def test_curve_records_training_seconds_without_its_own_evaluations(clock):
    curve = tt.Curve(every=2, act=None, env_id="Hopper-v5", episodes=1)
    for _ in range(8):  # each update costs 1 s of training; every second one is followed by an evaluation
        clock[0] += 1.0
        curve.after_update()
    assert [p["steps"] for p in curve.points] == [4096, 8192, 12288, 16384]
    assert [p["seconds"]["cpu"] for p in curve.points] == [2.0, 4.0, 6.0, 8.0]
    assert curve.spent["cpu"] == 40.0
    assert tt.time_to_reach(curve.points, 900.0) == 4.0
    assert tt.time_to_reach(curve.points, 2450.0) == 6.0  # the first point above, not the last
    assert tt.time_to_reach(curve.points, 3000.0) is None


def test_reach_table_compares_medians_over_seeds_that_reached_in_both():
    res = {
        "ours": {"cpu_s_to_reach": {"1000": [10.0, 20.0, None], "3000": [None, None, 50.0]}},
        "sb3": {"cpu_s_to_reach": {"1000": [30.0, 60.0, 5.0], "3000": [40.0, None, None]}},
    }
    rows = tt.reach_table(res).splitlines()
    assert rows[2] == "| 1000 | 10 / 20 / - | 30 / 60 / 5 | 3.00 |"  # seeds 0 and 1: medians 45 / 15
    assert rows[3] == "| 3000 | - / - / 50 | 40 / - / - | - |"  # no seed reached it in both
