"""Checkpoints: our `*.pt` format (plain data, loads with weights_only=True) and dispatch to importers.

A `.pt` file is a dict of tensors and primitives:
  format, version, env_id, algo, eps, step, config, hidden, obs_dim, act_dim,
  actor (state dict), critic (state dict or None), obs_norm (mean/var/count/clip/center),
  train_state (optional: optimizer states, reward scaler, iteration -- used by --resume).
"""

import hashlib
import os
from pathlib import Path

import torch

from .. import __version__
from ..core.errors import LandscapeError, describe
from ..core.normalizer import RunningNorm
from ..model.agent import Agent
from ..model.policy import Actor, Critic
from . import bundled, torchfile
from .file_checks import check_finite, check_fits, expected_shapes

FORMAT = "landscape-ckpt/1"


def save(agent: Agent, path: str | os.PathLike, train_state: dict | None = None) -> None:
    """Atomic save: write to a temp file then rename, so an interrupted save never corrupts a checkpoint."""
    data = {
        "format": FORMAT,
        "version": __version__,
        "env_id": agent.env_id,
        "algo": agent.algo,
        "eps": float(agent.eps),
        "step": int(agent.step),
        "config": dict(agent.config),
        "hidden": list(agent.actor.hidden),
        "obs_dim": agent.actor.obs_dim,
        "act_dim": agent.actor.act_dim,
        "actor": agent.actor.state_dict(),
        "critic": agent.critic.state_dict() if agent.critic is not None else None,
        "obs_norm": agent.obs_norm.state_dict(),
    }
    if train_state is not None:
        data["train_state"] = train_state
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)


def _check_state(path, what: str, sd, shapes: dict) -> None:
    """Shapes are compared before any network is built: metadata alone (hidden=[20000, 20000]) allocates nothing."""
    if not isinstance(sd, dict) or set(sd) != set(shapes):
        raise LandscapeError(f"{path}: {what} parameters are not those of a {len(shapes) // 2}-layer MLP")
    for name, shape in shapes.items():
        if not isinstance(sd[name], torch.Tensor) or tuple(sd[name].shape) != shape:
            got = tuple(sd[name].shape) if isinstance(sd[name], torch.Tensor) else type(sd[name]).__name__
            raise LandscapeError(f"{path}: {what} {name} has shape {got}, expected {shape}")
    check_finite(path, {f"{what} {k}": v for k, v in sd.items()})


def _check_meta(data: dict, path) -> None:
    dims, hidden = (data.get("obs_dim"), data.get("act_dim")), data.get("hidden")
    if (
        not all(type(d) is int and d > 0 for d in dims)
        or not isinstance(hidden, (list, tuple))
        or not all(type(h) is int and h > 0 for h in hidden)
        or not isinstance(data.get("env_id"), str)
    ):
        raise LandscapeError(f"{path}: not a valid landscape checkpoint (malformed env_id, obs_dim, act_dim or hidden)")
    attacker = isinstance(data.get("config"), dict) and "victim_fingerprint" in data["config"]
    check_fits(path, data["env_id"], dims[0], None if attacker else dims[1])
    _check_state(path, "actor", data.get("actor"), expected_shapes(*dims, hidden))
    if data.get("critic") is not None:
        _check_state(path, "critic", data["critic"], expected_shapes(dims[0], 0, hidden, head=1))
    norm = data.get("obs_norm")
    stats = [norm.get(k) if isinstance(norm, dict) else None for k in ("mean", "var")]
    if not all(isinstance(v, (list, tuple)) and len(v) == dims[0] for v in stats):
        raise LandscapeError(f"{path}: observation statistics do not have {dims[0]} entries")
    check_finite(path, {"observation mean": stats[0], "observation variance": stats[1]})


def _from_dict(data: dict, path) -> Agent:
    _check_meta(data, path)
    try:
        actor = Actor(data["obs_dim"], data["act_dim"], tuple(data["hidden"]))
        actor.load_state_dict(data["actor"])
        critic = None
        if data.get("critic") is not None:
            critic = Critic(data["obs_dim"], tuple(data["hidden"]))
            critic.load_state_dict(data["critic"])
        agent = Agent(
            actor,
            critic,
            RunningNorm.from_state(data["obs_norm"]),
            data["env_id"],
            algo=data["algo"],
            eps=data["eps"],
            config=data.get("config", {}),
            step=data.get("step", 0),
        )
    except (KeyError, RuntimeError, TypeError, ValueError) as err:
        raise LandscapeError(f"{path}: not a valid landscape checkpoint ({describe(err)})")
    agent.obs_norm.frozen = True
    return agent


def load_raw(path: str | os.PathLike) -> dict:
    """The raw dict of one of our checkpoints (with train_state), loaded as data only."""
    path = bundled.resolve(path)  # a bundled checkpoint by name when no such file exists here
    if not path.is_file():
        raise LandscapeError(f"checkpoint not found: {path}")
    data = torchfile.read(path, "landscape checkpoint")  # never torch.load: it would run TorchScript
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LandscapeError(f"{path}: not a landscape checkpoint (missing format tag {FORMAT!r})")
    return data


def load(path: str | os.PathLike, env_id: str | None = None) -> Agent:
    """Load our `.pt`, or import as data an SA-PPO / CAR-PPO lineage `.model`, a Stable-Baselines3 PPO `.zip`
    or a CleanRL PPO `.cleanrl_model`.

    env_id names the environment of an imported file when the file itself does not tell.
    """
    path = bundled.resolve(path)  # a bundled checkpoint by name when no such file exists here
    if path.suffix == ".model":
        from .lineage import load_lineage

        return load_lineage(path, env_id)
    if path.suffix == ".zip":  # Stable-Baselines3
        from .sb3 import load_sb3

        return load_sb3(path, env_id)
    if path.suffix == ".cleanrl_model":
        from .cleanrl import load_cleanrl

        return load_cleanrl(path, env_id)
    return _from_dict(load_raw(path), path)


def load_adversary(path: str | os.PathLike, env_id: str | None = None) -> Agent:
    """A learned attacker: our `.pt`, or the adversary of an ATLA / PA-AD lineage `.model` (read as data).

    env_id: the victim's environment, used only when a lineage file does not name its own."""
    if Path(path).suffix == ".model":
        from .lineage_adversary import load_adversary

        return load_adversary(path, env_id)
    return load(path)


def file_hash(path: str | os.PathLike) -> str:
    path = bundled.resolve(path, quiet=True)  # the same file checkpoint.load reads for this name
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
