"""Synthetic SA-PPO/CAR-PPO lineage checkpoints, built with stand-in classes that then disappear."""

import os
import subprocess
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch

from landscape.core.errors import LandscapeError
from landscape.io import checkpoint

OBS, ACT, H = 11, 3, 16


class RunningStat:
    pass


class ZFilter:
    pass


class Env:
    pass


def _lineage_modules():
    """Register fake `policy_gradients.*` modules so torch.save pickles by those names."""
    pg = types.ModuleType("policy_gradients")
    tu = types.ModuleType("policy_gradients.torch_utils")
    ce = types.ModuleType("policy_gradients.custom_env")
    for cls, mod in ((RunningStat, tu), (ZFilter, tu), (Env, ce)):
        cls.__module__, cls.__qualname__ = mod.__name__, cls.__name__
        setattr(mod, cls.__name__, cls)
    return {"policy_gradients": pg, tu.__name__: tu, ce.__name__: ce}


def _mlp(g, obs, out, final="final_mean", std=True):
    """A lineage MLP state dict (two hidden layers of H) with random float32 weights."""
    rnd = lambda *s: (torch.randn(*s, generator=g, dtype=torch.float64) / s[-1] ** 0.5).float()  # noqa: E731
    sd = OrderedDict(
        [
            ("affine_layers.0.weight", rnd(H, obs)),
            ("affine_layers.0.bias", rnd(H)),
            ("affine_layers.1.weight", rnd(H, H)),
            ("affine_layers.1.bias", rnd(H)),
            (f"{final}.weight", rnd(out, H)),
            (f"{final}.bias", rnd(out)),
        ]
    )
    if std:
        sd["log_stdev"] = rnd(out)
    return sd


def _make_lineage(path, legacy=False, obs=OBS, act=ACT, game="Hopper-v2", extra=None, seed=0):
    """An SA-PPO-lineage file: policy, value, optimizer state, the training env with its ZFilter; `extra`
    entries (an ATLA attack file's adversary_policy_model, ...) are added to the dict."""
    g = torch.Generator().manual_seed(seed)
    pol, val = _mlp(g, obs, act), _mlp(g, obs, 1, "final", std=False)
    mods = _lineage_modules()
    sys.modules.update(mods)
    try:
        rs = RunningStat()
        rs._n, rs._M, rs._S = 40, np.linspace(-1, 1, obs), np.linspace(1, 30, obs)
        filt = ZFilter()
        filt.rs, filt.clip, filt.center, filt.scale = rs, 10.0, True, True
        env = Env()
        env.state_filter, env.env_name = filt, game
        data = {
            "policy_model": pol,
            "val_model": val,
            "policy_opt": {"state": {}},
            "envs": [env],
            "iteration": 7,
            **(extra or {}),
        }
        torch.save(data, path, _use_new_zipfile_serialization=not legacy)
    finally:
        for name in mods:
            sys.modules.pop(name)
    return pol, rs


def _hand_forward(pol, rs, obs):
    """The lineage network written out by hand: ZFilter then tanh MLP, mean action."""
    std = np.sqrt(rs._S / (rs._n - 1))
    h = np.clip((obs - rs._M) / (std + 1e-8), -10, 10)
    return _hand_mlp(pol, h)


def _hand_mlp(sd, h, final="final_mean"):
    p = {k: v.double().numpy() for k, v in sd.items()}
    for i in range(2):
        h = np.tanh(h @ p[f"affine_layers.{i}.weight"].T + p[f"affine_layers.{i}.bias"])
    return h @ p[f"{final}.weight"].T + p[f"{final}.bias"]


