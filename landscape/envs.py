"""Environment factory and per-environment standards (eps, literature budgets)."""

from dataclasses import dataclass

import gymnasium as gym

from . import toys  # noqa: F401  (registers the toy environments with Gymnasium)
from .errors import LandscapeError


@dataclass(frozen=True)
class EnvSpec:
    env_id: str
    eps: float  # standard l_inf attack budget in normalized observation space
    train_steps: int  # literature training budget (2048 steps x iterations)


ENV_SPECS = {
    "Hopper-v5": EnvSpec("Hopper-v5", 0.075, 2048 * 976),
    "Walker2d-v5": EnvSpec("Walker2d-v5", 0.05, 2048 * 976),
    "HalfCheetah-v5": EnvSpec("HalfCheetah-v5", 0.15, 2048 * 976),
    "Ant-v5": EnvSpec("Ant-v5", 0.15, 2048 * 4882),
    # tiny closed-form environments (landscape/toys) for exact tests and teaching
    "ToyTarget-v0": EnvSpec("ToyTarget-v0", 0.1, 2048 * 10),
    "ToyTrap-v0": EnvSpec("ToyTrap-v0", 0.3, 2048 * 10),  # toys/trap.py: the sticky-FOSP mechanism
}


def env_spec(env_id: str) -> EnvSpec:
    if env_id not in ENV_SPECS:
        raise LandscapeError(f"unknown environment {env_id!r}; supported: {', '.join(ENV_SPECS)}")
    return ENV_SPECS[env_id]


def make_env(env_id: str) -> gym.Env:
    """One Gymnasium environment (raw observations; normalization lives in the agent)."""
    env_spec(env_id)
    return gym.make(env_id)


def env_dims(env_id: str) -> tuple[int, int]:
    env = make_env(env_id)
    dims = env.observation_space.shape[0], env.action_space.shape[0]
    env.close()
    return dims
