"""python -m landscape.sticky --ckpt PATH [--fosp REPORT.json --point ID] [options]

Stickiness of a (stationary) point theta*: K restarts at theta* + r u (u a random unit direction over the
moving parameters, r = --radius * ||theta*||), each trained for T updates of a trainer's own objective --
SPO (ppo.PolicyLoss), ARPO (robust_loss.arpo_loss) or BARPO (robust_loss.RobustPolicyLoss with
robust_trainer's BARPO defaults) -- through the one PPO core (collect, update), observation statistics frozen.

Per objective the report gives: the share of restarts that fall back (final distance to theta* below the
starting radius), escape times (the first update whose distance exceeds --escape x the radius; none =
censored), and the natural (and adversarial) return reached. The same point under the SPO and the ARPO
objective side by side shows the reshaping: a point the adversarial objective holds and the natural one
releases is sticky only because of the adversary.

**The null.** Optimizer noise alone moves restarts (on Hopper about 1.4 radii in 5 updates with advantages
shuffled), so every objective runs beside the same restarts (same start points, same seeds) under a null
objective, `null`: SPO's update with the batch's advantages randomly permuted each iteration -- a pure-noise
objective with the same step statistics. The report states per objective whether it differs from the null:
a two-sided Mann-Whitney test on the final distances (in radii) and Fisher's exact test on the fall-back
counts, each at --alpha; with K restarts per arm the smallest attainable Mann-Whitney p is 2 / C(2K, K)
(K = 4: 0.029), so K >= 8 is the least that can show a difference at 0.05 with a margin; default K = 16.

On ToyTrap-v0, --exact runs the closed-form dynamics instead (toys/trap.py: exact gradient ascent on J_nat,
J_worst, and BARPO's bilevel step); there is no sampling noise, so no null is run (its exact gradient is 0).
"""

import argparse
import copy
import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import cli_args
from .core.errors import LandscapeError, check_writable, cli_main
from .core.specs import ATTACK, PARAM_CHOICES, SEED, SpecError, check_finite, names, one_of
from .io import bundled, checkpoint
from .probes.directions import param_kinds
from .probes.scanning import attack_eps, make_attack_for
from .rl.evaluator import BatchedEvaluator
from .robust.robust_trainer import BARPO_DEFAULTS
from .viz import render
from .core.threads import single_thread

OBJECTIVES = ("spo", "arpo", "barpo", "null")


