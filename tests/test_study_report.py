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


def _row(algo, seed, natural, worst, gait):
    res = {"natural": {"mean": natural}, "worst": {"mean": worst, "attack": "paad"}, "attacks": {}}
    return {"name": f"E_{algo}_s{seed}", "algo": algo, "seed": seed, "result": res, "gait": gait}


def test_medians_over_upright_runs_leave_the_flipped_ones_out():
    rows = [
        _row("spo", 0, 6000, 900, "upright"),
        _row("spo", 1, 2000, 100, "on its back"),
        _row("spo", 2, 1900, 50, "on its back"),
        _row("arpo", 0, 3500, 2000, "upright"),
        _row("arpo", 1, 3000, 1000, "upright"),
        {**_row("arpo", 2, 0, 0, "on its back"), "result": None},  # not evaluated yet
    ]
    lines = report.median_table(rows, [])
    cells = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in lines[2:]}
    assert cells["ours: spo"][1:3] == ["3", "2000"]  # all three seeds: the median is a flipped run
    assert cells["ours: spo, upright runs (1 of 3)"][1:3] == ["1", "6000"]
    assert cells["ours: arpo, upright runs (2 of 3)"][1:3] == ["2", "3250"]
    assert cells["ours: arpo, upright runs (2 of 3)"][-1].strip(" |") == "1500"  # worst-case median


def test_ant_medians_over_walking_runs_leave_standing_and_falling_ones_out():
    rows = [
        _row("spo", 0, 1500, 300, "walks"),
        _row("spo", 1, 1400, 200, "walks"),
        _row("spo", 2, 600, 100, "falls"),
        _row("arpo", 0, 990, 980, "stands"),  # standing: the healthy reward, nothing for an attack to disturb
    ]
    cells = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in report.median_table(rows, [])[2:]}
    assert cells["ours: spo, walks runs (2 of 3)"][1:3] == ["2", "1450"]
    standing_out = " | ".join(cells["ours: arpo, walks runs (0 of 1)"])
    assert cells["ours: arpo, walks runs (0 of 1)"][1] == "0" and "990" not in standing_out


def test_no_gait_rows_without_gaits():
    lines = report.median_table([_row("spo", 0, 6000, 900, None)], [])
    assert len(lines) == 3 and "upright" not in "".join(lines)
