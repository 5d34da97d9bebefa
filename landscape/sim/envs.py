"""Environment factory and per-environment standards (eps, literature budgets, initial action std).

Besides Gymnasium's ids, two Ant observation layouts that released checkpoints were trained on, built
from Ant-v5 (both checked step for step against Gymnasium's Ant-v4: identical observations, rewards and
terminations over 600 random-action steps):

- `Ant-v5-obs111`: the SA-PPO / ATLA / PA-AD lineage's 111 entries (Ant-v2 under MuJoCo 1.5, Gymnasium's
  `Ant-v4(use_contact_forces=True)`): 27 positions and velocities, then the clipped `cfrc_ext` of all 14
  bodies (84). Ant-v5 drops the worldbody's 6, which are always 0, so they are put back as zeros.
- `Ant-v5-obs27`: Gymnasium's `Ant-v4` default (no contact forces in the observation, no contact cost).

`layout(env_id, obs_dim)` picks the one whose observation a checkpoint's input size fits.
"""

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from ..core.errors import LandscapeError

# the toy environments (landscape/sim/toys), registered by name: Gymnasium imports them only when one is made
gym.register(id="ToyTarget-v0", entry_point="landscape.sim.toys.target:TargetEnv")
gym.register(id="ToyTrap-v0", entry_point="landscape.sim.toys.trap:TrapEnv", max_episode_steps=2)


@dataclass(frozen=True)
class EnvSpec:
    env_id: str
    eps: float  # standard l_inf attack budget in normalized observation space
    train_steps: int  # literature training budget (2048 steps x iterations)
    gym_id: str | None = None  # the Gymnasium id it is built from (None: env_id itself)
    options: tuple = ()  # Gymnasium constructor options, (name, value) pairs
    zeros_at: int | None = None  # where ZeroPad inserts the 6 always-zero worldbody contact forces
    init_std: float = 1.0  # the policy's initial action std in training (SA-PPO's and CAR-PPO's configs)


ENV_SPECS = {
    "Hopper-v5": EnvSpec("Hopper-v5", 0.075, 2048 * 976),
    "Walker2d-v5": EnvSpec("Walker2d-v5", 0.05, 2048 * 976),
    "HalfCheetah-v5": EnvSpec("HalfCheetah-v5", 0.15, 2048 * 976, init_std=0.5),  # 1.0: most runs flipped
    "Ant-v5": EnvSpec("Ant-v5", 0.15, 2048 * 4882),
    # tiny closed-form environments (landscape/sim/toys) for exact tests and teaching
    "ToyTarget-v0": EnvSpec("ToyTarget-v0", 0.1, 2048 * 10),
    "ToyTrap-v0": EnvSpec("ToyTrap-v0", 0.3, 2048 * 10),  # toys/trap.py: the sticky-FOSP mechanism
    # Ant layouts of released checkpoints (module doc)
    "Ant-v5-obs111": EnvSpec("Ant-v5-obs111", 0.15, 2048 * 4882, "Ant-v5", zeros_at=27),
    "Ant-v5-obs27": EnvSpec(
        "Ant-v5-obs27",
        0.15,
        2048 * 4882,
        "Ant-v5",
        (("include_cfrc_ext_in_observation", False), ("contact_cost_weight", 0.0)),
    ),
}


def env_spec(env_id: str) -> EnvSpec:
    if env_id not in ENV_SPECS:
        raise LandscapeError(f"unknown environment {env_id!r}; supported: {', '.join(ENV_SPECS)}")
    return ENV_SPECS[env_id]


# observation size -> env id, per family whose checkpoints come in several layouts
LAYOUTS = {"Ant": {105: "Ant-v5", 111: "Ant-v5-obs111", 27: "Ant-v5-obs27"}}


def layout(env_id: str, obs_dim: int, path="checkpoint") -> str:
    """The env id of `env_id`'s family whose observation has obs_dim entries (env_id itself when its family
    has one layout; check_fits then judges it); a one-line error when no layout of the family has that size."""
    family = env_spec(env_id).env_id.split("-")[0]
    sizes = LAYOUTS.get(family)
    if sizes is None:
        return env_id
    if obs_dim not in sizes:
        known = ", ".join(f"{n} ({e})" for n, e in sizes.items())
        raise LandscapeError(
            f"{path}: the policy takes {obs_dim} observations, which fit no {family} layout (known: {known})"
        )
    return sizes[obs_dim]


def env_of_size(obs_dim: int) -> str | None:
    """The environment a checkpoint's input size alone names (None where sizes are shared: Walker2d and
    HalfCheetah both have 17)."""
    return {11: "Hopper-v5", **LAYOUTS["Ant"]}.get(obs_dim)


class ZeroPad(gym.ObservationWrapper):
    """Inserts the worldbody's 6 contact-force entries (always 0) that Ant-v5 leaves out, at `index`."""

    def __init__(self, env: gym.Env, index: int):
        super().__init__(env)
        self.index = index
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (env.observation_space.shape[0] + 6,), np.float64)

    def observation(self, obs):
        return np.insert(obs, self.index, np.zeros(6))


# Gymnasium's HalfCheetah XML sets its total mass with `settotalmass`, deprecated since MuJoCo 4.0; its effect
# (a total of 14) is checked by tests/test_physics.py, so the deprecation notice itself is noise to users.
KNOWN_MUJOCO_NOTICES = ("compiler attribute 'settotalmass' is deprecated",)


def _mujoco_warning(message: str) -> None:
    if not message.startswith(KNOWN_MUJOCO_NOTICES):
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)


@contextmanager
def mujoco_warnings_in_python():
    """MuJoCo's own handler prints each warning and appends it to ./MUJOCO_LOG.TXT in the user's directory;
    while compiling a model, hand them to Python's warnings instead (minus the known notice above)."""
    import mujoco  # here, not at module import: the toys and the CLIs' start-up need no MuJoCo

    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(_mujoco_warning)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


def make_env(env_id: str) -> gym.Env:
    """One Gymnasium environment (raw observations; normalization lives in the agent)."""
    spec = env_spec(env_id)
    with mujoco_warnings_in_python():
        env = gym.make(spec.gym_id or env_id, **dict(spec.options))
    return env if spec.zeros_at is None else ZeroPad(env, spec.zeros_at)


def env_dims(env_id: str) -> tuple[int, int]:
    env = make_env(env_id)
    dims = env.observation_space.shape[0], env.action_space.shape[0]
    env.close()
    return dims