def restart_points(theta: torch.Tensor, mask: torch.Tensor, k: int, radius: float, seed: int = 0) -> torch.Tensor:
    """K points at distance `radius` from theta, in Gaussian (uniform on the sphere) directions on the mask."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(k, theta.numel(), generator=gen) * mask.to(torch.float32)
    return theta[None] + radius * u / u.norm(dim=1, keepdim=True)


def summarize(theta: torch.Tensor, paths: torch.Tensor, radius: float, escape: float) -> dict:
    """paths [K, T+1, P] -> distances, fall-back share, escape times (None = not within T updates)."""
    dist = (paths - theta).norm(dim=-1)  # [K, T+1]
    fell = (dist[:, -1] < radius).numpy()
    out = (dist > escape * radius).numpy()
    times = [int(np.argmax(o)) if o.any() else None for o in out]
    return {
        "distances": dist.tolist(),
        "fell_back": fell.tolist(),
        "fall_back_share": float(fell.mean()),
        "escape_times": times,
        "escaped_share": float(np.mean([t is not None for t in times])),
    }


# ----------------------------------------------------------------------------------- updaters
def policy_loss(
    objective: str,
    clip: float,
    eps: float,
    relaxation: str = BARPO_DEFAULTS["relaxation"],
    strength: float = BARPO_DEFAULTS["strength"],
    guidance: float | None = None,
):
    """The trainer's own policy loss for an objective name (null: SPO's loss; ppo_paths shuffles the advantages)."""
    from .rl.ppo import PolicyLoss

    if objective in ("spo", "null"):
        return PolicyLoss(clip)
    from .robust.relaxations import make_relaxation
    from .robust.robust_loss import RobustPolicyLoss, arpo_loss

    # the trainers' default preset (CAR-PPO as released: clean weight 1, Hopper's reg and temperature)
    w = {} if guidance is None else {"guidance": guidance}
    if objective == "arpo":
        return arpo_loss(clip, eps, **w)
    return RobustPolicyLoss(clip, eps, make_relaxation(relaxation), strength, **w)


def ppo_paths(
    agent,
    starts: torch.Tensor,
    objective: str,
    updates: int,
    eps: float,
    cfg=None,
    seed: int = 0,
    progress: bool = True,
    **loss_opts,
) -> tuple[torch.Tensor, list]:
    """Run `updates` PPO iterations of `objective` from every start; paths [K, T+1, P] and the agents."""
    from .rl.collect import Collector
    from .rl.ppo import PPO, PPOConfig

    cfg = cfg or PPOConfig(anneal_lr=False)
    paths, agents = [], []
    bar = tqdm(total=len(starts) * updates, desc=f"sticky {objective}", disable=not progress, dynamic_ncols=True)
    for i, start in enumerate(starts):
        a = copy.deepcopy(agent)
        a.space.assign(a.actor, start)
        a.obs_norm.frozen = True  # the point's geometry: statistics fixed
        torch.manual_seed(seed + i)
        ppo = PPO(a, cfg, policy_loss(objective, cfg.clip, eps, **loss_opts), seed=seed + i)
        col = Collector(a, cfg, seed=seed + 7919 * i)
        path = [a.space.flatten(a.actor)]
        shuffle = torch.Generator().manual_seed(seed + 104729 * (i + 1))
        for _ in range(updates):
            batch = col.collect()
            if objective == "null":  # a pure-noise objective: advantages detached from their actions
                batch.advantages = batch.advantages[torch.randperm(len(batch), generator=shuffle)]
            ppo.update(batch)
            path.append(a.space.flatten(a.actor))
            bar.update(1)
        col.close()
        paths.append(torch.stack(path))
        agents.append(a)
    bar.close()
    return torch.stack(paths), agents


def toy_paths(
    starts: torch.Tensor, objective: str, updates: int, lr: float = 0.05, eps: float | None = None, ramp: float = 0.75
) -> torch.Tensor:
    """The closed-form dynamics of toys/trap.py from flat-parameter starts; paths [K, T+1, P]."""
    from .sim.toys import trap

    W = trap.ascend(
        trap.from_theta(starts),
        objective,
        updates,
        lr,
        trap.EPS if eps is None else eps,
        ramp,
        record=True,
        schedule="constant",
    )  # [T+1, K, 2]: the objective at full eps around the point
    paths = starts[None].repeat(updates + 1, 1, 1).clone()
    paths[..., 1:3] = W.to(torch.float32)
    return paths.transpose(0, 1)


def against_null(s: dict, null: dict, radius: float, alpha: float = 0.05) -> dict:
    """Does an objective's stickiness differ from the null's? Two-sided Mann-Whitney on final distances (radii)
    and Fisher's exact test on fall-back counts (module docstring)."""
    from math import comb

    from scipy.stats import fisher_exact, mannwhitneyu

    d = np.array(s["distances"])[:, -1] / radius
    d0 = np.array(null["distances"])[:, -1] / radius
    mw = mannwhitneyu(d, d0, alternative="two-sided")
    f = np.array(s["fell_back"], bool)
    f0 = np.array(null["fell_back"], bool)
    fe = fisher_exact([[f.sum(), (~f).sum()], [f0.sum(), (~f0).sum()]])
    k, k0 = len(d), len(d0)
    p = min(float(mw.pvalue), float(fe.pvalue))
    return {
        "final_distance_radii": float(np.median(d)),
        "null_final_distance_radii": float(np.median(d0)),
        "mann_whitney_p": float(mw.pvalue),
        "fisher_p": float(fe.pvalue),
        "alpha": alpha,
        "smallest_attainable_p": 2 / comb(k + k0, k),
        "differs_from_null": bool(p < alpha / 2),
        "note": "Bonferroni over the two tests: differs when either p < alpha / 2",
    }


def returns(agent, thetas: torch.Tensor, episodes: int, seed: int, attack=None) -> dict:
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    out = {"natural": ev.run(thetas, episodes, seed=seed).returns.mean(1).tolist()}
    if attack is not None:
        out["adversarial"] = ev.run(thetas, episodes, seed=seed, attack=attack).returns.mean(1).tolist()
    ev.close()
    return out


