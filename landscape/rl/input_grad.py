"""Closed-form forward pass and gradients of a tanh MLP: the kernel under every attack and the PPO update.

An attack step needs d objective / d z for a few dozen observations through a 64-64 network; autograd
spends most of that time building and walking its graph. Here the forward pass keeps its activations and
the gradients are the chain rule written out (h' = 1 - h^2 for tanh):

    g_{L} = d objective / d output,   g_{l-1} = (g_l * (1 - h_l^2)) @ W_l   (the last layer has no tanh)
    d objective / d W_l = g_l^T h_{l-1},   d objective / d b_l = sum over samples of g_l

One kernel, two array types: torch tensors for the evaluation attacks, whose weights carry a leading batch
dimension K (K parameter vectors, z [K, N, in]: attacks/gradient.py, paad.py), and numpy views of a
network's own parameters (`TanhMLP.of(net, numpy=True)`) for the trainers' inner attacks and the PPO update
(closed_form.py), where N is a minibatch of 64 and each torch call costs several times a numpy call.
Objectives that know their derivative with respect to the network output expose `grad(z)`; `pgd` uses it
instead of autograd (pgd.py): ARPO's surrogate and BARPO's KL objective (here), and the evaluation
attacks mad, critic and surrogate. tests/test_input_grad.py and tests/test_closed_form.py check every
gradient against autograd.
"""

import math

import numpy as np
import torch

from ..core.numerics import clipped_surrogate


def _tanh(h):
    return torch.tanh(h) if isinstance(h, torch.Tensor) else np.tanh(h)


class TanhMLP:
    """A Linear-tanh-...-Linear network as plain (detached) torch tensors or numpy arrays."""

    def __init__(self, layers: list[tuple]):
        self.layers = [(w, b[..., None, :]) for w, b in layers]  # bias broadcast over the sample axis

    @classmethod
    def of(cls, net: torch.nn.Sequential, numpy: bool = False) -> "TanhMLP":
        """numpy=True: numpy views of the parameters (no copy; in-place optimizer steps show through)."""
        arr = (lambda t: t.detach().numpy()) if numpy else (lambda t: t.detach())
        return cls([(arr(m.weight), arr(m.bias)) for m in net if isinstance(m, torch.nn.Linear)])

    @classmethod
    def batched(cls, space, thetas: torch.Tensor) -> "TanhMLP":
        """The actor networks of K flat parameter vectors thetas [K, P] (flat.py's layout), for z [K, N, obs]."""
        v = space.views(thetas.detach())
        return cls([(v[f"net.{2 * i}.weight"], v[f"net.{2 * i}.bias"]) for i in range(space.n_layers)])

    def forward(self, z):
        """Output and the hidden activations the gradients need."""
        hidden, h = [], z
        for i, (w, b) in enumerate(self.layers):
            h = h @ w.swapaxes(-1, -2) + b
            if i < len(self.layers) - 1:
                h = _tanh(h)
                hidden.append(h)
        return h, hidden

    def input_grad(self, hidden: list, g_out):
        """d (sum of g_out * output) / d z, given the activations of `forward`."""
        g = g_out @ self.layers[-1][0]
        for h, (w, _) in zip(reversed(hidden), reversed(self.layers[:-1])):
            g = (g * (1 - h * h)) @ w
        return g

    def param_grads(self, z, hidden: list, g_out) -> list:
        """d (sum of g_out * output) / d (W_0, b_0, W_1, b_1, ...), unbatched weights, z [N, in]."""
        inputs, grads, g = [z, *hidden], [], g_out
        for i in reversed(range(len(self.layers))):
            grads += [g.sum(-2), g.swapaxes(-1, -2) @ inputs[i]]  # reversed below: (W_i, b_i)
            if i > 0:
                g = (g @ self.layers[i][0]) * (1 - inputs[i] * inputs[i])
        return grads[::-1]


def as_numpy(t: torch.Tensor) -> np.ndarray:
    """A detached CPU tensor's numpy view (no copy)."""
    return t.detach().numpy()


