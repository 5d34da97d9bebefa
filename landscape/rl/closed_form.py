"""Closed-form gradients of PPO's losses for tanh-MLP networks, in numpy: the update without autograd.

For networks this small (64-64 tanh, minibatch 64) a PPO minibatch step is dominated by per-operation
overhead, not arithmetic: autograd builds and walks a graph, and each torch call costs several times a
numpy call on arrays of this size. Both losses are short chain rules:

    policy  l_i = -min(r_i A_i, clip(r_i) A_i),  r_i = exp(logp_i - logp_old_i),  loss = sum_i w_i l_i
            dl_i/dlogp_i = -A_i r_i where the unclipped term is the minimum (ties included: inside the clip
            range both terms are equal and torch.min splits the gradient between them), else 0
            dlogp/dmu = (a - mu) / sigma^2,   dlogp/dlog_sigma = (a - mu)^2 / sigma^2 - 1
    value   loss = 0.5 mean_i max((v_i - R_i)^2, (v_clip_i - R_i)^2),  v_clip = v_old + clip(v - v_old, -c, c)

then back through the network (input_grad.TanhMLP.param_grads, on numpy views of the parameters).
SPO's loss is one surrogate pass with weights 1/N; the robust loss (robust_loss.py) a clean pass with
weights guidance/N plus a pass at the perturbed observations with weights reg x softmax(l / T). The
arrays are views of the torch tensors (no copies), the gradients go back as tensors for the core's
clipping and fused Adam. tests/test_closed_form.py checks every gradient against autograd;
benchmarks/step_overhead.py times both paths in one process.
"""

import math

import numpy as np
import torch
from torch import nn

from ..core.numerics import HALF_LOG_2PIE, LOG_SQRT_2PI
from .input_grad import TanhMLP, as_numpy

_HALF_LOG_2PI = np.float32(LOG_SQRT_2PI)


def is_tanh_mlp(net) -> bool:
    """Linear, Tanh, ..., Linear."""
    mods = list(net) if isinstance(net, nn.Sequential) else []
    return len(mods) % 2 == 1 and all(isinstance(m, nn.Linear if i % 2 == 0 else nn.Tanh) for i, m in enumerate(mods))


def _names(net: nn.Sequential, prefix: str) -> list[str]:
    """Parameter names in TanhMLP.param_grads order: weight and bias of each Linear."""
    return [f"{prefix}{i}.{k}" for i in range(0, len(net), 2) for k in ("weight", "bias")]


def actor_supported(actor) -> bool:
    """The actor's parameters are exactly log_std and its tanh MLP's weights and biases."""
    if not is_tanh_mlp(getattr(actor, "net", None)):
        return False
    return sorted(n for n, _ in actor.named_parameters()) == sorted(["log_std", *_names(actor.net, "net.")])


def critic_supported(critic) -> bool:
    net = getattr(critic, "net", None)
    return is_tanh_mlp(net) and [n for n, _ in critic.named_parameters()] == _names(net, "net.")


class Minibatch:
    """A ppo.Batch's fields as numpy views."""

    def __init__(self, mb):
        self.z, self.actions, self.logp = as_numpy(mb.z), as_numpy(mb.actions), as_numpy(mb.logp)
        self.values, self.advantages, self.returns = as_numpy(mb.values), as_numpy(mb.advantages), as_numpy(mb.returns)


