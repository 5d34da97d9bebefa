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

from .ppo import Batch, PolicyLoss, clipped_surrogate, surrogate_of_logp
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


def gaussian_logp(mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log N(actions; mean, exp(log_std)^2) summed over action dimensions, as Actor.log_prob computes it."""
    return torch.distributions.Normal(mean, log_std.exp().expand(mean.shape)).log_prob(actions).sum(-1)


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
        clean = clipped_surrogate(actor, mb.z, mb, self.clip)
        if z_adv is None:  # no adversary: SPO's loss
            loss = clean.mean()
            nat = float(loss.detach())
            return loss, {"loss_nat": nat, "loss_adv": nat, "adv_gap": 0.0, "pert": 0.0}
        if self.std_from == "joint":
            adv = clipped_surrogate(actor, z_adv, mb, self.clip)
            loss = soft_maximum(adv, self.temperature)
            if self.guidance:
                loss = loss + self.guidance * clean.mean()
        else:
            loss, adv = self._split_loss(actor, z_adv, mb)
        nat, adv_mean = float(clean.detach().mean()), float(adv.detach().mean())
        pert = float((z_adv - mb.z).abs().amax(-1).mean()) / self.eps if self.eps > 0 else 0.0
        return loss, {"loss_nat": nat, "loss_adv": adv_mean, "adv_gap": adv_mean - nat, "pert": pert}

    def _split_loss(self, actor, z_adv, mb: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The robust loss for the mean map (std held fixed) plus the clean surrogate for the std (mean held fixed)."""
        def surrogate(mean, log_std):
            return surrogate_of_logp(gaussian_logp(mean, log_std, mb.actions), mb, self.clip)

        fixed_std, mean = actor.log_std.detach(), actor(mb.z)
        adv = surrogate(actor(z_adv), fixed_std)
        loss = soft_maximum(adv, self.temperature) + surrogate(mean.detach(), actor.log_std).mean()
        if self.guidance:
            loss = loss + self.guidance * surrogate(mean, fixed_std).mean()
        return loss, adv


def arpo_loss(clip: float, eps: float, steps: int = 10, temperature: float = 1.0,
              guidance: float = 0.0, std_from: str = "clean") -> RobustPolicyLoss:
    """ARPO (CAR-PPO style): the strongest first-order adversary, always."""
    return RobustPolicyLoss(clip, eps, Budget(steps), strength=1.0, temperature=temperature, guidance=guidance,
                            std_from=std_from)
