"""ARPO's and BARPO's policy loss: the PPO clipped surrogate seen through an adversary.

One class serves both (the PPO core and the trainer are SPO's). Per minibatch, with advantages normalized
per minibatch by the core (as CAR-PPO's `surrogate_reward` does):

    z'    = relaxation(actor, mb, eps, strength)              (relaxations.py; None = no adversary)
    l_i   = clipped surrogate loss of sample i seen at z'_i  - entropy_coef * H_i
    w     = softmax(l / T), held constant (detached)
    loss  = guidance * mean_i(clean surrogate loss) + reg * sum_i w_i l_i

This is CAR-PPO's robust loss term by term (RyanHaoranLi/CAR-RL, `robust_ppo_step` with `car_pgd` /
`car_sgld` and `robust_add_clean_loss`): `T` is its `robust_soft_lambda`, `reg` its `robust_ppo_reg`, and
`guidance` the weight of its clean term (1 when the clean loss is added, 0 when not). The detached soft
weights give the same gradient as T * logsumexp(l / T); T = inf is the plain mean, T -> 0 the hard maximum.
The std enters both terms (the literal loss, `std_from="joint"`, CAR-PPO's own).

What the std does (README, "What trains the std", measured): the std is state-independent, so no
perturbation moves it, but the adversary pushes every sample's ratio to the *unclipped* side of PPO's clip
(positive advantages: a far from the perturbed mean, negative ones: a close to it), and on both sides a wider
Gaussian lowers that sample's loss. The push grows as the policy sharpens, so each loss has an equilibrium
std; CAR-PPO's weights (clean term 1 against reg 0.1-1.0, near-mean weighting T = 100-10000) do not remove
the push but move that equilibrium (Hopper, 2M steps: std about 1, against 100-730 for our earlier default,
the robust term alone at T = 1, which pushed hardest from a wide policy).

- ARPO  = strength 1: z' is PGD on the surrogate loss in the full eps-ball. Presets (robust_trainer.py):
  `car` (CAR-PPO as released: guidance 1, the env's reg and T) and `vanilla` (the robust term alone).
- BARPO = strength s in [0, 1] through a relaxation; s = 1 is ARPO's update with the same guidance exactly,
  s = 0 is SPO's update exactly (no adversary: the loss is the clean surrogate mean, as SPO computes it).

`perturb="epoch"` (a speed option, not the default): z' is computed once per epoch for the whole batch with
the actor as it is at the epoch's start (advantages normalized over the batch), and every minibatch uses its
rows; CAR-PPO's own (`"minibatch"`, the default) perturbs each minibatch with the current actor. Fewer, larger
inner-attack calls, but perturbations up to one epoch stale.

`std_from="clean"` (an ablation, not the default): the robust term sees the std held fixed, and the std follows
the clean surrogate with the mean held fixed, exactly as SPO trains it.

Logged per minibatch (averaged per iteration by the PPO core): loss_nat / loss_adv (mean surrogate loss on
clean / perturbed observations), adv_gap = loss_adv - loss_nat, and pert = mean ||z' - z||_inf / eps.
"""

import math
from dataclasses import replace

import numpy as np
import torch

from ..core.numerics import HALF_LOG_2PIE, gaussian_log_prob
from ..rl import closed_form as cf
from ..rl.ppo import Batch, PolicyLoss, normalized, surrogate_of_logp
from .relaxations import Budget, Relaxation