# ----------------------------------------------------------------------------------- spec
RANGES = "-K and --updates must be >= 1, --radius > 0, --escape > 1"


@dataclass(frozen=True)
class StickySpec:
    """One stickiness test of a point: every option of `python -m landscape.sticky`, its defaults (module
    docstring). Fields in the CLI's order: the report's "settings" are these fields but ckpt and out."""

    ckpt: str  # checkpoint (its critic and normalizer are used), or a bundled checkpoint's name
    fosp: str | None = None  # a landscape.fosp report; theta* = its point `point`
    point: str = "ckpt"  # id of the point in the fosp report
    objectives: str = "spo,arpo"  # comma list (or a sequence) of OBJECTIVES
    restarts: int = 16  # K: perturbed restarts per objective (and the null)
    no_null: bool = False  # skip the shuffled-advantage null (not recommended)
    alpha: float = 0.05  # level of the comparison with the null
    radius: float = 0.02  # restart radius as a fraction of ||theta*|| (moving part)
    updates: int = 5  # T: updates of the trainer per restart
    escape: float = 2.0  # escaped when the distance exceeds this x radius
    params: str = "all"  # what is perturbed
    eps: float | None = None  # ARPO/BARPO and attack budget (None: the checkpoint's, or the env's standard)
    relaxation: str = BARPO_DEFAULTS["relaxation"]  # BARPO relaxation (the trainer's default)
    strength: float = BARPO_DEFAULTS["strength"]  # BARPO adversary strength
    steps_per_iter: int = 2048  # PPO steps collected per update
    attack: str = ATTACK  # attack for the adversarial returns reached ("none" to skip)
    adversary: str | None = None  # learned attacker file for attack rs/optimal/paad
    episodes: int = 3  # deterministic episodes for returns
    exact: bool = False  # ToyTrap-v0: closed-form dynamics (lr 0.05 per update)
    seed: int = SEED
    out: str | None = None  # report path (None: sticky_<checkpoint>.json)

    def __post_init__(self):
        for f in fields(self):  # an int given for a float field reads in the report as from the CLI
            value = getattr(self, f.name)
            if "float" in str(f.type) and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
        if not isinstance(self.objectives, str):
            object.__setattr__(self, "objectives", ",".join(names(self.objectives, "objectives")))
        check_finite(self)
        one_of(self, "params", PARAM_CHOICES)
        objectives = self.objective_names()
        bad = [o for o in objectives if o not in OBJECTIVES]
        if bad or not objectives:
            raise SpecError(
                "objectives",
                f"must be among {', '.join(OBJECTIVES)}, got {self.objectives!r}",
                cli=f"unknown objective {bad[0] if bad else self.objectives!r}; choose from {', '.join(OBJECTIVES)}",
            )
        for name, bad in (
            ("restarts", self.restarts < 1),
            ("updates", self.updates < 1),
            ("radius", self.radius <= 0),
            ("escape", self.escape <= 1),
        ):
            if bad:
                raise SpecError(name, "is out of range", cli=RANGES)
        if self.exact and "null" in objectives:
            raise SpecError(
                "objectives", "has no null with exact", cli="--exact has no null objective (no sampling noise)"
            )

    def objective_names(self) -> list[str]:
        """The objectives run, as given (run() adds the null beside them unless no_null or exact)."""
        return [o.strip() for o in self.objectives.split(",") if o.strip()]

    def settings(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("ckpt", "out")}


def _theta_star(spec: StickySpec, agent) -> torch.Tensor:
    if not spec.fosp:
        return agent.space.flatten(agent.actor)
    path = Path(spec.fosp)
    if not path.is_file():
        raise LandscapeError(f"fosp report not found: {path}")
    rep = json.loads(path.read_text())
    ids = [p["id"] for p in rep["points"]]
    if spec.point not in ids:
        raise LandscapeError(f"no point {spec.point!r} in {path} (it has {', '.join(ids)})")
    with np.load(path.with_suffix(".npz")) as f:
        theta = torch.as_tensor(f["thetas"][ids.index(spec.point)])
    if theta.numel() != agent.space.size:
        raise LandscapeError(f"{path} is a report for a network of another shape")
    return theta


