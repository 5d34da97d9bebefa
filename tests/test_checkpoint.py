import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from landscape.core.errors import LandscapeError
from landscape.io import checkpoint
from landscape.model.agent import Agent
from landscape.sim.envs import env_spec


def _agent():
    torch.manual_seed(1)
    agent = Agent.new("Hopper-v5", 11, 3, algo="spo", eps=0.075, config={"a": 1}, step=123)
    agent.obs_norm.update(np.random.default_rng(0).normal(size=(50, 11)))
    return agent


def test_save_load_round_trip_bit_for_bit(tmp_path):
    agent = _agent()
    path = tmp_path / "a.pt"
    checkpoint.save(agent, path)
    back = checkpoint.load(path)
    for a, b in zip(
        list(agent.actor.parameters()) + list(agent.critic.parameters()),
        list(back.actor.parameters()) + list(back.critic.parameters()),
    ):
        assert torch.equal(a, b)
    assert np.array_equal(agent.obs_norm.mean, back.obs_norm.mean)
    assert np.array_equal(agent.obs_norm.var, back.obs_norm.var)
    assert (back.env_id, back.algo, back.eps, back.step, back.config) == ("Hopper-v5", "spo", 0.075, 123, {"a": 1})
    obs = np.random.default_rng(1).normal(size=(5, 11))
    assert np.array_equal(agent.act(obs), back.act(obs))
    # the file is plain data: torch's restricted loader reads it
    assert torch.load(path, weights_only=True)["format"] == checkpoint.FORMAT


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, pickle.dumps({"x": 1})])
def test_corrupt_or_foreign_files_are_one_line_errors(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(LandscapeError) as err:
        checkpoint.load(path)
    assert "\n" not in str(err.value)


def test_pt_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "x": Evil()}, path)
    with pytest.raises(LandscapeError):
        checkpoint.load(path)
    assert not marker.exists()


def test_unknown_env_lists_supported():
    with pytest.raises(LandscapeError, match="supported: Hopper-v5, Walker2d-v5, HalfCheetah-v5, Ant-v5, ToyTarget-v0"):
        env_spec("CartPole-v1")
    assert env_spec("Hopper-v5").eps == 0.075 and env_spec("Ant-v5").eps == 0.15


def test_cli_missing_checkpoint_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "landscape.evaluate", "--ckpt", str(tmp_path / "no.pt")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "checkpoint not found" in proc.stderr