class SurrogatePass:
    """The per-sample clipped surrogate loss of the actor seeing z, kept for a weighted backward pass."""

    def __init__(self, mlp: TanhMLP, log_std: np.ndarray, z: np.ndarray, mb: Minibatch, clip: float):
        self.mlp, self.z = mlp, z
        mean, self.hidden = mlp.forward(z)
        self.inv_var = np.exp(-2 * log_std)
        self.diff = mb.actions - mean
        logp = (-0.5 * self.diff * self.diff * self.inv_var - log_std - _HALF_LOG_2PI).sum(-1)
        r, adv = np.exp(logp - mb.logp), mb.advantages
        unclipped, clipped = r * adv, np.clip(r, 1 - clip, 1 + clip) * adv
        self.loss = -np.minimum(unclipped, clipped)  # per sample
        self.dl_dlogp = -unclipped * (unclipped <= clipped)

    def backward(self, weights: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Gradients of sum_i weights_i l_i: the network's (W_0, b_0, ...) and log_std's."""
        g_logp = (weights * self.dl_dlogp)[:, None]
        g_mean = g_logp * self.diff * self.inv_var
        g_log_std = (g_logp * (self.diff * self.diff * self.inv_var - 1)).sum(0)
        return self.mlp.param_grads(self.z, self.hidden, g_mean), g_log_std


def actor_grads(actor, passes: list[tuple[SurrogatePass, np.ndarray]], log_std_extra=0.0) -> list[torch.Tensor]:
    """The gradient, for each of actor.parameters() in order, of the sum over passes of sum_i w_i l_i, plus
    log_std_extra on log_std (an entropy bonus's)."""
    total, g_log_std = None, log_std_extra
    for p, w in passes:
        flat, g_ls = p.backward(w)
        total = flat if total is None else [a + b for a, b in zip(total, flat)]
        g_log_std = g_log_std + g_ls
    by_name = dict(zip(_names(actor.net, "net."), total), log_std=np.asarray(g_log_std, dtype=np.float32))
    return [torch.from_numpy(by_name[n]) for n, _ in actor.named_parameters()]


def spo_grads(actor, mb, clip: float, entropy_coef: float = 0.0) -> tuple[float, list[torch.Tensor], float]:
    """SPO's policy loss, mean_i l_i - entropy_coef * H, its gradient for each of actor.parameters(), and the
    mean surrogate loss alone. H = sum(log_std) + const is the same for every sample: dH/dlog_std = 1."""
    log_std = as_numpy(actor.log_std)
    p = SurrogatePass(TanhMLP.of(actor.net, numpy=True), log_std, as_numpy(mb.z), Minibatch(mb), clip)
    surrogate = float(p.loss.mean())
    loss = surrogate - entropy_coef * float((log_std + HALF_LOG_2PIE).sum())
    weights = np.full_like(p.loss, 1.0 / p.loss.shape[0])
    return loss, actor_grads(actor, [(p, weights)], -entropy_coef), surrogate


def value_grads(critic, mb, value_clip: float) -> tuple[float, list[torch.Tensor]]:
    """PPO's value loss (ppo.PPO.value_loss) and its gradient for each of critic.parameters()."""
    mlp, m = TanhMLP.of(critic.net, numpy=True), Minibatch(mb)
    out, hidden = mlp.forward(m.z)
    v, n = out[:, 0], out.shape[0]
    err = v - m.returns
    loss = err * err
    if value_clip > 0:
        delta = v - m.values
        err_clip = m.values + np.clip(delta, -value_clip, value_clip) - m.returns
        loss_clip = err_clip * err_clip
        # torch.max's gradient: to the larger term, split at ties; the clipped term passes it only inside the clip
        w = np.where(loss > loss_clip, 1.0, np.where(loss == loss_clip, 0.5, 0.0)).astype(np.float32)
        inside = np.abs(delta) <= value_clip
        g_v = (w * err + (1 - w) * err_clip * inside) / n
        loss = np.maximum(loss, loss_clip)
    else:
        g_v = err / n
    grads = mlp.param_grads(m.z, hidden, g_v[:, None].astype(np.float32))
    return 0.5 * float(loss.mean()), [torch.from_numpy(g) for g in grads]


def softmax_weights(x: np.ndarray, temperature: float) -> np.ndarray:
    """robust_loss.soft_weights in numpy: uniform at T = inf, one-hot on the max at T = 0."""
    if math.isinf(temperature):
        return np.full_like(x, 1.0 / x.size)
    if temperature <= 0:
        w = np.zeros_like(x)
        w[np.argmax(x)] = 1.0
        return w
    e = np.exp((x - x.max()) / np.float32(temperature))
    return e / e.sum()
