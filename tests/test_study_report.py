"""analyses/study/report.py: where each run's training cost comes from (the table users plan studies by)."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "study_report", Path(__file__).resolve().parents[1] / "analyses/study/report.py"
)
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def test_cost_from_the_logs_own_time_columns():
    log = [{"step": "2048", "wall_s": "3.0", "cpu_s": "2.0"}, {"step": "4096", "wall_s": "5.0", "cpu_s": "4.0"}]
    assert report.train_cost(log, {}) == (8.0 / 3600, 6.0 / 3600)


def test_cost_from_timing_json_before_the_throughput_estimate():
    log = [{"step": "2048", "collect_sps": "1024", "update_sps": "2048"}]
    assert report.train_cost(log, {"train_wall_h": 1.4, "train_cpu_h": 0.8}) == (1.4, 0.8)


def test_cost_estimated_from_throughput_is_marked_and_has_no_cpu():
    # 900k steps collected at 1000/s (900 s) and updated at 2000/s (450 s), then 900k more: 2700 s = 0.75 h
    log = [
        {"step": "900000", "collect_sps": "1000", "update_sps": "2000"},
        {"step": "1800000", "collect_sps": "1000", "update_sps": "2000"},
    ]
    wall, cpu = report.train_cost(log, {})
    assert wall == "~0.75" and cpu is None
    assert report.hours(wall) == "~0.75" and report.hours(None) == "" and report.hours(0.5) == "0.50"


@pytest.mark.parametrize("bad", [[], [{"step": "2048", "collect_sps": "0", "update_sps": "1"}], [{"step": "2048"}]])
def test_cost_unknown_is_blank(bad):
    assert report.train_cost(bad, {}) == (None, None)


def test_late_evaluations_cover_the_last_quarter_and_count_low_ones():
    evals = [100, 200, 300, 4000, 1000, 3000, 1500, 3500]  # the last quarter: 1500, 3500 (best 4000)
    log = [{"eval_return": str(e)} for e in evals] + [{"eval_return": "nan"}, {"eval_return": ""}]
    assert report.late_evaluations(log) == "2500 +- 1414 (50% low)"
    assert report.late_evaluations(log[:3]) == ""  # too short for a spread


def test_attackers_cpu_sums_every_learned_run():
    res = {
        "attacks": {
            "mad": {"mean": 1.0},
            "optimal": {"runs": [{"train_cpu_s": 1800.0}, {"train_cpu_s": 900.0}]},
            "paad": {"runs": [{"train_cpu_s": 2700.0}, {"train_cpu_s": None}]},
        }
    }
    assert report.attackers_cpu(res) == 1.5
    assert report.attackers_cpu({"attacks": {"mad": {}}}) is None and report.attackers_cpu(None) is None
