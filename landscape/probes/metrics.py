"""Metrics at landscape points: every probe runs on the one batched evaluator.

A `PointProbe` maps a chunk of parameter vectors [K, P] to {metric: (value [K], standard error [K])}.
Returns are deterministic (mean action) episode returns; gradient norms are of the stochastic policy's
objective, estimated from sampled episodes (gradients.py); every point uses the same seeds.
"""

import numpy as np
import torch

from ..core.errors import LandscapeError
from ..core.numerics import clipped_surrogate, gaussian_log_prob, mean_se
from ..model.agent import Agent
from ..model.flat import batched_log_std, batched_mean
from ..rl.evaluator import BatchedEvaluator
from .gradients import advantages, estimate

METRICS = ("natural", "adversarial", "gap", "grad_natural", "grad_adversarial", "surrogate")
NEEDS_ATTACK = {"adversarial", "gap", "grad_adversarial"}


def parse_metrics(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise LandscapeError(f"unknown metric {bad[0] if bad else text!r}; choose from {', '.join(METRICS)}")
    return names


class SurrogateBatch:
    """PPO's clipped surrogate around the centre: data collected once at theta0, evaluated at any theta.
    Advantages come from the one advantage path (gradients.advantages: the critic's values rescaled to raw
    rewards by the least-squares fit, then GAE on raw rewards), normalized as PPO does."""

    def __init__(
        self,
        agent: Agent,
        evaluator: BatchedEvaluator,
        episodes: int,
        seed: int,
        clip: float = 0.2,
        gamma: float = 0.99,
        lam: float = 0.95,
    ):
        theta0 = agent.space.flatten(agent.actor)[None]
        roll = evaluator.run(theta0, episodes, seed=seed, deterministic=False, record=True)
        tr = roll.trajectories
        adv, live, z = advantages(tr, 1, episodes, gamma, lam, agent.critic)
        keep = live.astype(bool)
        a = adv[keep]
        self.z = z[torch.as_tensor(keep)]
        self.actions = torch.as_tensor(tr["actions"], dtype=torch.float32).reshape(live.shape[0], episodes, -1)[
            torch.as_tensor(keep)
        ]
        self.adv = torch.as_tensor((a - a.mean()) / (a.std() + 1e-8), dtype=torch.float32)
        self.space, self.clip = agent.space, clip
        with torch.no_grad():
            self.logp0 = self._logp(theta0)[0]

    def _logp(self, thetas: torch.Tensor) -> torch.Tensor:
        mean = batched_mean(self.space, thetas, self.z.expand(thetas.shape[0], *self.z.shape))
        return gaussian_log_prob(mean, batched_log_std(self.space, thetas)[:, None, :], self.actions)

    def per_sample(self, thetas: torch.Tensor) -> torch.Tensor:
        """[K, N] clipped surrogate of every recorded sample at each theta (differentiable in thetas)."""
        return clipped_surrogate(self._logp(thetas), self.logp0, self.adv, self.clip)

    def __call__(self, thetas: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            return mean_se(self.per_sample(thetas).numpy())


class PointProbe:
    def __init__(
        self,
        agent: Agent,
        metrics: list[str],
        attack=None,
        episodes: int = 5,
        grad_episodes: int = 8,
        seed: int = 0,
        backend: str = "auto",
    ):
        if NEEDS_ATTACK & set(metrics) and attack is None:
            raise LandscapeError("adversarial metrics need an attack (--attack)")
        if {"grad_natural", "grad_adversarial"} & set(metrics) and grad_episodes < 3:
            raise LandscapeError("gradient-norm metrics need --grad-episodes of at least 3")
        self.agent, self.metrics, self.attack = agent, metrics, attack
        self.episodes, self.grad_episodes, self.seed = episodes, grad_episodes, seed
        self.evaluator = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm, backend)
        self.surrogate = (
            SurrogateBatch(agent, self.evaluator, grad_episodes, seed + 1) if "surrogate" in metrics else None
        )
        self.env_steps = 0

    def _returns(self, thetas, attack) -> np.ndarray:
        roll = self.evaluator.run(thetas, self.episodes, seed=self.seed, attack=attack)
        self.env_steps += roll.steps
        return roll.returns

    def _grad(self, thetas, attack):
        roll = self.evaluator.run(
            thetas, self.grad_episodes, seed=self.seed + 1, deterministic=False, attack=attack, record=True
        )
        self.env_steps += roll.steps
        g = estimate(self.agent.space, thetas, roll.trajectories, self.grad_episodes, critic=self.agent.critic)
        return g.norm, g.se

    def __call__(self, thetas: torch.Tensor) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out, want = {}, set(self.metrics)
        nat = self._returns(thetas, None) if want & {"natural", "gap"} else None
        adv = self._returns(thetas, self.attack) if want & {"adversarial", "gap"} else None
        if "natural" in want:
            out["natural"] = mean_se(nat)
        if "adversarial" in want:
            out["adversarial"] = mean_se(adv)
        if "gap" in want:  # paired over common seeds
            out["gap"] = mean_se(nat - adv)
        if "grad_natural" in want:
            out["grad_natural"] = self._grad(thetas, None)
        if "grad_adversarial" in want:
            out["grad_adversarial"] = self._grad(thetas, self.attack)
        if "surrogate" in want:
            out["surrogate"] = self.surrogate(thetas)
        return {m: out[m] for m in self.metrics}

    def close(self) -> None:
        self.evaluator.close()
