"""Closed-form forward pass and input gradient of a tanh MLP: the kernel under the trainers' inner attacks.

An attack step needs d objective / d z for a few dozen observations through a 64-64 network; autograd
spends most of that time building and walking its graph. Here the forward pass keeps its activations and
the gradient is the chain rule written out (h' = 1 - h^2 for tanh):

    g_{L} = d objective / d output,   g_{l-1} = (g_l * (1 - h_l^2)) @ W_l   (the last layer has no tanh)

Weights may carry a leading batch dimension K (K parameter vectors, z [K, N, in]) or not (z [..., in]).
Objectives that know their derivative with respect to the network output expose `grad(z)`; `pgd` uses it
instead of autograd (pgd.py). ARPO's surrogate and BARPO's KL objective do, and so do the evaluation
attacks mad, critic and surrogate (attacks/gradient.py, for K parameter vectors at once).
tests/test_input_grad.py checks every gradient against autograd.
"""

import math

import torch

from .ppo import clipped_surrogate


class TanhMLP:
    """A Linear-tanh-...-Linear network as plain (detached) tensors."""

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]]):
        self.layers = [(w, b.unsqueeze(-2)) for w, b in layers]  # bias broadcast over the sample axis

    @classmethod
    def of(cls, net: torch.nn.Sequential) -> "TanhMLP":
        return cls([(m.weight.detach(), m.bias.detach()) for m in net if isinstance(m, torch.nn.Linear)])

    @classmethod
    def batched(cls, space, thetas: torch.Tensor) -> "TanhMLP":
        """The actor networks of K flat parameter vectors thetas [K, P] (flat.py's layout), for z [K, N, obs]."""
        v = space.views(thetas.detach())
        return cls([(v[f"net.{2 * i}.weight"], v[f"net.{2 * i}.bias"]) for i in range(space.n_layers)])

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Output and the hidden activations the gradient needs."""
        hidden, h = [], z
        for i, (w, b) in enumerate(self.layers):
            h = torch.matmul(h, w.transpose(-1, -2)) + b
            if i < len(self.layers) - 1:
                h = torch.tanh(h)
                hidden.append(h)
        return h, hidden

    def input_grad(self, hidden: list[torch.Tensor], g_out: torch.Tensor) -> torch.Tensor:
        """d (sum of g_out * output) / d z, given the activations of `forward`."""
        g = torch.matmul(g_out, self.layers[-1][0])
        for h, (w, _) in zip(reversed(hidden), reversed(self.layers[:-1])):
            g = torch.matmul(g * (1 - h * h), w)
        return g


class SurrogateObjective:
    """Per-sample PPO clipped surrogate loss of the actor seeing z' (ARPO's inner objective), with its gradient.

    l = -min(r A, clip(r) A), r = exp(log N(a; mu(z'), sigma) - logp_old). Where the unclipped term is the
    minimum (ties included, as autograd splits them), dl/dmu = -A r (a - mu) / sigma^2; elsewhere l is flat.
    """

    def __init__(self, actor, mb, clip: float):
        self.net, self.actor, self.mb, self.clip = TanhMLP.of(actor.net), actor, mb, clip
        log_std = actor.log_std.detach()
        self.inv_var = torch.exp(-2 * log_std)
        self.const = log_std.sum() + 0.5 * log_std.numel() * math.log(2 * math.pi)

    def __call__(self, z_adv: torch.Tensor) -> torch.Tensor:  # the value, differentiable by autograd
        return clipped_surrogate(self.actor, z_adv, self.mb, self.clip)

    def grad(self, z_adv: torch.Tensor) -> torch.Tensor:
        mean, hidden = self.net.forward(z_adv)
        diff = self.mb.actions - mean
        r = torch.exp(-0.5 * (diff * diff * self.inv_var).sum(-1) - self.const - self.mb.logp)
        adv = self.mb.advantages
        active = r * adv <= r.clamp(1 - self.clip, 1 + self.clip) * adv
        g_mean = (-adv * r * active).unsqueeze(-1) * diff * self.inv_var
        return self.net.input_grad(hidden, g_mean)


class KLObjective:
    """KL(pi(.|z) || pi(.|z')) per sample for a state-independent std: sum (mu(z') - mu(z))^2 / (2 sigma^2)."""

    def __init__(self, actor, z: torch.Tensor):
        self.net, self.actor = TanhMLP.of(actor.net), actor
        self.inv_var = torch.exp(-2 * actor.log_std.detach())
        with torch.no_grad():
            self.clean = actor(z)

    def __call__(self, z_adv: torch.Tensor) -> torch.Tensor:
        d = self.actor(z_adv) - self.clean
        return 0.5 * (d * d * torch.exp(-2 * self.actor.log_std)).sum(-1)

    def grad(self, z_adv: torch.Tensor) -> torch.Tensor:
        mean, hidden = self.net.forward(z_adv)
        return self.net.input_grad(hidden, (mean - self.clean) * self.inv_var)
