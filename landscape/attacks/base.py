"""The attack interface, the registry `make_attack`, and what every attack shares.

An attack is a callable `attack(z, thetas) -> z'`: z [K, E, obs] are normalized observations of
K parameter vectors x E environments, thetas [K, P] the flat actor parameters (flat.py), and z' lies
in the l_inf ball ||z' - z|| <= eps. The evaluator calls it once per environment step.

Defaults follow SA-PPO / ATLA: eps = the environment's standard budget (envs.ENV_SPECS), 10 PGD sign
steps of eps/10 from a uniform random start in the ball, 1 restart (more restarts keep, per sample,
the perturbation with the best objective).
"""

import math
from pathlib import Path

import torch

from ..core import crn
from ..core.errors import LandscapeError
from ..model.agent import Agent, fingerprint  # noqa: F401  (fingerprint: re-exported for attacks/)
from ..rl.pgd import pgd
from ..sim.envs import env_spec

ATTACKS: dict[str, type] = {}  # name -> class, filled by @register


def register(cls):
    ATTACKS[cls.name] = cls
    return cls


def check_eps(eps) -> float:
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise LandscapeError(f"eps must be a number, got {eps!r}")
    if not math.isfinite(eps) or eps < 0:
        raise LandscapeError(f"eps must be a finite number >= 0, got {eps}")
    return eps


def make_attack(name: str, agent: Agent, eps: float | None = None, **opts):
    """Build the attack `name` against `agent`; eps defaults to the agent's environment standard.

    opts go to the attack (steps, step_size, restarts, seed; rs: q or ckpt; optimal: adversary or ckpt).
    """
    if name not in ATTACKS:
        raise LandscapeError(f"unknown attack {name!r}; choose from {', '.join(ATTACKS)}")
    eps = env_spec(agent.env_id).eps if eps is None else check_eps(eps)
    return ATTACKS[name](agent, eps, **opts)


def cache_path(ckpt: str | Path, name: str, eps: float | None = None) -> Path:
    """Where a learned attacker for checkpoint `ckpt` is cached, beside it: `<stem>.<name>-eps<eps>.pt`
    (or `<stem>.<name>.pt` for one that does not depend on eps)."""
    ckpt = Path(ckpt)
    return ckpt.with_name(f"{ckpt.stem}.{name}" + ("" if eps is None else f"-eps{eps:g}") + ".pt")


class Attack:
    """Base: holds the victim agent and eps; subclasses implement __call__."""

    name = "none"

    def __init__(self, agent: Agent, eps: float, seed: int = 0):
        self.agent, self.eps = agent, check_eps(eps)
        self.space = agent.space
        self.seed, self.gen = seed, torch.Generator().manual_seed(seed)
        self.keys = None  # crn.Keys, set by the evaluator at each step: draws keyed by (episode seed, step)

    def uniform(self, z: torch.Tensor, shape: tuple[int, ...], stream: int = 0) -> torch.Tensor:
        """Uniform [0, 1) numbers [K, E, *shape] for z [K, E, ...]: keyed by episode and step when the
        evaluator gave `keys` (the same for every theta and whatever the batch), else from the generator."""
        if self.keys is None:
            return torch.rand(*z.shape[:2], *shape, generator=self.gen, dtype=z.dtype)
        return crn.uniform(self.keys, self.seed, stream, shape).to(z.dtype).expand(*z.shape[:2], *shape)

    def start(self, z: torch.Tensor, stream: int = 1) -> torch.Tensor | None:
        """A random start's uniform [-1, 1) noise for z, keyed by episode and step; None without keys
        (pgd then draws it from the generator, as before)."""
        return None if self.keys is None else self.uniform(z, z.shape[2:], stream) * 2 - 1

    def __call__(self, z: torch.Tensor, thetas: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.name}(eps={self.eps:g})"


class PGDAttack(Attack):
    """An attack that maximizes `objective(z_adv, z, thetas)` -> [K, E] with pgd.py.

    A subclass that can write the objective's input gradient in closed form defines
    `input_grad(z_adv, z, thetas, ctx)`; PGD then skips autograd (closed_form=False forces autograd,
    which the benchmarks and tests compare against).
    """

    input_grad = None

    def __init__(
        self,
        agent: Agent,
        eps: float,
        steps: int = 10,
        step_size: float | None = None,
        restarts: int = 1,
        random_start: bool = True,
        seed: int = 0,
        closed_form: bool = True,
    ):
        super().__init__(agent, eps, seed)
        if steps < 0 or restarts < 1:
            raise LandscapeError(f"{self.name}: steps must be >= 0 and restarts >= 1")
        if step_size is not None and not step_size > 0:
            raise LandscapeError(f"{self.name}: step size must be > 0")
        self.steps, self.step_size, self.restarts, self.random_start = steps, step_size, restarts, random_start
        self.closed_form = closed_form and self.input_grad is not None

    def _bound(self, z, thetas, ctx):
        """The objective of z' alone, as pgd wants it (with .grad when the closed form is on)."""

        def objective(x):
            return self.objective(x, z, thetas, ctx)

        if self.closed_form:
            objective.grad = lambda x: self.input_grad(x, z, thetas, ctx)
        return objective

    def prepare(self, z: torch.Tensor, thetas: torch.Tensor):
        """What the objective needs from the clean observations, computed once per call (no grad)."""
        return None

    def objective(self, z_adv: torch.Tensor, z: torch.Tensor, thetas: torch.Tensor, ctx=None) -> torch.Tensor:
        """The per-sample value [K, E] the attack maximizes (ctx: from prepare; computed if None)."""
        raise NotImplementedError

    def __call__(self, z: torch.Tensor, thetas: torch.Tensor) -> torch.Tensor:
        z, thetas = z.detach(), thetas.detach()
        ctx = self.prepare(z, thetas)
        best, best_val = None, None
        for r in range(self.restarts):
            z_adv = pgd(
                self._bound(z, thetas, ctx),
                z,
                self.eps,
                self.steps,
                self.step_size,
                self.random_start,
                self.gen,
                self.start(z, 1 + r),
            )
            if self.restarts == 1:
                return z_adv
            with torch.no_grad():
                val = self.objective(z_adv, z, thetas, ctx)
            if best is None:
                best, best_val = z_adv, val
            else:  # keep, per sample, the restart with the higher objective
                better = val > best_val
                best = torch.where(better[..., None], z_adv, best)
                best_val = torch.where(better, val, best_val)
        return best
