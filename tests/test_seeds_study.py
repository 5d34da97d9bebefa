"""analyses/hopper_seeds/run.py: the medians table and the order and skipping of its jobs."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "analyses" / "hopper_seeds" / "run.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("hopper_seeds_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cfg(tmp_path: Path) -> dict:
    return {
        "env": "Hopper-v5",
        "seeds": [0, 1, 2],
        "steps": 4096,
        "runs_dir": str(tmp_path / "runs"),
        "out_dir": str(tmp_path / "study"),
        "train_flags": [],
        "algos": {"spo": [], "arpo": []},
        "evaluation": {"episodes": 10, "seed": 0, "attacks": "mad,optimal", "adversary_steps": 1000},
    }


def _result(natural: float, mad: float, optimal: float) -> dict:
    cell = lambda m: {"mean": m, "se": 1.0, "n": 10}  # noqa: E731
    return {
        "natural": cell(natural),
        "attacks": {"mad": cell(mad), "optimal": cell(optimal)},
        "worst": cell(min(mad, optimal)),
    }


def test_table_takes_medians_over_the_seeds_present(study, tmp_path):
    cfg = _cfg(tmp_path)
    results = {
        ("spo", 0): (3000, 1500, 600),
        ("spo", 1): (3300, 1800, 400),
        ("spo", 2): (2000, 1900, 900),
        ("arpo", 0): (1400, 1300, 1250),
        ("arpo", 2): (1000, 900, 1100),
    }  # arpo seed 1 unfinished
    for (algo, seed), values in results.items():
        path = study.result_path(cfg, algo, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_result(*values)))
    spo, arpo = study.stage_table(cfg)
    assert (spo["n"], spo["natural"], spo["mad"], spo["optimal"], spo["worst"]) == (3, 3000, 1800, 600, 600)
    assert (arpo["n"], arpo["natural"], arpo["worst"]) == (2, 1200, 1075)  # two seeds: the mean of both
    table = (tmp_path / "study" / "table.md").read_text()
    assert "| spo | 3 | 3000 | 1800 | 600 | 600 |" in table and "| arpo | 2 | 1200 | 1100 | 1175 | 1075 |" in table
    assert (tmp_path / "study" / "table.csv").read_text().splitlines()[0] == "algo,n,natural,mad,optimal,worst"


def test_jobs_interleave_seeds_and_unfinished_runs_get_a_training_command(study, tmp_path):
    cfg = _cfg(tmp_path)
    assert study.jobs(cfg) == [("spo", 0), ("arpo", 0), ("spo", 1), ("arpo", 1), ("spo", 2), ("arpo", 2)]
    cmd = study.train_command(cfg, "arpo", 1)
    assert cmd[cmd.index("--algo") + 1] == "arpo" and cmd[cmd.index("--seed") + 1] == "1"
    assert "--resume" not in cmd and cmd[cmd.index("--out") + 1].endswith("hopper_arpo_s1.pt")


def test_a_run_is_finished_by_its_own_steps_per_iteration(study, tmp_path):
    """4096 steps at 1000 per iteration is 4 iterations, 4000 steps: finished (the hard-coded 2048 wanted
    4096 and would have retrained a finished run)."""
    from landscape.io import checkpoint
    from landscape.model.agent import Agent
    from landscape.rl.ppo import PPOConfig

    cfg = _cfg(tmp_path)
    path = study.run_path(cfg, "spo", 0)
    path.parent.mkdir(parents=True)
    agent = Agent.new("Hopper-v5", 11, 3)
    agent.config = {"ppo": PPOConfig(steps_per_iter=1000).to_dict(), "steps": 4096}
    for step, finished in ((3000, False), (4000, True)):
        agent.step = step
        checkpoint.save(agent, path)
        assert (study.train_command(cfg, "spo", 0) is None) == finished


def test_configs_under_analyses_hold_no_absolute_paths():
    import tomllib

    def strings(x):
        if isinstance(x, dict):
            x = list(x.values())
        if isinstance(x, list):
            return [s for v in x for s in strings(v)]
        return [x] if isinstance(x, str) else []

    root = SCRIPT.parents[1]
    found = {
        str(p.relative_to(root)): s
        for p in root.rglob("*.toml")
        for s in strings(tomllib.loads(p.read_text()))
        if s.startswith(("/", "~"))
    }
    assert not found
