"""The Trainer for ARPO and BARPO: SPO's loop plus the eps warm-up and the strength schedule.

Before each iteration it sets the robust loss's eps (warm-up) and strength (schedule); each CSV row gets
eps, strength and guidance beside the loss's own columns (loss_nat, loss_adv, adv_gap, pert) and the
core's grad_norm (the policy-gradient norm before clipping).

Defaults, and why (every one is a flag of `python -m landscape.train`):
- eps: the environment's standard (envs.ENV_SPECS: Hopper 0.075, Walker2d 0.05, HalfCheetah 0.15,
  Ant 0.15) and its literature budget (2048 x 976 steps; Ant 2048 x 4882); grown linearly from 0 over
  the first 75% of training (SA-PPO / CAR-PPO convention). PGD: 10 sign steps of eps/10, random start.
- the robust loss (robust_loss.py) comes in two named presets, for ARPO and BARPO alike:
    car      CAR-PPO as released (`config_<env>_car_ppo_pgd.json`): clean term weight (guidance) 1, the
             robust term weighted by the env's `robust_ppo_reg` with soft-max temperature `robust_soft_lambda`
             (Hopper 0.3 / 1000, Walker2d 0.1 / 100, HalfCheetah 1.0 / 1000, Ant 0.3 / 10000). Default.
    vanilla  the paper's "vanilla ARPO": the robust term alone (guidance 0, reg 1), same temperature.
  Both train the std through the literal loss (`--std-from joint`, CAR-PPO's own); `--std-from clean` is the
  ablation that trains it from the clean surrogate only.
- BARPO: relaxation "delta" at strength 0.75 (along ARPO's own PGD path, the first point whose loss increase
  reaches 75% of the largest found), constant schedule, guidance = the preset's clean weight (the paper's
  kappa is not public; CAR-PPO's weight 1 is the reference point), so strength 1 is ARPO with the same preset
  exactly. Why not the paper's KL adversary ("objective": SGLD on KL(pi(.|z) || pi(.|z')), 10 sign steps of
  eps/10 with decaying noise, any strength inside (0, 1)), the default until 2026-12-04: on Hopper its final
  iterates fell early on 3 of 3 seeds at 2M; delta 0.5 fell on 1 of 3 at 1M; delta 0.75 walked on 3 of 3
  (README, Measured results). Ramp and adaptive schedules are meant for the continuous relaxations (budget,
  delta, penalty); on "objective" they can only switch between SPO, KL and ARPO.
"""

import csv
from dataclasses import dataclass

from ..core.specs import SpecError, check_finite, one_of
from ..rl.trainer import Trainer, _log_path
from .robust_loss import RobustPolicyLoss
from .schedules import Constant, eps_warmup


class RobustTrainer(Trainer):
    def __init__(
        self,
        agent,
        ppo_cfg,
        run,
        loss: RobustPolicyLoss,
        warmup: float = 0.75,
        schedule=None,
        resume: bool = False,
        env_fn=None,
    ):
        self.loss, self.eps_max, self.warmup = loss, loss.eps, warmup
        self.schedule = schedule or Constant(loss.strength)
        super().__init__(agent, ppo_cfg, run, policy_loss=loss, resume=resume, env_fn=env_fn)

    def history(self) -> list[dict]:
        path = _log_path(self.out)
        if not path.exists():
            return []
        with open(path) as f:
            return list(csv.DictReader(f))

    def before_iteration(self) -> None:
        progress = self.iteration / self.n_iters
        self.loss.eps = eps_warmup(progress, self.eps_max, self.warmup)
        self.loss.strength = self.schedule(progress, self.history())

    def extra_log(self) -> dict:
        return {"eps": self.loss.eps, "strength": self.loss.strength, "guidance": self.loss.guidance}


# ---- the robust options (a nested spec of train.TrainSpec; flags of `python -m landscape.train`) ----

ROBUST_DEFAULTS = {  # None: set by RobustSpec.resolve (the env's eps, the preset's weights, BARPO-only flags)
    "preset": "car",
    "eps": None,
    "eps_warmup": 0.75,
    "pgd_steps": 10,
    "temperature": None,
    "guidance": None,
    "reg": None,
    "relaxation": None,
    "strength": None,
    "schedule": None,
    "ramp_start": 0.0,
    "ramp_frac": 0.75,
    "adapt_step": 0.1,
    "adapt_window": 20,
    "sgld_noise": 1.0,
    "penalty": 1.0,
    "std_from": "joint",
    "inner": "pgd",
    "perturb": "minibatch",
}
BARPO_DEFAULTS = {"relaxation": "delta", "strength": 0.75, "schedule": "constant"}
BARPO_ONLY = ("relaxation", "strength", "schedule")
# CAR-PPO's released runs (config_<env>_car_ppo_<inner>.json): robust_ppo_reg and robust_soft_lambda
CAR_WEIGHTS = {
    "pgd": {"Hopper": (0.3, 1000.0), "Walker2d": (0.1, 100.0), "HalfCheetah": (1.0, 1000.0), "Ant": (0.3, 10000.0)},
    "sgld": {"Hopper": (1.0, 100.0)},
}  # the others: their pgd weights (not read from the reference)
PRESETS = ("car", "vanilla")


