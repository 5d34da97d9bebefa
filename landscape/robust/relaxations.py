"""The adversary inside the robust policy loss, at a strength s in [0, 1]: one interface, four relaxations.

Every relaxation maps (actor, minibatch, eps, s) to perturbed observations z' with ||z' - z||_inf <= eps:

- s = 0: no adversary (returns None; the robust loss is then exactly SPO's loss),
- s = 1: ARPO's adversary, the strongest first-order one: PGD on the per-sample PPO clipped surrogate
  loss (10 sign steps of eps/10, random start, projection),
- 0 < s < 1: a "moderate" adversary, which is what distinguishes the relaxations:
    objective  the inner objective itself is relaxed: KL(pi(.|z) || pi(.|z')) solved by SGLD (the
               paper's BAR-PPO adversary). A three-level ladder: the value of s inside (0, 1) is unused.
    budget     ARPO's adversary in a shrunken ball, eps * s.
    delta      delta-optimal: along ARPO's own attack path (z, PGD start, its iterates), the first point
               whose loss increase over the clean loss reaches the fraction s of the largest found.
    penalty    ARPO's objective minus lambda * mean(((z' - z) / eps)^2), lambda = penalty * (1 - s) / s.

All randomness (PGD random start, SGLD noise) comes from torch's global generator, which the Trainer saves
in its checkpoints, so resumed runs continue the same random stream.
"""

import numpy as np
import torch

from ..rl.input_grad import KLObjective, SurrogateObjective
from ..rl.pgd import gradient_of, pgd, project, sign_step
from ..rl.ppo import Batch


def surrogate_objective(actor, mb: Batch, clip: float) -> SurrogateObjective:
    """ARPO's inner objective: the per-sample clipped surrogate loss of the actor seeing z' (closed-form gradient)."""
    return SurrogateObjective(actor, mb, clip)


def kl_objective(actor, z: torch.Tensor) -> KLObjective:
    """The paper's moderate inner objective: KL(pi(.|z) || pi(.|z')) per sample (pi(.|z) held fixed)."""
    return KLObjective(actor, z)


class _WithNoise:
    """objective(z') + noise . z': its gradient is the objective's plus the noise (closed form if it has one)."""

    def __init__(self, objective, noise: torch.Tensor):
        self.objective, self.noise = objective, noise
        if hasattr(objective, "grad"):
            self.grad = lambda z_adv: objective.grad(z_adv) + noise

    def __call__(self, z_adv):
        return self.objective(z_adv) + (self.noise * z_adv).sum(-1)


def sgld(
    objective, z: torch.Tensor, eps: float, steps: int = 10, step_size: float | None = None, noise: float = 1.0
) -> torch.Tensor:
    """PGD with Langevin noise: before each sign step add Gaussian noise of std noise * step_size,
    decaying linearly to zero over the steps, and project back to the eps-ball.

    The sign step and the projection are PGD's own (`sign_step`, `project`). The noise matters for the KL
    objective, whose gradient vanishes at z' = z. noise=0 is PGD without random start, exactly.
    """
    z = z.detach()
    step = torch.as_tensor(eps if step_size is None else step_size, dtype=z.dtype)
    step = step / 10 if step_size is None else step  # computed as pgd computes it
    if eps == 0 or steps == 0:
        return z.clone()
    # The loop runs on numpy views (a minibatch of 64: torch's per-call overhead would be most of the cost),
    # with the same float32 arithmetic in the same order as pgd's torch ops, so the result is theirs bit for
    # bit (tests/test_robust.py); the noise still comes from torch's global generator.
    grad_of, zn, step_n = gradient_of(objective), z.numpy(), step.numpy()
    lo, hi = zn - np.float32(eps), zn + np.float32(eps)  # project(): z - eps, z + eps
    z_adv = zn.copy()
    for k in range(steps):
        if noise > 0:
            scale = np.float32(noise) * step_n * np.float32(1 - k / steps)
            z_adv = np.maximum(np.minimum(z_adv + scale * torch.randn(z.shape).numpy(), hi), lo)
        g = grad_of(torch.from_numpy(z_adv)).numpy()
        z_adv = np.maximum(np.minimum(z_adv + step_n * np.sign(g), hi), lo)
    return torch.from_numpy(z_adv)


def langevin_sign_ascent(objective, z: torch.Tensor, eps: float, steps: int = 10, beta: float = 1e-5) -> torch.Tensor:
    """CAR-PPO's `car_sgld` solver: start one step of eps/steps from z in a random sign direction, then
    `steps` sign steps of (gradient + noise), the noise N(0, 2 * step * beta) / (k + 2) at step k, projected.

    Each step is PGD's sign step on the objective plus a linear term (adding noise to the gradient). The
    reference adds the noise to the gradient of the minibatch *mean* loss, pgd ascends the per-sample sum,
    so the noise is scaled by the number of samples.
    """
    z = z.detach()
    if eps == 0 or steps == 0:
        return z.clone()
    step = eps / steps
    scale = (2 * step * beta) ** 0.5 * z[..., 0].numel()
    z_adv = z + torch.randn(z.shape).sign() * step
    for k in range(steps):
        noisy = _WithNoise(objective, scale / (k + 2) * torch.randn(z.shape))
        z_adv = project(sign_step(gradient_of(noisy), z_adv, step), z, eps)
    return z_adv