def _restart_paths(spec: StickySpec, agent, starts, name: str, eps: float, cfg, progress: bool):
    """The restarts' paths under one objective: exact gradient ascent on the toy, PPO updates otherwise."""
    if spec.exact:
        return toy_paths(starts, name, spec.updates, eps=eps)
    paths, _ = ppo_paths(
        agent,
        starts,
        name,
        spec.updates,
        eps,
        cfg,
        spec.seed,
        progress=progress,
        relaxation=spec.relaxation,
        strength=spec.strength,
    )
    return paths


def _compare_to_null(summaries: dict, radius: float, spec: StickySpec, say) -> None:
    """Adds each objective's comparison with the pure-noise objective ("vs_null") and prints it."""
    null = summaries["null"]
    for name, s in summaries.items():
        if name == "null":
            continue
        v = s["vs_null"] = against_null(s, null, radius, spec.alpha)
        say(
            f"{name} vs null: median final distance {v['final_distance_radii']:.2f} vs "
            f"{v['null_final_distance_radii']:.2f} radii, Mann-Whitney p {v['mann_whitney_p']:.3g}, Fisher p "
            f"{v['fisher_p']:.3g}: {'differs' if v['differs_from_null'] else 'no difference detected'} "
            f"(K = {spec.restarts})"
        )


def run(spec: StickySpec, progress: bool = True) -> dict:
    """Restart around theta* under each objective (and the null); writes the report (JSON) and its figure to
    spec.out (default sticky_<checkpoint>.json) and returns the report. progress=True prints what the CLI
    prints (progress bars, one line per objective and per comparison with the null, the paths written)."""
    ckpt = str(bundled.resolve(spec.ckpt))  # bundled by name: its cached attackers are beside it
    say = print if progress else (lambda *a, **k: None)
    render.use_agg()
    objectives = spec.objective_names()
    out = check_writable(spec.out or f"sticky_{Path(ckpt).stem}.json", "--out", inputs=[ckpt])
    agent = checkpoint.load(ckpt)
    if spec.exact and agent.env_id != "ToyTrap-v0":
        raise LandscapeError("--exact needs a ToyTrap-v0 checkpoint")
    eps = attack_eps(agent, spec.eps)
    theta = _theta_star(spec, agent)
    mask = agent.space.mask(param_kinds(spec.params))
    radius = spec.radius * float((theta * mask).norm())
    starts = restart_points(theta, mask, spec.restarts, radius, spec.seed)
    attack = None
    if spec.attack != "none":
        attack = make_attack_for(agent, spec.attack, eps, spec.adversary, ckpt)
    report = {
        "ckpt": ckpt,
        "env_id": agent.env_id,
        "algo": agent.algo,
        "point": spec.point,
        "radius": radius,
        "escape": spec.escape,
        "updates": spec.updates,
        "settings": spec.settings(),
        "at_point": returns(agent, theta[None], spec.episodes, spec.seed, attack),
        "objectives": {},
    }
    from .rl.ppo import PPOConfig

    cfg = PPOConfig(steps_per_iter=spec.steps_per_iter, anneal_lr=False)
    if not spec.exact and not spec.no_null and "null" not in objectives:
        objectives.append("null")  # the same restarts under the pure-noise objective, in the same run
    for name in objectives:
        paths = _restart_paths(spec, agent, starts, name, eps, cfg, progress)
        s = summarize(theta, paths, radius, spec.escape)
        s["returns_reached"] = returns(agent, paths[:, -1], spec.episodes, spec.seed, attack)
        report["objectives"][name] = s
        say(
            f"{name}: fall back {s['fall_back_share']:.0%}, escaped {s['escaped_share']:.0%} "
            f"(times {s['escape_times']}), natural return reached "
            f"{np.mean(s['returns_reached']['natural']):.1f} (at the point {report['at_point']['natural'][0]:.1f})"
        )
    if "null" in report["objectives"]:
        _compare_to_null(report["objectives"], radius, spec, say)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    figs = _figure(report, out)
    say(f"report: {out}\nfigures: {', '.join(map(str, figs))}")
    return report


