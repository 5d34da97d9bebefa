"""Model-based attacks: random noise and the PGD attacks on the checkpoint's own networks.

- random:    uniform noise in the ball (corners=True: a random corner, eps * sign).
- mad:       maximal action difference (SA-PPO): maximize KL(pi(.|z) || pi(.|z')), which for the
             Gaussian policy with state-independent std is sum_i (mu_i(z') - mu_i(z))^2 / (2 sigma_i^2).
- critic:    minimize the checkpoint's value function V(z') (the value of the state the agent believes in).
- surrogate: minimize the PPO clipped surrogate (the objective ARPO's inner attack minimizes). At
             evaluation time there are no collected advantages, so the stand-in is: M actions sampled
             from the clean policy pi(.|z) (their log-likelihood under z is the reference), each with
             advantage +1 -- the clean policy's own actions treated as the good ones, as at a converged
             policy. The attack then drives down min(r, clip(r, 1-c, 1+c)) with r = pi(a|z') / pi(a|z):
             it makes the perturbed policy unlikely to take what the clean policy would do. With one
             sample at the mean action it would rank perturbations exactly like `mad`; the samples
             make it weigh the directions the policy's own noise explores.
Every attack acts per theta (K parameter vectors) and per environment, in one batched call. The three
PGD attacks give PGD their input gradient in closed form (the chain rule through the tanh MLP, as in
input_grad.py), which equals autograd's (tests/test_input_grad.py) and skips building a graph at every step.
Their networks are rowwise.MLPs and, run by the evaluator, their random numbers are keyed by episode and step
(crn.py): a point's attacked returns do not depend on what else is in its batch (tests/test_batch_invariance.py).
"""

import torch

from ..core.errors import LandscapeError
from ..core.rowwise import mlp_of
from ..model.flat import batched_log_std, batched_mean, batched_net
from .base import Attack, PGDAttack, register


@register
class RandomAttack(Attack):
    name = "random"

    def __init__(self, agent, eps, corners: bool = False, seed: int = 0):
        super().__init__(agent, eps, seed)
        self.corners = corners

    def __call__(self, z, thetas):
        u = self.uniform(z, z.shape[2:]) * 2 - 1
        return z + self.eps * (u.sign() if self.corners else u)


@register
class MADAttack(PGDAttack):
    name = "mad"

    def prepare(self, z, thetas):
        with torch.no_grad():
            inv_var = torch.exp(-2 * batched_log_std(self.space, thetas))[:, None, :]  # [K, 1, act]
            return batched_mean(self.space, thetas, z), inv_var, batched_net(self.space, thetas)

    def objective(self, z_adv, z, thetas, ctx=None):
        mu, inv_var, _ = ctx if ctx is not None else self.prepare(z, thetas)
        return 0.5 * ((batched_mean(self.space, thetas, z_adv) - mu) ** 2 * inv_var).sum(-1)

    def input_grad(self, z_adv, z, thetas, ctx):
        mu, inv_var, net = ctx
        mean, hidden = net.forward(z_adv)
        return net.input_grad(hidden, (mean - mu) * inv_var)


@register
class CriticAttack(PGDAttack):
    name = "critic"

    def __init__(self, agent, eps, **opts):
        if agent.critic is None:
            raise LandscapeError("the critic attack needs the checkpoint's value network, and this one has none")
        super().__init__(agent, eps, **opts)

    def prepare(self, z, thetas):
        return mlp_of(self.agent.critic.net)

    def objective(self, z_adv, z, thetas, ctx=None):
        return -self.agent.critic(z_adv)

    def input_grad(self, z_adv, z, thetas, net):
        _, hidden = net.forward(z_adv)
        return net.input_grad(hidden, torch.full((*z_adv.shape[:-1], 1), -1.0, dtype=z_adv.dtype))


@register
class SurrogateAttack(PGDAttack):
    name = "surrogate"

    def __init__(self, agent, eps, samples: int = 8, clip: float = 0.2, **opts):
        super().__init__(agent, eps, **opts)
        if samples < 1:
            raise LandscapeError("surrogate: samples must be >= 1")
        self.samples, self.clip = samples, clip

    def prepare(self, z, thetas):
        """Clean std, M sampled actions [K, E, M, act] and their clean log-likelihoods (up to a constant)."""
        with torch.no_grad():
            mu = batched_mean(self.space, thetas, z)
            std = batched_log_std(self.space, thetas).exp()[:, None, None, :]
            # standard normal by inverse CDF of uniforms: the draws are then the same whether the
            # samples are batched or taken one environment at a time (torch.randn's are not)
            u = self.uniform(z, (self.samples, mu.shape[-1]))
            noise = 2**0.5 * torch.erfinv((2 * u - 1).clamp(-1 + 1e-6, 1 - 1e-6))
            net = batched_net(self.space, thetas)
            return std, mu[:, :, None] + std * noise, -0.5 * (noise**2).sum(-1), net

    def _ratio(self, mu_adv, ctx):
        """pi(a|z') / pi(a|z) of the M sampled actions; the normalizing constants cancel (same std)."""
        std, actions, logp_clean, _ = ctx
        return torch.exp(-0.5 * (((actions - mu_adv) / std) ** 2).sum(-1) - logp_clean)

    def objective(self, z_adv, z, thetas, ctx=None):
        ctx = ctx if ctx is not None else self.prepare(z, thetas)
        ratio = self._ratio(batched_mean(self.space, thetas, z_adv)[:, :, None], ctx)
        surrogate = torch.min(ratio, ratio.clamp(1 - self.clip, 1 + self.clip))  # advantage +1
        return -surrogate.mean(-1)

    def input_grad(self, z_adv, z, thetas, ctx):
        std, actions, _, net = ctx
        mean, hidden = net.forward(z_adv)
        ratio = self._ratio(mean[:, :, None], ctx)
        active = ratio <= 1 + self.clip  # the unclipped term is the minimum (advantage +1); flat elsewhere
        # d(-mean_m min(r_m, clip r_m)) / d mu' = -mean_m active_m r_m (a_m - mu') / sigma^2
        g_mean = -((active * ratio)[..., None] * (actions - mean[:, :, None]) / std**2).mean(-2)
        return net.input_grad(hidden, g_mean)