class SurrogateObjective:
    """Per-sample PPO clipped surrogate loss of the actor seeing z' (ARPO's inner objective), with its gradient.

    l = -min(r A, clip(r) A), r = exp(log N(a; mu(z'), sigma) - logp_old). Where the unclipped term is the
    minimum (ties included, as autograd splits them), dl/dmu = -A r (a - mu) / sigma^2; elsewhere l is flat.
    """

    def __init__(self, actor, mb, clip: float):
        self.net, self.actor, self.mb, self.clip = TanhMLP.of(actor.net, numpy=True), actor, mb, clip
        log_std = as_numpy(actor.log_std)
        self.inv_var = np.exp(-2 * log_std)
        self.const = log_std.sum() + np.float32(0.5 * log_std.size * math.log(2 * math.pi))
        self.actions, self.logp, self.adv = as_numpy(mb.actions), as_numpy(mb.logp), as_numpy(mb.advantages)

    def __call__(self, z_adv: torch.Tensor) -> torch.Tensor:  # the value, differentiable by autograd
        mb = self.mb  # ppo.clipped_surrogate's arithmetic (ppo imports this module, so not that function)
        return -clipped_surrogate(self.actor.log_prob(z_adv, mb.actions), mb.logp, mb.advantages, self.clip)

    def values(self, z_adv: torch.Tensor) -> np.ndarray:
        """The per-sample loss in closed form (numpy), for z' of shape [..., B, obs] (e.g. a whole PGD path)."""
        z = as_numpy(z_adv)  # one 2-D matmul per layer: numpy's stacked 3-D matmul loops over the leading axis
        diff = self.actions - self.net.forward(z.reshape(-1, z.shape[-1]))[0].reshape(*z.shape[:-1], -1)
        unclipped, clipped = self._terms(diff)
        return -np.minimum(unclipped, clipped)

    def _terms(self, diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """r A and clip(r) A, r = pi(a | z') / pi_old(a), from diff = a - mu(z')."""
        r = np.exp(-0.5 * (diff * diff * self.inv_var).sum(-1) - self.const - self.logp)
        return r * self.adv, np.clip(r, 1 - self.clip, 1 + self.clip) * self.adv

    def grad(self, z_adv: torch.Tensor) -> torch.Tensor:
        return self.values_and_grad(z_adv)[1]

    def values_and_grad(self, z_adv: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        """The per-sample loss and its gradient from one forward pass (BARPO's delta path scores PGD's
        iterates with the values its gradient steps computed anyway)."""
        mean, hidden = self.net.forward(as_numpy(z_adv))
        diff = self.actions - mean
        unclipped, clipped = self._terms(diff)
        g_mean = (-unclipped * (unclipped <= clipped))[..., None] * diff * self.inv_var  # -A r where unclipped
        return -np.minimum(unclipped, clipped), torch.from_numpy(self.net.input_grad(hidden, g_mean))


class KLObjective:
    """KL(pi(.|z) || pi(.|z')) per sample for a state-independent std: sum (mu(z') - mu(z))^2 / (2 sigma^2)."""

    def __init__(self, actor, z: torch.Tensor):
        self.net, self.actor = TanhMLP.of(actor.net, numpy=True), actor
        self.inv_var = np.exp(-2 * as_numpy(actor.log_std))
        with torch.no_grad():
            self.clean = actor(z)
        self.clean_np = as_numpy(self.clean)

    def __call__(self, z_adv: torch.Tensor) -> torch.Tensor:
        d = self.actor(z_adv) - self.clean
        return 0.5 * (d * d * torch.exp(-2 * self.actor.log_std)).sum(-1)

    def grad(self, z_adv: torch.Tensor) -> torch.Tensor:
        mean, hidden = self.net.forward(as_numpy(z_adv))
        return torch.from_numpy(self.net.input_grad(hidden, (mean - self.clean_np) * self.inv_var))