def soft_weights(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """CAR-PPO's per-sample weights softmax(x / T), detached: uniform at T = inf, one-hot on the max at T = 0."""
    x = x.detach()
    if math.isinf(temperature):
        return torch.full_like(x, 1.0 / x.numel())
    if temperature <= 0:
        return torch.nn.functional.one_hot(x.argmax(), x.numel()).to(x.dtype)
    return torch.softmax(x / temperature, 0)


def soft_maximum(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """sum_i softmax(x / T)_i x_i with the weights held constant: between mean(x) (T = inf) and max(x) (T = 0).

    Its gradient weights each sample by softmax(x / T) (the gradient of T * logsumexp(x / T)), so high-loss
    samples dominate as T falls.
    """
    return (soft_weights(x, temperature) * x).sum()


STD_FROM = ("joint", "clean")
PERTURB = ("minibatch", "epoch")


class RobustPolicyLoss(PolicyLoss):
    handles_entropy = True  # the entropy bonus sits inside the robust per-sample loss, as in CAR-PPO

    def __init__(
        self,
        clip: float,
        eps: float,
        relaxation: Relaxation | None = None,
        strength: float = 1.0,
        temperature: float = 1000.0,
        guidance: float = 1.0,
        reg: float = 0.3,
        std_from: str = "joint",
        entropy_coef: float = 0.0,
        perturb: str = "minibatch",
    ):
        super().__init__(clip)
        if std_from not in STD_FROM:
            raise ValueError(f"std_from must be one of {STD_FROM}, not {std_from!r}")
        if perturb not in PERTURB:
            raise ValueError(f"perturb must be one of {PERTURB}, not {perturb!r}")
        self.perturb = perturb
        self.eps, self.strength, self.temperature, self.guidance = eps, strength, temperature, guidance
        self.reg, self.entropy_coef = reg, entropy_coef
        self.relaxation, self.std_from = relaxation or Budget(), std_from

    def epoch_start(self, actor, batch: Batch) -> Batch:
        """perturb="epoch": the whole batch's z' at once, with the actor as it is now."""
        if self.perturb != "epoch":
            return batch
        seen = replace(batch, advantages=normalized(batch.advantages))  # as the minibatches see them, on average
        return replace(batch, z_adv=self.relaxation(actor, seen, self.eps, self.strength, self.clip))

    def _z_adv(self, actor, mb: Batch) -> torch.Tensor | None:
        if self.perturb == "epoch":
            return mb.z_adv
        return self.relaxation(actor, mb, self.eps, self.strength, self.clip)

    def _info(self, clean: torch.Tensor, adv: torch.Tensor, z_adv: torch.Tensor, mb: Batch) -> dict:
        nat, adv_mean = float(clean.detach().mean()), float(adv.detach().mean())
        pert = float((z_adv - mb.z).abs().amax(-1).mean()) / self.eps if self.eps > 0 else 0.0
        return {"loss_nat": nat, "loss_adv": adv_mean, "adv_gap": adv_mean - nat, "pert": pert}

    def __call__(self, actor, mb: Batch) -> tuple[torch.Tensor, dict]:
        z_adv = self._z_adv(actor, mb)

        def surrogate(mean, log_std):  # per-sample clipped surrogate loss of N(mean, exp(log_std)^2)
            return surrogate_of_logp(gaussian_log_prob(mean, log_std, mb.actions), mb, self.clip)

        mean = actor(mb.z)
        clean = surrogate(mean, actor.log_std)
        if z_adv is None:  # no adversary: SPO's loss (and SPO's entropy bonus)
            loss = clean.mean() - self.entropy_coef * _entropy(actor.log_std)
            nat = float(clean.detach().mean())
            return loss, {"loss_nat": nat, "loss_adv": nat, "adv_gap": 0.0, "pert": 0.0}
        robust_std = actor.log_std if self.std_from == "joint" else actor.log_std.detach()
        adv = surrogate(actor(z_adv), robust_std)
        per_sample = adv - self.entropy_coef * _entropy(robust_std)
        loss = self.reg * soft_maximum(per_sample, self.temperature)
        if self.guidance:  # with the std joint the clean term is `clean` itself; else its std is held fixed
            clean_term = clean if self.std_from == "joint" else surrogate(mean, robust_std)
            loss = loss + self.guidance * clean_term.mean()
        if self.std_from == "clean":
            loss = loss + surrogate(mean.detach(), actor.log_std).mean()
        return loss, self._info(clean, adv, z_adv, mb)

    def closed_form(self, actor, mb: Batch, entropy_coef: float = 0.0):
        """The same loss (as a float), info and gradient without autograd (closed_form.py), for the literal
        loss (std_from="joint"); None for the std_from="clean" ablation. The inner attack is the same call."""
        if self.std_from != "joint" or type(self).__call__ is not RobustPolicyLoss.__call__:
            return None
        z_adv = self._z_adv(actor, mb)
        if z_adv is None:
            loss, grads, nat = cf.spo_grads(actor, mb, self.clip, self.entropy_coef)
            return loss, {"loss_nat": nat, "loss_adv": nat, "adv_gap": 0.0, "pert": 0.0}, grads
        mlp, log_std, m = cf.TanhMLP.of(actor.net, numpy=True), cf.as_numpy(actor.log_std), cf.Minibatch(mb)
        clean = cf.SurrogatePass(mlp, log_std, m.z, m, self.clip)
        adv = cf.SurrogatePass(mlp, log_std, cf.as_numpy(z_adv), m, self.clip)
        per_sample = adv.loss - self.entropy_coef * float((log_std + HALF_LOG_2PIE).sum())
        w = cf.softmax_weights(per_sample, self.temperature)
        loss = self.reg * float((w * per_sample).sum())
        passes = [(adv, self.reg * w)]
        if self.guidance:
            loss += self.guidance * float(clean.loss.mean())
            passes.append((clean, np.full_like(clean.loss, self.guidance / clean.loss.size)))
        entropy_grad = -self.reg * self.entropy_coef * float(w.sum())  # dH/dlog_std = 1
        info = self._info(torch.from_numpy(clean.loss), torch.from_numpy(adv.loss), z_adv, mb)
        return loss, info, cf.actor_grads(actor, passes, entropy_grad)


def _entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy of a Gaussian with state-independent log-std (the same for every sample)."""
    return (log_std + HALF_LOG_2PIE).sum()


def arpo_loss(
    clip: float,
    eps: float,
    steps: int = 10,
    temperature: float = 1000.0,
    guidance: float = 1.0,
    reg: float = 0.3,
    std_from: str = "joint",
    entropy_coef: float = 0.0,
    solver: str = "pgd",
    perturb: str = "minibatch",
) -> RobustPolicyLoss:
    """ARPO (CAR-PPO): the strongest first-order adversary, always. Defaults: CAR-PPO's Hopper PGD run."""
    return RobustPolicyLoss(
        clip,
        eps,
        Budget(steps, solver),
        strength=1.0,
        temperature=temperature,
        guidance=guidance,
        reg=reg,
        std_from=std_from,
        entropy_coef=entropy_coef,
        perturb=perturb,
    )
