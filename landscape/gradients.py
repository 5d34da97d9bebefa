"""Policy-gradient estimates from recorded rollouts, batched over parameter vectors.

For point k and episode e the REINFORCE estimate is
    g_ke = sum_t grad log pi_theta_k(a_t | z_t) * A_t,
with A_t the GAE(gamma, lam) advantage over a baseline b_t that does not depend on the action: with the
checkpoint's critic, b_t = a V(z_t) + c with (a, c) fitted by least squares to the discounted
reward-to-go over the whole batch (the critic was trained on scaled rewards, hence the fit); without a
critic, the leave-one-out mean of the reward-to-go over the point's other episodes. lam=1 gives the
unbiased Monte-Carlo estimate; the default lam=0.95 is the gradient PPO follows (less variance, some bias). z_t is what the
policy saw: under an attack it is the perturbed observation, which gives the adversarial policy
gradient with the adversary held fixed (Danskin).

||grad J||^2 is estimated without the ||mean||^2 upward bias: (||sum g||^2 - sum ||g||^2) / (E (E-1)),
and its square root's standard error by the jackknife over episodes.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from .flat import ParamSpace, batched_log_std, batched_mean
from .ppo import gae


@dataclass
class GradientEstimate:
    mean: torch.Tensor  # [K, P] mean per-episode gradient
    norm: np.ndarray  # [K] bias-corrected norm of the expected gradient
    se: np.ndarray  # [K] jackknife standard error of `norm`


def rewards_to_go(rewards: np.ndarray, live: np.ndarray, gamma: float) -> np.ndarray:
    """[T, N] discounted reward-to-go, zero after each episode's end."""
    g = np.zeros_like(rewards, dtype=np.float64)
    run = np.zeros(rewards.shape[1])
    for t in reversed(range(rewards.shape[0])):
        run = (rewards[t] + gamma * run) * live[t]
        g[t] = run
    return g


def baseline(G: np.ndarray, live: np.ndarray, z: torch.Tensor, K: int, E: int, critic=None) -> np.ndarray:
    """[T, K*E] action-independent baseline for the returns-to-go G [T, K*E] (see module docstring)."""
    if critic is None:
        g = G.reshape(-1, K, E)
        return ((g.sum(2, keepdims=True) - g) / max(E - 1, 1)).reshape(G.shape)
    with torch.no_grad():
        v = critic(z).numpy().astype(np.float64)  # [T, K*E]
    keep = live > 0
    X = np.stack([v[keep], np.ones(keep.sum())], 1)
    coef, *_ = np.linalg.lstsq(X, G[keep], rcond=None)
    return coef[0] * v + coef[1]


def per_episode_gradients(space: ParamSpace, thetas: torch.Tensor, traj: dict, episodes: int, gamma: float,
                          lam: float = 0.95, critic=None, rows_per_pass: int = 64) -> torch.Tensor:
    """Per-episode policy gradients [K, E, P] from a recorded Rollouts.trajectories."""
    K, E = thetas.shape[0], episodes
    live = traj["live"].astype(np.float64)  # [T, K*E]
    T = live.shape[0]
    z_t = torch.as_tensor(traj["z"], dtype=torch.float32).reshape(T, K * E, -1)
    G = rewards_to_go(traj["rewards"], live, gamma)
    b = baseline(G, live, z_t, K, E, critic) * live
    ends = live * (1.0 - np.concatenate([live[1:], np.zeros((1, K * E))]))  # episode ended after step t
    adv, _ = gae(traj["rewards"] * live, b, np.zeros(K * E), ends, gamma, lam)
    w = torch.as_tensor((adv * live).T, dtype=torch.float32)  # [K*E, T]
    z = z_t.transpose(0, 1)
    acts = torch.as_tensor(traj["actions"], dtype=torch.float32).transpose(0, 1)  # [K*E, T, act]
    reps = thetas.repeat_interleave(E, dim=0)
    out = torch.empty(K * E, space.size)
    for lo in range(0, K * E, rows_per_pass):
        sl = slice(lo, lo + rows_per_pass)
        th = reps[sl].clone().requires_grad_(True)
        with torch.enable_grad():
            mean = batched_mean(space, th, z[sl])
            log_std = batched_log_std(space, th)[:, None, :]
            logp = (-0.5 * ((acts[sl] - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
            (grad,) = torch.autograd.grad((logp * w[sl]).sum(), th)
        out[sl] = grad
    return out.view(K, E, -1)


def gradient_norm(g: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected ||E g|| and its jackknife standard error from per-episode gradients g [K, E, P]."""
    g = g.to(torch.float64)
    E = g.shape[1]
    if E < 3:
        raise ValueError("gradient-norm estimates need at least 3 episodes per point")
    S, sq_each = g.sum(1), (g ** 2).sum(-1)  # [K, P], [K, E]

    def est(s, sq, n):
        return torch.sqrt(torch.clamp(((s ** 2).sum(-1) - sq) / (n * (n - 1)), min=0.0))

    norm = est(S, sq_each.sum(1), E)
    loo = est(S[:, None, :] - g, (sq_each.sum(1, keepdim=True) - sq_each), E - 1)  # [K, E]
    se = torch.sqrt((E - 1) / E * ((loo - loo.mean(1, keepdim=True)) ** 2).sum(1))
    return norm.numpy(), se.numpy()


def estimate(space: ParamSpace, thetas: torch.Tensor, traj: dict, episodes: int, gamma: float = 0.99,
             lam: float = 0.95, critic=None) -> GradientEstimate:
    g = per_episode_gradients(space, thetas, traj, episodes, gamma, lam, critic)
    norm, se = gradient_norm(g)
    return GradientEstimate(g.mean(1), norm, se)
