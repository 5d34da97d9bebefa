"""Lockstep vectors of environments for evaluation: one `step` call advances every live environment.

`make_vec` picks the fastest backend for an environment id: the direct-MuJoCo batch (physics.py) where
its observation/reward/termination have been rebuilt and checked against Gymnasium, else a loop over
Gymnasium environments. Both have the same interface.
"""

import numpy as np

from .envs import make_env


class GymVec:
    """n Gymnasium environments stepped in a Python loop (the reference backend)."""

    def __init__(self, env_id: str, n: int):
        self.env_id, self.n = env_id, n
        self.envs = [make_env(env_id) for _ in range(n)]
        space = self.envs[0].action_space
        self.low, self.high = space.low, space.high
        self.obs_dim = self.envs[0].observation_space.shape[0]
        self.act_dim = space.shape[0]
        self.max_steps = self.envs[0].spec.max_episode_steps or 1000

    def reset(self, seeds) -> np.ndarray:
        return np.stack([env.reset(seed=int(s))[0] for env, s in zip(self.envs, seeds)])

    def step(self, actions: np.ndarray, live: np.ndarray):
        """Step the live environments; dead ones keep obs 0 and reward 0. Actions are clipped here."""
        actions = np.clip(actions, self.low, self.high)
        obs = np.zeros((self.n, self.obs_dim))
        reward, term, trunc = np.zeros(self.n), np.zeros(self.n, bool), np.zeros(self.n, bool)
        for i in np.flatnonzero(live):
            obs[i], reward[i], term[i], trunc[i], _ = self.envs[i].step(actions[i])
        return obs, reward, term, trunc

    def close(self) -> None:
        for env in self.envs:
            env.close()


def make_vec(env_id: str, n: int, backend: str = "auto"):
    """backend: 'auto' (fast where available), 'gym' (reference), or 'mujoco' (fast, error if unsupported)."""
    if backend != "gym":
        try:
            from .physics import MujocoVec, supported
        except ImportError:
            supported = None
        if supported is not None and supported(env_id):
            return MujocoVec(env_id, n)
        if backend == "mujoco":
            raise ValueError(f"no direct-MuJoCo backend for {env_id}")
    return GymVec(env_id, n)