SOLVERS = ("pgd", "sgld")


class Relaxation:
    """Base: the endpoints (identity at s = 0, ARPO at s = 1); subclasses define the moderate adversary.

    ARPO's adversary (s = 1) is solved as CAR-PPO does: `pgd` (random start, `steps` sign steps of eps/steps)
    or `sgld` (langevin_sign_ascent)."""

    name = ""

    def __init__(self, steps: int = 10, solver: str = "pgd"):
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, not {solver!r}")
        self.steps, self.solver = steps, solver

    def __call__(self, actor, mb: Batch, eps: float, strength: float, clip: float) -> torch.Tensor | None:
        if strength <= 0:
            return None
        objective = surrogate_objective(actor, mb, clip)
        if strength >= 1:
            return self.strongest(objective, mb.z, eps)
        return self.moderate(actor, mb, eps, strength, objective)

    def strongest(self, objective, z: torch.Tensor, eps: float) -> torch.Tensor:
        if self.solver == "sgld":
            return langevin_sign_ascent(objective, z, eps, self.steps)
        return pgd(objective, z, eps, self.steps, step_size=eps / max(self.steps, 1))

    def moderate(self, actor, mb: Batch, eps: float, strength: float, objective) -> torch.Tensor:
        raise NotImplementedError


class Budget(Relaxation):
    name = "budget"

    def moderate(self, actor, mb, eps, strength, objective):
        return self.strongest(objective, mb.z, eps * strength)


class Objective(Relaxation):
    name = "objective"

    def __init__(self, steps: int = 10, noise: float = 1.0, solver: str = "pgd"):
        super().__init__(steps, solver)
        self.noise = noise

    def moderate(self, actor, mb, eps, strength, objective):
        return sgld(kl_objective(actor, mb.z), mb.z, eps, self.steps, noise=self.noise)


class _PathRecorder:
    """The objective, recording every point pgd differentiates it at (its start and each iterate before the last
    step) with the objective's value there. With a closed form (`values_and_grad`) the values come from the
    gradient's own forward pass, so the path costs what ARPO's attack costs."""

    def __init__(self, objective):
        self.objective, self.points, self.values = objective, [], []
        closed = getattr(objective, "values_and_grad", None) is not None
        self.grad = self._recorded_grad if closed else None  # None: pgd differentiates __call__ by autograd

    def _recorded_grad(self, z_adv):
        values, grad = self.objective.values_and_grad(z_adv)
        self._record(z_adv, values)
        return grad

    def __call__(self, z_adv):  # autograd's path (objectives without a closed form)
        values = self.objective(z_adv)
        self._record(z_adv, values.detach().numpy())
        return values

    def _record(self, z_adv, values):
        self.points.append(z_adv.detach().numpy().copy())
        self.values.append(values)


def _scores(objective, z: torch.Tensor) -> np.ndarray:
    """The objective's per-sample values at z [..., B, obs], in closed form when it has one."""
    if hasattr(objective, "values"):
        return objective.values(z)
    with torch.no_grad():
        return objective(z).numpy()


class DeltaOptimal(Relaxation):
    name = "delta"

    def moderate(self, actor, mb, eps, strength, objective):
        recorder = _PathRecorder(objective)
        final = pgd(recorder, mb.z, eps, self.steps)
        ends = _scores(objective, torch.stack([mb.z, final]))  # the clean point and PGD's answer
        path = np.stack([mb.z.numpy(), *recorder.points, final.numpy()])  # [len(path), B, obs]
        values = np.stack([ends[0], *recorder.values, ends[1]])  # [len(path), B]
        target = values[0] + np.float32(strength) * (values.max(0) - values[0])
        first = (values >= target).argmax(0)  # argmax returns the first True
        return torch.from_numpy(path[first, np.arange(len(mb))])


class Penalized(Relaxation):
    name = "penalty"

    def __init__(self, steps: int = 10, penalty: float = 1.0, solver: str = "pgd"):
        super().__init__(steps, solver)
        self.penalty = penalty

    def moderate(self, actor, mb, eps, strength, objective):
        lam = self.penalty * (1 - strength) / strength
        return pgd(lambda x: objective(x) - lam * ((x - mb.z) / eps).pow(2).mean(-1), mb.z, eps, self.steps)


RELAXATIONS = {cls.name: cls for cls in (Objective, Budget, DeltaOptimal, Penalized)}


def make_relaxation(
    name: str, steps: int = 10, sgld_noise: float = 1.0, penalty: float = 1.0, solver: str = "pgd"
) -> Relaxation:
    if name == "objective":
        return Objective(steps, sgld_noise, solver)
    if name == "penalty":
        return Penalized(steps, penalty, solver)
    return RELAXATIONS[name](steps, solver)
