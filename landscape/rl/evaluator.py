"""The batched evaluator: many parameter vectors x many episodes in lockstep environments.

Point k, episode e runs in its own environment seeded `seed + e` (common random numbers: every
parameter vector sees the same start states and, when stochastic, the same action noise). Each step
makes one batched policy call (and one batched attack call) for all environments. Every (k, e) runs
exactly one episode, so short episodes are never over-sampled.

A point's numbers do not depend on what else is in its batch: the policy's forward pass computes each row
from its own theta and observation alone (flat.batched_mean, rowwise.py), and the action noise and an
attack's random numbers are keyed by (episode seed, step) (crn.py). So (theta, episode seed) gives the same
return bit for bit alone, in any chunk of a scan, beside any other points, and with any --episodes.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import crn
from ..core.normalizer import RunningNorm
from ..model.flat import ParamSpace, batched_log_std, batched_mean
from ..sim.vecenv import make_vec


@dataclass
class Rollouts:
    returns: np.ndarray  # [K, E] natural (undiscounted) episode returns
    lengths: np.ndarray  # [K, E]
    trajectories: dict = field(default_factory=dict)  # when recorded: z, actions, rewards, live [T, K, E, ...]

    @property
    def steps(self) -> int:
        return int(self.lengths.sum())


class BatchedEvaluator:
    def __init__(self, env_id: str, space: ParamSpace, obs_norm: RunningNorm, backend: str = "auto"):
        self.env_id, self.space, self.obs_norm, self.backend = env_id, space, obs_norm, backend
        self._vec = None

    def _envs(self, n: int):
        if self._vec is None or self._vec.n != n:
            if self._vec is not None:
                self._vec.close()
            self._vec = make_vec(self.env_id, n, self.backend)
        return self._vec

    @torch.no_grad()
    def run(
        self,
        thetas: torch.Tensor,
        episodes: int,
        seed: int = 0,
        deterministic: bool = True,
        attack=None,
        record: bool = False,
        max_steps: int | None = None,
    ) -> Rollouts:
        """Roll out K = thetas.shape[0] policies for `episodes` episodes each.

        attack, if given, maps (z [K, E, obs], thetas) -> z' inside the eps-ball before the policy sees it.
        record keeps the (possibly perturbed) observations, actions and rewards for gradient estimates.
        """
        thetas = torch.as_tensor(thetas, dtype=torch.float32)
        K, E = thetas.shape[0], episodes
        vec = self._envs(K * E)
        obs = vec.reset([seed + e for _ in range(K) for e in range(E)])
        std = batched_log_std(self.space, thetas).exp()[:, None, :]  # [K, 1, act]
        episodes = np.arange(seed, seed + E)
        live = np.ones(K * E, dtype=bool)
        returns, lengths = np.zeros(K * E), np.zeros(K * E, dtype=int)
        traj = {"z": [], "actions": [], "rewards": [], "live": []}
        for t in range(max_steps or vec.max_steps):
            z = torch.as_tensor(self.obs_norm(obs), dtype=torch.float32).view(K, E, -1)
            keys = crn.Keys(episodes, t)
            if attack is not None:
                if hasattr(attack, "keys"):
                    attack.keys = keys
                z = attack(z, thetas)
            act = batched_mean(self.space, thetas, z)
            if not deterministic:  # the same noise for every parameter vector at (episode seed, step)
                act = act + std * crn.normal(keys, 0, 0, act.shape[-1:])[None]
            act = act.reshape(K * E, -1).numpy()
            obs, reward, term, trunc = vec.step(act, live)
            if record:
                for key, val in zip(traj, (z, act, reward, live.copy())):
                    traj[key].append(val)
            returns += reward * live
            lengths += live
            live &= ~(term | trunc)
            if not live.any():
                break
        if attack is not None and hasattr(attack, "keys"):
            attack.keys = None
        out = Rollouts(returns.reshape(K, E), lengths.reshape(K, E))
        if record:
            out.trajectories = {k: np.stack([np.asarray(v) for v in vals]) for k, vals in traj.items()}
        return out

    def close(self) -> None:
        if self._vec is not None:
            self._vec.close()
            self._vec = None
