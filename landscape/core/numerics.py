"""The numeric primitives, each written once: Gaussian log-probability, PPO's clipped surrogate, GAE with its
reward scale, and mean with standard error. Every trainer, probe, estimator and report calls these.

**Reward scale.** The critic is trained on *scaled* rewards (SA-PPO reward scaling: each reward divided by
the running std of the discounted return, normalizer.RewardScaler), about 100x apart from raw rewards on
Hopper. `advantages` is the one entry to GAE and makes every caller say which case it is in:
`same_scale=True` when rewards and values share a scale (the collector's scaled rewards against its own
critic, or a baseline computed from the rewards themselves); `same_scale=False` for raw recorded rewards
against the critic, whose values are then mapped to the rewards' scale by least squares, a V + c fitted to
the discounted reward-to-go over the live steps. Running GAE on raw rewards against the unscaled critic
(the old curvature path, no effective baseline) cannot be written without saying same_scale=True.
"""

import math

import numpy as np
import torch

LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))  # torch.distributions.Normal's constant, to the bit
HALF_LOG_2PIE = 0.5 * math.log(2 * math.pi * math.e)  # a Gaussian's entropy per dimension, minus log sigma


def gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log N(actions; mean, exp(log_std)^2) summed over the last (action) axis; log_std broadcasts to mean.

    The arithmetic of torch.distributions.Normal(mean, exp(log_std)).log_prob, without building the object,
    so training reproduces the numbers computed before this module existed bit for bit."""
    std = log_std.exp().expand(mean.shape)
    return (-((actions - mean) ** 2) / (2 * std**2) - std.log() - LOG_SQRT_2PI).sum(-1)


def clipped_surrogate(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, clip: float) -> torch.Tensor:
    """Per-sample PPO clipped surrogate objective (to maximize): min(r A, clip(r, 1 - c, 1 + c) A),
    r = exp(logp - logp_old)."""
    ratio = torch.exp(logp - logp_old)
    return torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)


def rewards_to_go(rewards: np.ndarray, live: np.ndarray, gamma: float) -> np.ndarray:
    """[T, N] discounted reward-to-go, zero after each episode's end (live[t] = 0)."""
    g = np.zeros_like(rewards, dtype=np.float64)
    run = np.zeros(rewards.shape[1])
    for t in reversed(range(rewards.shape[0])):
        run = (rewards[t] + gamma * run) * live[t]
        g[t] = run
    return g


def _in_reward_scale(values: np.ndarray, rewards: np.ndarray, live: np.ndarray, gamma: float) -> np.ndarray:
    """The critic's values mapped to the rewards' scale: a V + c, least squares against the reward-to-go."""
    keep = live > 0
    X = np.stack([values[keep], np.ones(keep.sum())], 1)
    coef, *_ = np.linalg.lstsq(X, rewards_to_go(rewards, live, gamma)[keep], rcond=None)
    return coef[0] * values + coef[1]


def advantages(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    gamma: float,
    lam: float,
    *,
    same_scale: bool,
    last_values=0.0,
    live: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """GAE(gamma, lam) over [T, N] arrays: (advantages, value targets), zero where live is 0.

    dones[t] marks that the episode ended after step t (no bootstrap across it; truncated episodes are
    expected to carry their bootstrap value in the reward already); last_values bootstraps the final step.
    same_scale: see the module docstring (False: values are refitted to the rewards' scale first)."""
    live = np.ones_like(rewards) if live is None else live
    if not same_scale:
        values = _in_reward_scale(values, rewards, live, gamma)
    values = values * live
    T = rewards.shape[0]
    adv = np.zeros_like(rewards, dtype=np.float64)
    running = np.zeros(rewards.shape[1:], dtype=np.float64)
    for t in reversed(range(T)):
        next_v = last_values if t == T - 1 else values[t + 1]
        alive = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_v * alive - values[t]
        running = delta + gamma * lam * alive * running
        adv[t] = running
    return adv * live, (adv + values) * live


def mean_se(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error (sample std with ddof 1 over sqrt(n)) over the last axis; SE NaN for n = 1."""
    n = x.shape[-1]
    se = x.std(-1, ddof=1) / np.sqrt(n) if n > 1 else np.full(x.shape[:-1], np.nan)
    return x.mean(-1), se
