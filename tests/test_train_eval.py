import csv
import json
import subprocess
import sys

import numpy as np
import torch

from landscape.io import checkpoint
from landscape.model.agent import Agent
from landscape.rl.evaluator import BatchedEvaluator
from landscape.train import main as train_main


def test_evaluator_common_random_numbers_and_equal_quota():
    torch.manual_seed(0)
    agent = Agent.new("Hopper-v5", 11, 3)
    space = agent.space
    theta = space.flatten(agent.actor)
    thetas = torch.stack([theta, theta, theta + 0.5 * torch.randn(space.size)])
    ev = BatchedEvaluator("Hopper-v5", space, agent.obs_norm)
    roll = ev.run(thetas, episodes=3, seed=5, deterministic=False)
    assert roll.returns.shape == (3, 3)
    assert np.allclose(roll.returns[0], roll.returns[1], atol=1e-5)  # same seeds, same noise
    assert not np.array_equal(roll.returns[0], roll.returns[2])
    single = ev.run(theta[None], episodes=3, seed=5, deterministic=False)
    assert np.allclose(single.returns[0], roll.returns[0], atol=1e-5)  # batch layout does not matter
    assert (roll.lengths >= 1).all()


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_train_checkpoints_and_resumes(tmp_path):
    out = tmp_path / "run.pt"
    common = [
        "--env",
        "Hopper-v5",
        "--steps-per-iter",
        "256",
        "--eval-every",
        "2",
        "--eval-episodes",
        "2",
        "--checkpoint-every",
        "1",
        "--out",
        str(out),
    ]
    train_main(["--steps", "512", *common])
    rows = _rows(out.with_suffix(".csv"))
    assert [int(r["iteration"]) for r in rows] == [1, 2]
    assert all(float(r["wall_s"]) > 0 and float(r["cpu_s"]) > 0 for r in rows)  # per-iteration cost
    # a log written by a version without the timing columns stays aligned when a newer version resumes it
    log = out.with_suffix(".csv")
    lines = log.read_text().splitlines()
    log.write_text("\n".join(",".join(line.split(",")[:-2]) for line in lines) + "\n")
    first = checkpoint.load(out)
    assert first.step == 512 and first.algo == "spo"
    train_main(["--steps", "1024", "--resume", *common])
    resumed = checkpoint.load(out)
    assert resumed.step == 1024
    rows = _rows(out.with_suffix(".csv"))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
    assert all(None not in r and "wall_s" not in r for r in rows)  # no overflow column, header kept
    assert not torch.equal(first.actor.log_std, resumed.actor.log_std)
    assert out.with_name("run.best.pt").exists()


def test_evaluate_json(tmp_path):
    agent = Agent.new("Hopper-v5", 11, 3)
    path = tmp_path / "a.pt"
    checkpoint.save(agent, path)
    proc = subprocess.run(
        [sys.executable, "-m", "landscape.evaluate", "--ckpt", str(path), "--episodes", "3", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(proc.stdout)
    assert out["natural"]["n"] == 3 and out["deterministic"] is True
    assert np.isfinite(out["natural"]["mean"]) and out["natural"]["se"] >= 0
