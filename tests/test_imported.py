"""Stable-Baselines3 and CleanRL PPO checkpoints imported as data: round trips to 1e-6, refusals in one line.

The hand-built fixtures follow the documented formats and always run; the ones made by stable-baselines3
itself run where it is installed."""

import io
import json
import os
import pickle
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

from landscape.core.errors import LandscapeError
from landscape.io import checkpoint

OBS, ACT = 11, 3
TANH = "<class 'torch.nn.modules.activation.Tanh'>"


def _mlp(sizes, g, act=torch.nn.Tanh):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = torch.nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=g) / a**0.5)
            lin.bias.copy_(torch.randn(b, generator=g) * 0.1)
        layers += [lin] + ([act()] if i < len(sizes) - 2 else [])
    return torch.nn.Sequential(*layers)


# ------------------------------------------------------------------------------ hand-built SB3 files
class RunningMeanStd:
    pass


class VecNormalize:
    pass


def _fake_sb3():
    """`stable_baselines3.*` modules (parents too, so pickle imports no real package) holding stand-in classes."""
    rms = types.ModuleType("stable_baselines3.common.running_mean_std")
    vn = types.ModuleType("stable_baselines3.common.vec_env.vec_normalize")
    for cls, mod in ((RunningMeanStd, rms), (VecNormalize, vn)):
        cls.__module__, cls.__qualname__ = mod.__name__, cls.__name__
        setattr(mod, cls.__name__, cls)
    parents = ("stable_baselines3", "stable_baselines3.common", "stable_baselines3.common.vec_env")
    return {**{n: types.ModuleType(n) for n in parents}, rms.__name__: rms, vn.__name__: vn}


def _vecnormalize(path, payload=None):
    """A VecNormalize pickle as VecNormalize.save writes it (its __dict__ without the venv)."""
    mods = _fake_sb3()
    saved = {n: sys.modules.get(n) for n in mods}  # a real stable_baselines3 already imported is put back
    sys.modules.update(mods)
    try:
        rms = RunningMeanStd()
        rng = np.random.default_rng(5)
        rms.mean, rms.var, rms.count = rng.normal(size=OBS), rng.uniform(0, 4, OBS), 1234.0
        rms.var[0] = 1e-12  # a near-constant feature: where sqrt(var + eps) and sqrt(var) + eps differ most
        vn = VecNormalize()
        vn.__dict__.update(
            obs_rms=rms,
            ret_rms=RunningMeanStd(),
            clip_obs=5.0,
            clip_reward=10.0,
            norm_obs=True,
            norm_reward=True,
            gamma=0.99,
            epsilon=1e-8,
            training=False,
            returns=np.zeros(1),
            payload=payload,
        )
        with open(path, "wb") as f:
            pickle.dump(vn, f)
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name)
            else:
                sys.modules[name] = mod
    return rms


def _sb3_zip(path, data: dict | None = None, extra_keys: dict | None = None, seed=0):
    """A PPO zip in SB3's layout: `data` JSON (with a cloudpickled blob that must never be read) + policy.pth."""
    g = torch.Generator().manual_seed(seed)
    pi, vf = _mlp([OBS, 64, 64], g), _mlp([OBS, 64, 64], g)
    action, value = _mlp([64, ACT], g), _mlp([64, 1], g)
    sd = OrderedDict([("log_std", torch.randn(ACT, generator=g) * 0.3)])
    sd.update({f"mlp_extractor.policy_net.{k}": v for k, v in pi.state_dict().items()})
    sd.update({f"mlp_extractor.value_net.{k}": v for k, v in vf.state_dict().items()})
    sd.update({f"action_net.{k[2:]}": v for k, v in action.state_dict().items()})
    sd.update({f"value_net.{k[2:]}": v for k, v in value.state_dict().items()})
    sd.update(extra_keys or {})
    meta = {
        "policy_class": {
            ":type:": "<class 'abc.ABCMeta'>",
            ":serialized:": "Z2FyYmFnZQ==",
            "__module__": "stable_baselines3.common.policies",
        },
        "policy_kwargs": {},
        "use_sde": False,
        "observation_space": {
            ":type:": "<class 'gymnasium.spaces.box.Box'>",
            ":serialized:": "Z2FyYmFnZQ==",
            "_shape": [OBS],
        },
        "action_space": {
            ":type:": "<class 'gymnasium.spaces.box.Box'>",
            ":serialized:": "Z2FyYmFnZQ==",
            "_shape": [ACT],
        },
        **(data or {}),
    }
    buf = io.BytesIO()
    torch.save(sd, buf)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data", json.dumps(meta))
        zf.writestr("policy.pth", buf.getvalue())
    return torch.nn.Sequential(*pi, torch.nn.Tanh(), *action)  # SB3's policy_net ends with its activation


