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

Which term trains the log-std (`std_from`): the std is state-independent, so no observation perturbation moves
it, yet in the literal loss above a larger std blunts every perturbation (the adversary's shift of the mean
costs less log-probability). Trained that way on Hopper the std grows without bound (21-37 after 1M steps,
100-730 after 2M, on actions in [-1, 1]) and collection approaches a random walk (README: the ablation).
SA-PPO detaches the std in its robustness term for the same reason. With std_from = "clean" (default) the mean
map follows the robust loss with the std held fixed, and the std follows the clean surrogate with the mean held
fixed, exactly as SPO trains it; "joint" is the literal loss.

Logged per minibatch (averaged per iteration by the PPO core): loss_nat / loss_adv (mean surrogate loss on
clean / perturbed observations), adv_gap = loss_adv - loss_nat, and pert = mean ||z' - z||_inf / eps.
"""

import math

import torch

from .policy import gaussian_log_prob
from .ppo import Batch, PolicyLoss, surrogate_of_logp
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


STD_FROM = ("clean", "joint")


class RobustPolicyLoss(PolicyLoss):
    def __init__(self, clip: float, eps: float, relaxation: Relaxation | None = None, strength: float = 1.0,
                 temperature: float = 1.0, guidance: float = 0.0, std_from: str = "clean"):
        super().__init__(clip)
        if std_from not in STD_FROM:
            raise ValueError(f"std_from must be one of {STD_FROM}, not {std_from!r}")
        self.eps, self.strength, self.temperature, self.guidance = eps, strength, temperature, guidance
        self.relaxation, self.std_from = relaxation or Budget(), std_from

    def __call__(self, actor, mb: Batch) -> tuple[torch.Tensor, dict]:
        z_adv = self.relaxation(actor, mb, self.eps, self.strength, self.clip)

        def surrogate(mean, log_std):  # per-sample clipped surrogate loss of N(mean, exp(log_std)^2)
            return surrogate_of_logp(gaussian_log_prob(mean, log_std, mb.actions), mb, self.clip)

        mean = actor(mb.z)
        clean = surrogate(mean, actor.log_std)
        if z_adv is None:  # no adversary: SPO's loss
            loss = clean.mean()
            nat = float(loss.detach())
            return loss, {"loss_nat": nat, "loss_adv": nat, "adv_gap": 0.0, "pert": 0.0}
        # "clean": the robust terms see the std held fixed, and the std learns from the clean surrogate alone
        robust_std = actor.log_std if self.std_from == "joint" else actor.log_std.detach()
        adv = surrogate(actor(z_adv), robust_std)
        loss = soft_maximum(adv, self.temperature)
        if self.guidance:
            loss = loss + self.guidance * surrogate(mean, robust_std).mean()
        if self.std_from == "clean":
            loss = loss + surrogate(mean.detach(), actor.log_std).mean()
        nat, adv_mean = float(clean.detach().mean()), float(adv.detach().mean())
        pert = float((z_adv - mb.z).abs().amax(-1).mean()) / self.eps if self.eps > 0 else 0.0
        return loss, {"loss_nat": nat, "loss_adv": adv_mean, "adv_gap": adv_mean - nat, "pert": pert}


def arpo_loss(clip: float, eps: float, steps: int = 10, temperature: float = 1.0,
              guidance: float = 0.0, std_from: str = "clean") -> RobustPolicyLoss:
    """ARPO (CAR-PPO style): the strongest first-order adversary, always."""
    return RobustPolicyLoss(clip, eps, Budget(steps), strength=1.0, temperature=temperature, guidance=guidance,
                            std_from=std_from)
