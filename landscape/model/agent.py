"""An agent = actor + critic + frozen observation normalizer + metadata; what a checkpoint holds."""

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.normalizer import RunningNorm
from .flat import ParamSpace
from .policy import Actor, Critic


@dataclass
class Agent:
    actor: Actor
    critic: Critic | None
    obs_norm: RunningNorm
    env_id: str
    algo: str = "spo"
    eps: float = 0.0
    config: dict = field(default_factory=dict)
    step: int = 0

    @classmethod
    def new(cls, env_id: str, obs_dim: int, act_dim: int, hidden=(64, 64), init_std: float = 1.0, **meta) -> "Agent":
        actor = Actor(obs_dim, act_dim, hidden, log_std=math.log(init_std))
        return cls(actor, Critic(obs_dim, hidden), RunningNorm(obs_dim), env_id, **meta)

    @property
    def space(self) -> ParamSpace:
        return ParamSpace(self.actor)

    def normalize(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(self.obs_norm(obs), dtype=torch.float32)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        dist = self.actor.dist(self.normalize(obs))
        return (dist.mean if deterministic else dist.sample()).numpy()


def fingerprint(agent: Agent) -> str:
    """sha256 of what the policy computes (actor parameters + observation statistics).

    Learned attackers record it to refuse being used against another policy, whatever file it came from.
    """
    h = hashlib.sha256()
    h.update(agent.space.flatten(agent.actor).numpy().astype(np.float32).tobytes())
    h.update(np.asarray(agent.obs_norm.mean, dtype=np.float64).tobytes())
    h.update(np.asarray(agent.obs_norm.var, dtype=np.float64).tobytes())
    return h.hexdigest()