def _z(obs, rms, clip=5.0, eps=1e-8):
    return np.clip((obs - rms.mean) / np.sqrt(rms.var + eps), -clip, clip)


def test_hand_built_sb3_acts_as_its_network(tmp_path, capsys):
    path = tmp_path / "ppo.zip"
    net = _sb3_zip(path)
    rms = _vecnormalize(tmp_path / "ppo_vecnormalize.pkl")
    agent = checkpoint.load(path)
    assert "using the observation statistics" in capsys.readouterr().err
    assert agent.env_id == "Hopper-v5" and agent.algo == "sb3" and agent.critic is not None
    obs = np.random.default_rng(0).normal(scale=2, size=(64, OBS))
    obs[:, 0] = rms.mean[0] + np.linspace(-1e-5, 1e-5, 64)  # the near-constant feature, inside and beyond the clip
    want = net(torch.as_tensor(_z(obs, rms), dtype=torch.float32)).detach().numpy()
    assert np.abs(agent.act(obs) - want).max() < 1e-6


def test_sb3_without_statistics_sees_raw_observations(tmp_path, capsys):
    path = tmp_path / "ppo.zip"
    net = _sb3_zip(path)
    agent = checkpoint.load(path)
    assert "observations are not normalized" in capsys.readouterr().err
    obs = np.random.default_rng(0).normal(scale=20, size=(64, OBS))
    assert np.abs(agent.act(obs) - net(torch.as_tensor(obs, dtype=torch.float32)).detach().numpy()).max() < 1e-6


@pytest.mark.parametrize(
    "data, keys, msg",
    [
        (
            {
                "policy_kwargs": {
                    ":type:": "<class 'dict'>",
                    ":serialized:": "eA==",
                    "activation_fn": "<class 'torch.nn.modules.activation.ReLU'>",
                }
            },
            None,
            "activation ReLU cannot be represented",
        ),
        ({"use_sde": True}, None, "gSDE"),
        ({"action_space": {":type:": "<class 'gymnasium.spaces.discrete.Discrete'>"}}, None, "Box"),
        (None, {"mlp_extractor.shared_net.0.weight": torch.zeros(64, OBS)}, "shared layers"),
        (None, {"features_extractor.cnn.0.weight": torch.zeros(8, 3)}, "cannot be represented"),
    ],
)
def test_sb3_that_cannot_be_represented_is_one_line(tmp_path, capsys, data, keys, msg):
    from landscape.evaluate import main

    path = tmp_path / "ppo.zip"
    _sb3_zip(path, data, keys)
    with pytest.raises(SystemExit) as exit_:
        main(["--ckpt", str(path)])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "\n" not in err and msg in err, err


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _payload(marker):
    """Unpickling this runs `touch marker` (what a hostile statistics or policy file asks for)."""
    return _Payload(marker)


