"""Synthetic SA-PPO/CAR-PPO lineage checkpoints, built with stand-in classes that then disappear."""

import os
import subprocess
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch

from landscape import checkpoint
from landscape.errors import LandscapeError

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


def _make_lineage(path, legacy=False):
    g = torch.Generator().manual_seed(0)
    rnd = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64).float()  # noqa: E731
    pol = OrderedDict([("affine_layers.0.weight", rnd(H, OBS)), ("affine_layers.0.bias", rnd(H)),
                       ("affine_layers.1.weight", rnd(H, H)), ("affine_layers.1.bias", rnd(H)),
                       ("final_mean.weight", rnd(ACT, H)), ("final_mean.bias", rnd(ACT)),
                       ("log_stdev", rnd(ACT))])
    val = OrderedDict([("affine_layers.0.weight", rnd(H, OBS)), ("affine_layers.0.bias", rnd(H)),
                       ("affine_layers.1.weight", rnd(H, H)), ("affine_layers.1.bias", rnd(H)),
                       ("final.weight", rnd(1, H)), ("final.bias", rnd(1))])
    mods = _lineage_modules()
    sys.modules.update(mods)
    try:
        rs = RunningStat()
        rs._n, rs._M, rs._S = 40, np.linspace(-1, 1, OBS), np.linspace(1, 30, OBS)
        filt = ZFilter()
        filt.rs, filt.clip, filt.center, filt.scale = rs, 10.0, True, True
        env = Env()
        env.state_filter, env.env_name = filt, "Hopper-v2"
        data = {"policy_model": pol, "val_model": val, "policy_opt": {"state": {}}, "envs": [env], "iteration": 7}
        torch.save(data, path, _use_new_zipfile_serialization=not legacy)
    finally:
        for name in mods:
            sys.modules.pop(name)
    return pol, rs


def _hand_forward(pol, rs, obs):
    """The lineage network written out by hand: ZFilter then tanh MLP, mean action."""
    std = np.sqrt(rs._S / (rs._n - 1))
    h = np.clip((obs - rs._M) / (std + 1e-8), -10, 10)
    p = {k: v.double().numpy() for k, v in pol.items()}
    for i in range(2):
        h = np.tanh(h @ p[f"affine_layers.{i}.weight"].T + p[f"affine_layers.{i}.bias"])
    return h @ p["final_mean.weight"].T + p["final_mean.bias"]


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
    proc = subprocess.run([sys.executable, "-m", "landscape.evaluate", "--ckpt", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "refusing" in proc.stderr
    assert not marker.exists()


def test_lineage_without_policy_is_refused(tmp_path):
    path = tmp_path / "x.model"
    torch.save({"something": 1}, path)
    with pytest.raises(LandscapeError, match="policy_model"):
        checkpoint.load(path)
