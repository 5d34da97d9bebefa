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

from . import __version__
from .agent import Agent
from .errors import LandscapeError, describe
from .normalizer import RunningNorm
from .policy import Actor, Critic

FORMAT = "landscape-ckpt/1"


def save(agent: Agent, path: str | os.PathLike, train_state: dict | None = None) -> None:
    """Atomic save: write to a temp file then rename, so an interrupted save never corrupts a checkpoint."""
    data = {
        "format": FORMAT, "version": __version__, "env_id": agent.env_id, "algo": agent.algo,
        "eps": float(agent.eps), "step": int(agent.step), "config": dict(agent.config),
        "hidden": list(agent.actor.hidden), "obs_dim": agent.actor.obs_dim, "act_dim": agent.actor.act_dim,
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


def _from_dict(data: dict, path) -> Agent:
    try:
        actor = Actor(data["obs_dim"], data["act_dim"], tuple(data["hidden"]))
        actor.load_state_dict(data["actor"])
        critic = None
        if data.get("critic") is not None:
            critic = Critic(data["obs_dim"], tuple(data["hidden"]))
            critic.load_state_dict(data["critic"])
        agent = Agent(actor, critic, RunningNorm.from_state(data["obs_norm"]), data["env_id"],
                      algo=data["algo"], eps=data["eps"], config=data.get("config", {}), step=data.get("step", 0))
    except (KeyError, RuntimeError, TypeError, ValueError) as err:
        raise LandscapeError(f"{path}: not a valid landscape checkpoint ({describe(err)})")
    agent.obs_norm.frozen = True
    return agent


def load_raw(path: str | os.PathLike) -> dict:
    """The raw dict of one of our checkpoints (with train_state), loaded as data only."""
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt zip, truncated file, non-data pickle: all one message
        raise LandscapeError(f"{path}: cannot read as a landscape checkpoint ({describe(err)})")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LandscapeError(f"{path}: not a landscape checkpoint (missing format tag {FORMAT!r})")
    return data


def load(path: str | os.PathLike, env_id: str | None = None) -> Agent:
    """Load either format: our `.pt`, or an SA-PPO / CAR-PPO lineage `.model` (imported as data).

    env_id names the environment of a lineage file when the file itself does not tell.
    """
    path = Path(path)
    if path.suffix == ".model":
        from .lineage import load_lineage

        return load_lineage(path, env_id)
    return _from_dict(load_raw(path), path)


def file_hash(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