@pytest.mark.parametrize("legacy", [False, True])
def test_synthetic_lineage_acts_as_hand_computed(tmp_path, legacy):
    path = tmp_path / "hopper.model"
    pol, rs = _make_lineage(path, legacy)
    assert "policy_gradients" not in sys.modules
    agent = checkpoint.load(path)
    assert agent.env_id == "Hopper-v5" and agent.actor.hidden == (H, H)
    obs = np.random.default_rng(0).normal(scale=3, size=(20, OBS))
    assert np.allclose(agent.act(obs), _hand_forward(pol, rs, obs), atol=1e-5)
    assert torch.equal(agent.actor.log_std, pol["log_stdev"])
    assert agent.critic is not None


def test_malicious_lineage_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.model"
    torch.save({"policy_model": OrderedDict(), "envs": [Payload()]}, path)
    with pytest.raises(LandscapeError, match=r"refusing (posix|os)\.system"):
        checkpoint.load(path)
    assert not marker.exists()
    proc = subprocess.run(
        [sys.executable, "-m", "landscape.evaluate", "--ckpt", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "refusing" in proc.stderr
    assert not marker.exists()


def test_lineage_without_policy_is_refused(tmp_path):
    path = tmp_path / "x.model"
    torch.save({"something": 1}, path)
    with pytest.raises(LandscapeError, match="policy_model"):
        checkpoint.load(path)


# ------------------------------------------------------------------------------ Ant observation layouts
def test_ant_lineage_takes_the_111_layout(tmp_path):
    """An Ant-v2 lineage policy (111 inputs) is evaluated on Ant-v5-obs111, whose observation is Gymnasium
    Ant-v4(use_contact_forces=True)'s entry for entry; --env Ant-v5 picks the same layout from the input size."""
    import gymnasium as gym

    from landscape.sim.envs import make_env

    path = tmp_path / "ant.model"
    pol, rs = _make_lineage(path, obs=111, act=8, game="Ant-v2")
    for env in (None, "Ant-v5"):
        agent = checkpoint.load(path, env)
        assert agent.env_id == "Ant-v5-obs111"
    obs = np.random.default_rng(1).normal(scale=3, size=(20, 111))
    assert np.allclose(agent.act(obs), _hand_forward(pol, rs, obs), atol=1e-5)
    with pytest.warns(DeprecationWarning):
        ref = gym.make("Ant-v4", use_contact_forces=True)
    ours = make_env(agent.env_id)
    assert np.array_equal(ref.reset(seed=3)[0], ours.reset(seed=3)[0])
    act = np.random.default_rng(2).uniform(-1, 1, (50, 8))
    for a in act:
        o1, r1, t1, _, _ = ref.step(a)
        o2, r2, t2, _, _ = ours.step(a)
        assert np.array_equal(o1, o2) and r1 == r2 and t1 == t2
        assert np.all(o2[27:33] == 0)


def test_ant_lineage_evaluates_attacks_and_scans(tmp_path):
    path = tmp_path / "ant.model"
    _make_lineage(path, obs=111, act=8, game="Ant-v2")
    for cmd in (
        ["landscape.evaluate", "--ckpt", str(path), "--episodes", "1", "--attack", "mad", "--json"],
        [
            "landscape.scan",
            "--ckpt",
            str(path),
            "--1d",
            "--resolution",
            "2",
            "--episodes",
            "1",
            "--metrics",
            "natural",
            "--no-render",
            "--out",
            str(tmp_path / "scan"),
        ],
    ):
        proc = subprocess.run([sys.executable, "-m", *cmd], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    assert (
        '"env": "Ant-v5-obs111"'
        in subprocess.run(
            [sys.executable, "-m", "landscape.evaluate", "--ckpt", str(path), "--episodes", "1", "--json"],
            capture_output=True,
            text=True,
        ).stdout
    )


def test_ant_layout_that_cannot_be_represented_is_one_line(tmp_path):
    path = tmp_path / "ant.model"
    _make_lineage(path, obs=113, act=8, game="Ant-v2")
    proc = subprocess.run(
        [sys.executable, "-m", "landscape.evaluate", "--ckpt", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "113 observations, which fit no Ant layout" in proc.stderr and "111 (Ant-v5-obs111)" in proc.stderr
