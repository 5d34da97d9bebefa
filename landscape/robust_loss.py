"""ARPO's and BARPO's policy loss: the PPO clipped surrogate seen through an adversary.

One class serves both (the PPO core and the trainer are SPO's): per minibatch,

    z'   = relaxation(actor, mb, eps, strength)               (see relaxations.py; None = no adversary)
    loss = softmax_T( l_i(z'_i) ) + guidance * mean( l_i(z_i) )

where l_i is the per-sample clipped surrogate loss, softmax_T the soft maximum over the minibatch (CAR-PPO:
the worst states dominate; T = inf is the mean, T -> 0 the hard maximum) and guidance the weight of the
clean surrogate (ARPO's optional clean-loss term; BARPO's "SPO guidance", the paper's kappa).

- ARPO  = strength 1: z' is PGD on the surrogate loss in the full eps-ball.
- BARPO = strength s in [0, 1] through a relaxation; s = 1 is ARPO's update exactly, s = 0 is SPO's
  update exactly (no adversary: the soft maximum and the guidance term only shape an adversarial loss,
  so without one the loss is the clean surrogate mean, computed as SPO computes it).

Logged per minibatch (averaged per iteration by the PPO core): loss_nat / loss_adv (mean surrogate loss on
clean / perturbed observations), adv_gap = loss_adv - loss_nat, and pert = mean ||z' - z||_inf / eps.
"""

import math

import torch

from .ppo import Batch, PolicyLoss, clipped_surrogate
from .relaxations import Budget, Relaxation


def soft_maximum(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """T * (logsumexp(x / T) - log n): between mean(x) (T = inf) and max(x) (T -> 0).

    Its gradient weights each sample by softmax(x / T), so high-loss samples dominate.
    """
    if math.isinf(temperature):
        return x.mean()
    if temperature <= 0:
        return x.max()
    return temperature * (torch.logsumexp(x / temperature, 0) - math.log(x.numel()))


class RobustPolicyLoss(PolicyLoss):
    def __init__(self, clip: float, eps: float, relaxation: Relaxation | None = None, strength: float = 1.0,
                 temperature: float = 1.0, guidance: float = 0.0):
        super().__init__(clip)
        self.eps, self.strength, self.temperature, self.guidance = eps, strength, temperature, guidance
        self.relaxation = relaxation or Budget()

    def __call__(self, actor, mb: Batch) -> tuple[torch.Tensor, dict]:
        z_adv = self.relaxation(actor, mb, self.eps, self.strength, self.clip)
        clean = clipped_surrogate(actor, mb.z, mb, self.clip)
        if z_adv is None:  # no adversary: SPO's loss
            loss = clean.mean()
            nat = float(loss.detach())
            return loss, {"loss_nat": nat, "loss_adv": nat, "adv_gap": 0.0, "pert": 0.0}
        adv = clipped_surrogate(actor, z_adv, mb, self.clip)
        loss = soft_maximum(adv, self.temperature)
        if self.guidance:
            loss = loss + self.guidance * clean.mean()
        nat, adv_mean = float(clean.detach().mean()), float(adv.detach().mean())
        pert = float((z_adv - mb.z).abs().amax(-1).mean()) / self.eps if self.eps > 0 else 0.0
        return loss, {"loss_nat": nat, "loss_adv": adv_mean, "adv_gap": adv_mean - nat, "pert": pert}


def arpo_loss(clip: float, eps: float, steps: int = 10, temperature: float = 1.0,
              guidance: float = 0.0) -> RobustPolicyLoss:
    """ARPO (CAR-PPO style): the strongest first-order adversary, always."""
    return RobustPolicyLoss(clip, eps, Budget(steps), strength=1.0, temperature=temperature, guidance=guidance)
