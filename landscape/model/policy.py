"""Gaussian MLP policy and value network (64-64 tanh, state-independent log-std, orthogonal init)."""

import math

import torch
from torch import nn

from ..core.numerics import gaussian_log_prob


def _mlp(sizes: list[int], out_gain: float) -> nn.Sequential:
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(n_in, n_out)
        last = i == len(sizes) - 2
        nn.init.orthogonal_(lin.weight, gain=out_gain if last else math.sqrt(2))
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """pi(a|z) = N(mlp(z), exp(log_std)^2); acts on the normalized observation z."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (64, 64), log_std: float = 0.0):
        super().__init__()
        self.obs_dim, self.act_dim, self.hidden = obs_dim, act_dim, tuple(hidden)
        self.net = _mlp([obs_dim, *hidden, act_dim], out_gain=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def dist(self, z: torch.Tensor) -> torch.distributions.Normal:
        # no argument validation: it costs more than these tiny networks, and our inputs are checked upstream
        return torch.distributions.Normal(
            self.net(z), self.log_std.exp().expand(z.shape[:-1] + (self.act_dim,)), validate_args=False
        )

    def log_prob(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(self.net(z), self.log_std, actions)


class Critic(nn.Module):
    def __init__(self, obs_dim: int, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        self.net = _mlp([obs_dim, *hidden, 1], out_gain=1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)