def preset_weights(preset: str, env_id: str, inner: str = "pgd") -> dict:
    """guidance (clean weight), reg (robust weight) and temperature of a named preset on an environment."""
    family = env_id.split("-")[0]
    pgd = CAR_WEIGHTS["pgd"]
    reg, lam = CAR_WEIGHTS[inner].get(family) or pgd.get(family, pgd["Hopper"])  # toys: Hopper's
    if preset == "car":
        return {"guidance": 1.0, "reg": reg, "temperature": lam}
    return {"guidance": 0.0, "reg": 1.0, "temperature": lam}


@dataclass(frozen=True)
class RobustSpec:
    """ARPO / BARPO settings as given; None = the default (ROBUST_DEFAULTS, the preset's weights on the
    environment, the environment's eps, BARPO's relaxation/strength/schedule). `resolve` fills them in."""

    preset: str | None = None
    eps: float | None = None  # also the budget of --algo adversary
    eps_warmup: float | None = None
    pgd_steps: int | None = None
    temperature: float | None = None
    guidance: float | None = None
    reg: float | None = None
    relaxation: str | None = None
    strength: float | None = None
    schedule: str | None = None
    ramp_start: float | None = None
    ramp_frac: float | None = None
    adapt_step: float | None = None
    adapt_window: int | None = None
    sgld_noise: float | None = None
    penalty: float | None = None
    std_from: str | None = None
    inner: str | None = None
    perturb: str | None = None

    def __post_init__(self):
        from .relaxations import RELAXATIONS, SOLVERS
        from .robust_loss import PERTURB, STD_FROM
        from .schedules import SCHEDULES

        check_finite(self)
        for name, choices in (
            ("preset", PRESETS),
            ("relaxation", sorted(RELAXATIONS)),
            ("schedule", SCHEDULES),
            ("std_from", STD_FROM),
            ("inner", SOLVERS),
            ("perturb", PERTURB),
        ):
            if getattr(self, name) is not None:
                one_of(self, name, choices)

    def given(self) -> list[str]:
        """The fields set (not left to their defaults)."""
        return [k for k in ROBUST_DEFAULTS if getattr(self, k) is not None]

    def reject(self, algo: str, allowed: tuple[str, ...] = ()) -> None:
        """One-line error when a robust option is given to an algorithm that does not use it."""
        given = [k for k in self.given() if k not in allowed]
        if given:
            raise SpecError(given[0], "applies to --algo arpo / barpo only")

    def resolve(self, algo: str, env_id: str, env_eps: float) -> dict:
        """Every setting of an arpo / barpo run on env_id, defaults filled in and checked."""
        given = {k: getattr(self, k) for k in ROBUST_DEFAULTS}
        if algo == "arpo" and any(given[k] is not None for k in BARPO_ONLY):
            raise SpecError(
                "relaxation",
                "applies to --algo barpo only",
                cli="--relaxation, --strength and --schedule apply to --algo barpo only",
            )
        o = {k: v if v is not None else ROBUST_DEFAULTS[k] for k, v in given.items()}
        if algo == "barpo":
            o.update({k: BARPO_DEFAULTS[k] for k in BARPO_DEFAULTS if given[k] is None})
        o.update({k: v for k, v in preset_weights(o["preset"], env_id, o["inner"]).items() if given[k] is None})
        o["eps"] = env_eps if o["eps"] is None else o["eps"]
        check_robust(o, algo)
        return o


