"""The batched evaluator: many parameter vectors x many episodes in lockstep environments.

Point k, episode e runs in its own environment seeded `seed + e` (common random numbers: every
parameter vector sees the same start states and, when stochastic, the same action noise). Each step
makes one batched policy call for all live environments. Every (k, e) runs exactly one episode, so
short episodes are never over-sampled.
"""

from dataclasses import dataclass

import numpy as np
import torch

from .envs import make_env
from .flat import ParamSpace, batched_log_std, batched_mean
from .normalizer import RunningNorm


@dataclass
class Rollouts:
    returns: np.ndarray  # [K, E] natural (undiscounted) episode returns
    lengths: np.ndarray  # [K, E]

    @property
    def steps(self) -> int:
        return int(self.lengths.sum())


class BatchedEvaluator:
    def __init__(self, env_id: str, space: ParamSpace, obs_norm: RunningNorm, max_steps: int | None = None):
        self.env_id, self.space, self.obs_norm = env_id, space, obs_norm
        self.max_steps = max_steps
        self._envs: list = []

    def _pool(self, n: int) -> list:
        while len(self._envs) < n:
            self._envs.append(make_env(self.env_id))
        return self._envs[:n]

    @torch.no_grad()
    def run(self, thetas: torch.Tensor, episodes: int, seed: int = 0, deterministic: bool = True,
            attack=None) -> Rollouts:
        """Roll out K = thetas.shape[0] policies for `episodes` episodes each.

        attack, if given, maps (z [K, E, obs], thetas) -> z' inside the eps-ball before the policy sees it.
        """
        thetas = torch.as_tensor(thetas, dtype=torch.float32)
        K, E = thetas.shape[0], episodes
        envs = self._pool(K * E)
        obs = np.stack([env.reset(seed=seed + i % E)[0] for i, env in enumerate(envs)])
        low, high = envs[0].action_space.low, envs[0].action_space.high
        limit = self.max_steps or envs[0].spec.max_episode_steps or 1000
        std = batched_log_std(self.space, thetas).exp()[:, None, :]  # [K, 1, act]
        noise_gen = [np.random.default_rng([seed, e]) for e in range(E)]
        live = np.ones(K * E, dtype=bool)
        returns, lengths = np.zeros(K * E), np.zeros(K * E, dtype=int)
        for _ in range(limit):
            z = torch.as_tensor(self.obs_norm(obs), dtype=torch.float32).view(K, E, -1)
            if attack is not None:
                z = attack(z, thetas)
            act = batched_mean(self.space, thetas, z)
            if not deterministic:  # same noise for every parameter vector at (episode, step)
                eps = np.stack([g.standard_normal(act.shape[-1]) for g in noise_gen])
                act = act + std * torch.as_tensor(eps, dtype=torch.float32)[None]
            act = np.clip(act.reshape(K * E, -1).numpy(), low, high)
            for i in np.flatnonzero(live):
                o, r, term, trunc, _ = envs[i].step(act[i])
                obs[i] = o
                returns[i] += r
                lengths[i] += 1
                if term or trunc:
                    live[i] = False
            if not live.any():
                break
        return Rollouts(returns.reshape(K, E), lengths.reshape(K, E))

    def close(self) -> None:
        for env in self._envs:
            env.close()
        self._envs = []