# ----------------------------------------------------------------------------------- command line
def parse_args(argv=None) -> argparse.Namespace:
    p = cli_args.parser("python -m landscape.sticky", __doc__)
    p.add_argument("--ckpt", required=True, help="checkpoint (its critic and normalizer are used)")
    p.add_argument("--fosp", metavar="REPORT", help="a landscape.fosp report; theta* = its point --point")
    p.add_argument("--point", default="ckpt", help="id of the point in the --fosp report (default: ckpt)")
    p.add_argument("--objectives", default="spo,arpo", help=f"comma list of {', '.join(OBJECTIVES)}")
    p.add_argument("-K", "--restarts", type=int, default=16, help="perturbed restarts per objective (and the null)")
    p.add_argument("--no-null", action="store_true", help="skip the shuffled-advantage null (not recommended)")
    p.add_argument("--alpha", type=float, default=0.05, help="level of the comparison with the null")
    p.add_argument(
        "--radius", type=float, default=0.02, help="restart radius as a fraction of ||theta*|| (moving part)"
    )
    p.add_argument("--updates", type=int, default=5, help="T: updates of the trainer per restart")
    p.add_argument("--escape", type=float, default=2.0, help="escaped when the distance exceeds this x radius")
    cli_args.params(p, "all", help="what is perturbed")
    cli_args.eps(p, help="ARPO/BARPO and " + cli_args.EPS_OF_CHECKPOINT)
    p.add_argument(
        "--relaxation",
        default=BARPO_DEFAULTS["relaxation"],
        help=f"BARPO relaxation (objective, budget, delta, penalty; {BARPO_DEFAULTS['relaxation']})",
    )
    p.add_argument(
        "--strength", type=float, default=BARPO_DEFAULTS["strength"], help="BARPO adversary strength (the trainer's)"
    )
    p.add_argument("--steps-per-iter", type=int, default=2048, help="PPO steps collected per update")
    cli_args.attack(p, help="attack for the adversarial returns reached ('none' to skip)")
    cli_args.adversary(p)
    cli_args.episodes(p, 3, help="deterministic episodes for returns")
    p.add_argument("--exact", action="store_true", help="ToyTrap-v0: closed-form dynamics (lr 0.05 per update)")
    cli_args.seed(p, help="seeds the restarts and the episodes")
    cli_args.out(p, help="report path (default: sticky_<checkpoint>.json)")
    return p.parse_args(argv)


@render.style()
def _figure(report: dict, path: Path) -> list[Path]:
    null = report["objectives"].get("null")
    objs = [o for o in report["objectives"] if o != "null"] or ["null"]
    fig, axes = render.plt.subplots(
        1, len(objs), figsize=(3.2 * len(objs), 2.6), sharey=True, constrained_layout=True, squeeze=False
    )
    r = report["radius"]
    for ax, name in zip(axes[0], objs):
        d = np.array(report["objectives"][name]["distances"]) / r
        if null is not None and name != "null":  # the same restarts under shuffled advantages
            d0 = np.array(null["distances"]) / r
            ax.plot(np.arange(d0.shape[1]), d0.T, color="grey", lw=0.8, alpha=0.6)
        ax.plot(np.arange(d.shape[1]), d.T, color="#0072B2", lw=1)
        ax.axhline(1, color="grey", ls=":", lw=0.8)
        ax.axhline(report["escape"], color="#D55E00", ls="--", lw=0.8)
        s = report["objectives"][name]
        vs = s.get("vs_null")
        tag = "" if vs is None else (" (differs from null)" if vs["differs_from_null"] else " (= null?)")
        ax.set(title=f"{name.upper()}: fall back {s['fall_back_share']:.0%}{tag}", xlabel="update")
    axes[0][0].set_ylabel("distance to theta* / radius")
    return render.save(fig, path)  # PDF and 300-dpi PNG


def spec_of(args: argparse.Namespace) -> StickySpec:
    with cli_args.as_flags():
        return StickySpec(**vars(args))


@cli_main
def main(argv=None) -> None:
    spec = spec_of(parse_args(argv))
    single_thread()
    run(spec)


if __name__ == "__main__":
    main()