def add_arguments(p) -> None:
    from .relaxations import RELAXATIONS, SOLVERS
    from .robust_loss import PERTURB, STD_FROM
    from .schedules import SCHEDULES

    g = p.add_argument_group("arpo / barpo")
    g.add_argument("--eps", type=float, help="l_inf budget in normalized observations (default: the env's standard)")
    g.add_argument("--eps-warmup", type=float, help="fraction of training over which eps grows from 0 (0.75)")
    g.add_argument("--pgd-steps", type=int, help="inner attack steps of eps/steps (10)")
    g.add_argument(
        "--inner",
        choices=SOLVERS,
        help="solver of ARPO's inner attack: pgd (random start, default) or sgld (CAR-PPO's car_sgld)",
    )
    g.add_argument(
        "--preset",
        choices=PRESETS,
        help="robust loss weights: car (CAR-PPO as released, default) or vanilla (the robust term alone)",
    )
    g.add_argument(
        "--temperature",
        type=float,
        help="soft-maximum temperature over the minibatch (CAR-PPO's "
        "lambda); inf = mean (preset: the env's, Hopper 1000)",
    )
    g.add_argument("--guidance", type=float, help="weight of the clean surrogate term (car 1, vanilla 0)")
    g.add_argument("--reg", type=float, help="weight of the robust term (car: the env's, Hopper 0.3; vanilla 1)")
    g.add_argument("--relaxation", choices=sorted(RELAXATIONS), help="BARPO: how strength acts (delta)")
    g.add_argument("--strength", type=float, help="BARPO: adversary strength in [0, 1], 0 = SPO, 1 = ARPO (0.75)")
    g.add_argument("--schedule", choices=SCHEDULES, help="BARPO: strength schedule (constant)")
    g.add_argument("--ramp-start", type=float, help="ramp: strength at the start (0.0)")
    g.add_argument("--ramp-frac", type=float, help="ramp: fraction of training to reach --strength (0.75)")
    g.add_argument("--adapt-step", type=float, help="adaptive: strength change per decision (0.1)")
    g.add_argument("--adapt-window", type=int, help="adaptive: iterations per decision (20)")
    g.add_argument("--sgld-noise", type=float, help="objective relaxation: SGLD noise in step sizes (1.0)")
    g.add_argument("--penalty", type=float, help="penalty relaxation: lambda at strength 0.5 (1.0)")
    g.add_argument(
        "--std-from",
        choices=STD_FROM,
        help="what trains the log-std: the literal loss (joint, "
        "default, as CAR-PPO) or the clean surrogate alone (clean: an ablation)",
    )
    g.add_argument(
        "--perturb",
        choices=PERTURB,
        help="when the inner attack runs: per minibatch with the current policy (minibatch, default, as "
        "CAR-PPO) or once per epoch for the whole batch (epoch: faster, perturbations up to an epoch stale)",
    )


def spec_of(args) -> RobustSpec:
    """The robust options of parsed `python -m landscape.train` flags."""
    return RobustSpec(**{k: getattr(args, k) for k in ROBUST_DEFAULTS})


def build(robust: RobustSpec, algo: str, agent, ppo_cfg, run, spec, resume: bool = False, env_fn=None) -> RobustTrainer:
    """The ARPO / BARPO trainer; records the settings in the agent's config."""
    from .relaxations import make_relaxation
    from .robust_loss import arpo_loss
    from .schedules import Adaptive, Ramp

    o = robust.resolve(algo, spec.env_id, spec.eps)
    weights = {k: o[k] for k in ("temperature", "guidance", "reg", "std_from", "perturb")}
    if algo == "arpo":
        loss = arpo_loss(
            ppo_cfg.clip, o["eps"], o["pgd_steps"], entropy_coef=ppo_cfg.entropy_coef, solver=o["inner"], **weights
        )
        schedule = None
    else:
        relax = make_relaxation(o["relaxation"], o["pgd_steps"], o["sgld_noise"], o["penalty"], o["inner"])
        loss = RobustPolicyLoss(
            ppo_cfg.clip, o["eps"], relax, o["strength"], entropy_coef=ppo_cfg.entropy_coef, **weights
        )
        schedule = {
            "constant": lambda: Constant(o["strength"]),
            "ramp": lambda: Ramp(o["ramp_start"], o["strength"], o["ramp_frac"]),
            "adaptive": lambda: Adaptive(o["strength"], o["adapt_step"], o["adapt_window"]),
        }[o["schedule"]]()
    agent.eps = o["eps"]
    agent.config["robust"] = {k: v for k, v in o.items() if v is not None}
    return RobustTrainer(agent, ppo_cfg, run, loss, o["eps_warmup"], schedule, resume=resume, env_fn=env_fn)


def check_robust(o: dict, algo: str) -> None:
    """One-line errors for impossible settings, before any environment is built."""
    for k in ("eps", "temperature", "guidance", "reg", "pgd_steps", "sgld_noise", "penalty"):
        if not o[k] >= 0:  # also catches NaN
            raise SpecError(k, f"must be non-negative, not {o[k]}")
    if o["guidance"] == 0 and o["reg"] == 0:
        raise SpecError(
            "guidance",
            "and reg are both 0: the policy loss would be empty",
            cli="--guidance and --reg are both 0: the policy loss would be empty",
        )
    for k in ("eps_warmup", "ramp_start", "ramp_frac") + (("strength",) if algo == "barpo" else ()):
        if not 0 <= o[k] <= 1:
            raise SpecError(k, f"must lie in [0, 1], not {o[k]}")
    if o["adapt_window"] <= 0:
        raise SpecError("adapt_window", "must be positive")