def test_hostile_statistics_pickle_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    path = tmp_path / "ppo.zip"
    _sb3_zip(path)
    _vecnormalize(tmp_path / "vecnormalize.pkl", payload=_payload(marker))
    proc = subprocess.run(
        [sys.executable, "-m", "landscape.evaluate", "--ckpt", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "refusing posix.system" in proc.stderr, proc.stderr
    assert not marker.exists()


def test_hostile_policy_pth_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    path = tmp_path / "ppo.zip"
    _sb3_zip(path, extra_keys={"log_std_x": _payload(marker)})
    with pytest.raises(LandscapeError, match="refusing (posix|os).system"):
        checkpoint.load(path)
    assert not marker.exists()


def test_sb3_model_evaluates_and_is_attacked(tmp_path, capsys):
    from landscape.evaluate import main

    path = tmp_path / "ppo.zip"
    _sb3_zip(path)
    _vecnormalize(tmp_path / "vecnormalize.pkl")
    main(["--ckpt", str(path), "--episodes", "2", "--attack", "mad", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert res["algo"] == "sb3" and res["env"] == "Hopper-v5" and "mad" in res["attacks"]


# ------------------------------------------------------------------------------ files stable-baselines3 writes
def test_files_written_by_sb3_round_trip(tmp_path, capsys):
    pytest.importorskip("stable_baselines3")
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv
    from stable_baselines3.common.vec_env import VecNormalize as SB3VecNormalize

    venv = SB3VecNormalize(DummyVecEnv([lambda: gym.make("Hopper-v5")]))
    venv.seed(0)
    venv.reset()
    for _ in range(30):
        venv.step(np.random.default_rng(0).uniform(-1, 1, (1, ACT)))
    venv.save(tmp_path / "hopper_vecnormalize.pkl")
    model = PPO("MlpPolicy", venv, seed=0, device="cpu", policy_kwargs={"net_arch": {"pi": [32, 16], "vf": [8]}})
    model.save(tmp_path / "hopper.zip")
    agent = checkpoint.load(tmp_path / "hopper.zip")
    assert agent.actor.hidden == (32, 16)
    obs = np.random.default_rng(1).normal(scale=2, size=(64, OBS))
    z = torch.as_tensor(venv.normalize_obs(obs), dtype=torch.float32)
    want = model.policy.get_distribution(z).distribution.mean.detach().numpy()
    assert np.abs(agent.act(obs) - want).max() < 1e-6
    assert torch.allclose(agent.actor.log_std, model.policy.log_std.detach())
    PPO("MlpPolicy", venv, device="cpu", policy_kwargs={"activation_fn": torch.nn.ReLU}).save(tmp_path / "relu.zip")
    with pytest.raises(LandscapeError, match="activation ReLU"):
        checkpoint.load(tmp_path / "relu.zip")


# ------------------------------------------------------------------------------ CleanRL
def _cleanrl(path, seed=0, extra=None):
    """ppo_continuous_action.py's Agent state dict: critic / actor_mean Sequentials, actor_logstd (1, act)."""
    g = torch.Generator().manual_seed(seed)
    critic, actor = _mlp([OBS, 64, 64, 1], g), _mlp([OBS, 64, 64, ACT], g)
    sd = OrderedDict({f"critic.{k}": v for k, v in critic.state_dict().items()})
    sd.update({f"actor_mean.{k}": v for k, v in actor.state_dict().items()})
    sd["actor_logstd"] = torch.randn(1, ACT, generator=g) * 0.3
    sd.update(extra or {})
    torch.save(sd, path)
    return actor, sd


def test_cleanrl_with_its_normalize_observation_statistics(tmp_path, capsys):
    import gymnasium as gym

    path = tmp_path / "ppo_continuous_action.cleanrl_model"
    actor, sd = _cleanrl(path)
    env = gym.wrappers.NormalizeObservation(gym.make("Hopper-v5"))
    env.reset(seed=0)
    for _ in range(30):
        env.step(env.action_space.sample())
    with open(tmp_path / "ppo_continuous_action.obs_rms.pkl", "wb") as f:
        pickle.dump(env.obs_rms, f)
    agent = checkpoint.load(path)
    assert agent.algo == "cleanrl" and "using the observation statistics" in capsys.readouterr().err
    obs = np.random.default_rng(0).normal(scale=2, size=(64, OBS))
    rms = env.obs_rms
    z = np.clip((obs - rms.mean) / np.sqrt(rms.var + 1e-8), -10, 10)  # NormalizeObservation, then the script's clip
    want = actor(torch.as_tensor(z, dtype=torch.float32)).detach().numpy()
    assert np.abs(agent.act(obs) - want).max() < 1e-6
    assert torch.equal(agent.actor.log_std, sd["actor_logstd"][0])


def test_cleanrl_that_cannot_be_represented_is_one_line(tmp_path):
    path = tmp_path / "x.cleanrl_model"
    _cleanrl(path, extra={"actor_logstd_net.0.weight": torch.zeros(ACT, 64)})
    proc = subprocess.run(
        [sys.executable, "-m", "landscape.evaluate", "--ckpt", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cannot be represented" in proc.stderr, proc.stderr
    walker = tmp_path / "w.cleanrl_model"
    _cleanrl(walker)
    with pytest.raises(LandscapeError, match="takes 11 observations and gives 3 actions, but Walker2d-v5 has 17"):
        checkpoint.load(walker, env_id="Walker2d-v5")
