"""python -m landscape.fosp --ckpt PATH [--from-store DIR] [options]

First-order stationary policies (FOSPs) near a checkpoint. Candidates are the checkpoint itself and, with
--from-store, the local maxima of a scan's natural or adversarial return surface (landscape.scan). Each
candidate is refined by gradient ascent on the full parameter vector with estimated policy gradients
(gradients.py on the batched evaluator; the adversarial gradient is the policy gradient on attacked
observations, the attack held fixed); a point stops moving once the upper confidence bound of its norm is
below --threshold (stationarity.norm_verdict; never, at the default 0 relative mode).

Then every refined point gets a verdict under each objective of --test-objectives (stationarity.py): a
sequential test that adds --start-episodes, doubling, up to --budget fresh episodes per point, batched
across the undecided points, and calls a point *stationary* when the upper confidence bound of its gradient
norm is below the threshold, *not stationary* when the lower bound is above it, *unresolved* otherwise
(error rates <= --alpha per side over all looks). The threshold is --threshold if given, else relative:
--rel-threshold x the gradient norm at --ref-points random points at distance --ref-radius x ||theta||
around the point (estimated from --ref-episodes each). Each verdict comes with the episodes used, the
minimum detectable norm (power 0.8), per-block norms (each layer, log-std) and the same test on the
Fisher-scaled (scale-free) gradient.
Gradients use the time-limit baseline (gradients.py, --baseline time-limit: the critic's values refitted with the
share of the horizon still ahead, which removes the variance the unbootstrapped time limit adds: at equal
episodes the squared-norm estimate's variance is about 100x smaller at the bundled SPO Hopper checkpoint and
unchanged at ARPO, whose variance comes from falls; analyses/census/variance_reduction.py); --baseline critic is
the plain a V + c of the earlier reports.
Ascent steps are normalized: each moves --step * ||theta|| along the estimated gradient, halved whenever the
gradient turns against the previous step, so the iterates settle instead of bouncing around a maximum.

The report (JSON, plus the refined parameter vectors in .npz and a figure) gives each point's natural and
adversarial return, natural and adversarial gradient norms with standard errors, the distance to its start
and to the checkpoint, the verdicts, and (with --curvature) the extreme Hessian eigenvalues of the PPO surrogate there.
On ToyTrap-v0, --exact replaces the estimates by the closed form (toys/trap.py; the adversarial objective
is then the exact worst case and its Clarke steepest-ascent direction).
"""

import argparse
import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import cli_args
from .core.errors import LandscapeError, check_writable, cli_main
from .core.numerics import mean_se
from .core.specs import ATTACK, EPISODES, PARAM_CHOICES, SEED, SpecError, at_least, check_finite, one_of
from .io import bundled, checkpoint
from .probes.directions import param_kinds
from .probes.gradients import gradient_norm, per_episode_gradients, time_limit
from .probes.scanning import attack_eps, make_attack_for
from .probes.store import ScanStore
from .rl.evaluator import BatchedEvaluator
from .stationary import stationarity as st
from .viz import render
from .core.threads import single_thread

Z_95 = 1.96


# ----------------------------------------------------------------------------------- gradient oracles
class SampledOracle:
    """Estimated policy gradients at K points: (mean gradient [K, P], bias-corrected norm [K], its SE [K])."""

    def __init__(
        self,
        agent,
        objective: str = "natural",
        attack=None,
        grad_episodes: int = 16,
        episodes: int = 5,
        seed: int = 0,
        mask: torch.Tensor | None = None,
        gamma: float | None = None,
        lam: float | None = None,
        time_baseline: bool = True,
    ):
        if objective == "adversarial" and attack is None:
            raise LandscapeError("the adversarial objective needs an attack (--attack)")
        if grad_episodes < 3:
            raise LandscapeError("--grad-episodes must be at least 3")
        self.agent, self.objective, self.attack = agent, objective, attack
        self.grad_episodes, self.episodes, self.seed = grad_episodes, episodes, seed
        self.mask = mask  # norms over the moving parameters only (fixed ones may keep a gradient)
        self.evaluator = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
        self.calls = 0
        toy = agent.env_id.startswith("Toy")  # finite horizon, undiscounted closed form: Monte-Carlo advantages
        self.gamma = (1.0 if toy else 0.99) if gamma is None else gamma
        self.lam = (1.0 if toy else 0.95) if lam is None else lam
        self.horizon = time_limit(agent.env_id) if time_baseline else None  # gradients.py: time-limit baseline

    def sample(self, thetas: torch.Tensor, objective: str, episodes: int, seed: int) -> dict:
        """Fresh per-episode gradients at thetas [K, P] on the moving parameters: {"raw", "scaled"} [K, E, P']."""
        attack = self.attack if objective == "adversarial" else None
        roll = self.evaluator.run(thetas, episodes, seed=seed, deterministic=False, attack=attack, record=True)
        g, gs = per_episode_gradients(
            self.agent.space,
            thetas,
            roll.trajectories,
            episodes,
            self.gamma,
            self.lam,
            critic=self.agent.critic,
            scaled=True,
            horizon=self.horizon,
        )
        m = self.mask if self.mask is not None else slice(None)
        return {"raw": g[..., m], "scaled": gs[..., m]}

    def gradient(self, thetas: torch.Tensor, objective: str):
        attack = self.attack if objective == "adversarial" else None
        # fresh episodes every call (the ascent must not overfit one sample), common to all K points
        roll = self.evaluator.run(
            thetas,
            self.grad_episodes,
            seed=self.seed + 1 + 1000 * self.calls,
            deterministic=False,
            attack=attack,
            record=True,
        )
        self.calls += 1
        g = per_episode_gradients(
            self.agent.space,
            thetas,
            roll.trajectories,
            self.grad_episodes,
            self.gamma,
            self.lam,
            critic=self.agent.critic,
            horizon=self.horizon,
        )
        norm, se = gradient_norm(g if self.mask is None else g[..., self.mask])
        return g.mean(1), norm, se

    def __call__(self, thetas: torch.Tensor):
        return self.gradient(thetas, self.objective)

    def returns(self, thetas: torch.Tensor) -> dict:
        out = {"natural": self.evaluator.run(thetas, self.episodes, seed=self.seed).returns}
        if self.attack is not None:
            out["adversarial"] = self.evaluator.run(thetas, self.episodes, seed=self.seed, attack=self.attack).returns
        return out

    def close(self) -> None:
        self.evaluator.close()


# ----------------------------------------------------------------------------------- candidates
def local_maxima(values: np.ndarray, done: np.ndarray) -> np.ndarray:
    """Flat indices of the computed grid cells not below any computed neighbour (8-neighbourhood in 2D)."""
    v = np.where(done, values, -np.inf)
    pad = np.pad(v, 1, constant_values=-np.inf)
    is_max = done.copy()
    for shift in np.ndindex(*(3,) * v.ndim):
        if all(s == 1 for s in shift):
            continue
        sl = tuple(slice(s, s + n) for s, n in zip(shift, v.shape))
        is_max &= v >= pad[sl]
    return np.flatnonzero(is_max)


def scan_candidates(store_dir, metric: str, top: int) -> tuple[torch.Tensor, list[list[float]]]:
    """Parameter vectors of the `top` highest local maxima of a scan store's `metric`, and their grid coords."""
    from .probes.store import load_surface

    meta, surf = load_surface(store_dir)
    if metric not in meta["metrics"]:
        raise LandscapeError(f"{store_dir} has no {metric!r} surface (it has {', '.join(meta['metrics'])})")
    with np.load(Path(store_dir) / "directions.npz") as f:
        theta0, dirs = f["theta0"].astype(np.float64), f["directions"].astype(np.float64)
    vals = surf[metric]
    idx = local_maxima(vals, surf["done"])
    idx = idx[np.argsort(-vals.reshape(-1)[idx])][:top]
    grid = np.unravel_index(idx, vals.shape)
    coords = np.stack([surf[f"coords_{i}"][grid[i]] for i in range(vals.ndim)], 1)
    thetas = theta0[None] + coords @ dirs
    return torch.as_tensor(thetas, dtype=torch.float32), coords.tolist()


# ----------------------------------------------------------------------------------- refinement
def refine(
    oracle,
    starts: torch.Tensor,
    mask: torch.Tensor,
    steps: int = 20,
    step: float = 0.01,
    threshold: float = 0.0,
    z: float | None = None,
    normalized: bool = True,
    progress: bool = False,
) -> dict:
    """Gradient ascent from K starts until each is stationary at `threshold` by the one rule (stationarity.
    norm_verdict: the norm's upper bound below it; z defaults to one look at stationarity.ALPHA) or `steps`.

    normalized: steps of length lr * ||start|| along the gradient (sampled gradients have an arbitrary
    scale); else plain steps lr * gradient. lr starts at `step`, per point: halved whenever the gradient
    turns against the previous one (the iterate overshot a maximum or crossed a kink), grown by 1.2 up to
    `step` while it keeps its direction -- so iterates settle instead of bouncing around a maximum.
    Returns thetas [K, P], stationary [K], steps taken [K], and the gradient-norm history (norm, se) per point.
    """
    thetas = starts.clone().to(torch.float32)
    K, exact = thetas.shape[0], not hasattr(oracle, "sample")  # closed form: norms compared directly
    m = mask.to(torch.float32)
    scale = (starts * m).norm(dim=1).clamp_min(1e-8) if normalized else torch.ones(K)
    lr, prev = torch.full((K,), float(step)), torch.zeros_like(thetas)
    stationary = np.zeros(K, bool)
    taken = np.zeros(K, int)
    history = [[] for _ in range(K)]
    for t in tqdm(range(steps + 1), desc="refine", disable=not progress, dynamic_ncols=True):
        live = np.flatnonzero(~stationary)
        if live.size == 0:
            break
        g, norm, se = oracle(thetas[live])
        for j, k in enumerate(live):
            history[k].append((float(norm[j]), float(se[j])))
        hit = st.norm_verdict(norm, se, threshold, z, exact) == st.STATIONARY
        stationary[live[hit]] = True
        move = live[~hit]
        if t == steps or move.size == 0:
            continue
        gm = g[torch.as_tensor(~hit)].to(torch.float32) * m
        d = gm / gm.norm(dim=1, keepdim=True).clamp_min(1e-12)
        turn = (d * prev[move]).sum(1)
        lr[move] = torch.where(turn < 0, lr[move] * 0.5, torch.clamp(lr[move] * 1.2, max=step))
        prev[move] = d
        thetas[move] = thetas[move] + (lr[move] * scale[move])[:, None] * (d if normalized else gm)
        taken[move] += 1
    return {"thetas": thetas, "stationary": stationary, "steps": taken, "history": history}


def reference_points(thetas: torch.Tensor, mask: torch.Tensor, n: int, radius: float, seed: int = 0) -> torch.Tensor:
    """[K, n, P]: n points at distance radius x ||theta_k (moving part)|| around each theta_k, Gaussian directions
    on the mask -- where the relative threshold measures the gradient norm "nearby"."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(thetas.shape[0], n, thetas.shape[1], generator=gen) * mask.to(torch.float32)
    u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    r = radius * (thetas * mask).norm(dim=1)
    return thetas[:, None, :] + r[:, None, None] * u


def _exact_verdicts(oracle, thetas, refs, threshold: float, rel_threshold: float, ref_points: int) -> list[dict]:
    """Closed form (ToyTrap --exact): exact norms against an exact threshold, no sampling, no SE."""
    K = thetas.shape[0]
    _, norm, _ = oracle(thetas)
    tau = np.full(K, threshold)
    if refs is not None:
        _, rn, _ = oracle(refs.reshape(-1, thetas.shape[1]))
        tau = rel_threshold * np.sqrt((rn.reshape(K, ref_points) ** 2).mean(1))
    v = st.verdict(norm**2, 0.0, 0.0, tau, 0.0, exact=True)
    return [
        {
            "verdict": str(v[k]),
            "exact": True,
            "episodes": 0,
            "raw": {"norm": float(norm[k]), "threshold": float(tau[k]), "verdict": str(v[k])},
        }
        for k in range(K)
    ]


def verdicts(
    oracle,
    thetas: torch.Tensor,
    objective: str,
    mask: torch.Tensor,
    threshold: float = 0.0,
    rel_threshold: float = 0.5,
    ref_points: int = 4,
    ref_radius: float = 0.05,
    ref_episodes: int = 64,
    start: int = 16,
    budget: int = 1024,
    alpha: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> list[dict]:
    """Three-way stationarity verdict of every point under `objective` (module docstring, stationarity.py).
    Threshold: `threshold` if > 0, else rel_threshold x the norm at reference points (raw and scaled each)."""
    K = thetas.shape[0]
    exact = not hasattr(oracle, "sample")
    refs = reference_points(thetas, mask, ref_points, ref_radius, seed + 17) if threshold <= 0 else None
    if exact:
        return _exact_verdicts(oracle, thetas, refs, threshold, rel_threshold, ref_points)
    if threshold > 0:
        tau = {"raw": np.full(K, threshold), "scaled": np.full(K, threshold)}
        ref_info = None
    else:
        g = oracle.sample(refs.reshape(-1, thetas.shape[1]), objective, ref_episodes, seed + 5000)
        tau, ref_info, resolved = {}, {}, {}
        for kind, gk in g.items():
            ref_norm, resolved[kind] = reference_norm(*st.squared_norm(gk), K, ref_points)
            tau[kind], ref_info[kind] = rel_threshold * ref_norm, ref_norm
    blocks = st.Blocks.of(oracle.agent.space, mask)

    def sample(idx, n, look):
        return oracle.sample(thetas[torch.as_tensor(idx)], objective, n, seed + 10007 * (look + 1))

    bar = tqdm(
        total=len(st.looks(start, budget)),
        desc=f"verdict {objective}",
        dynamic_ncols=True,
        leave=False,
        disable=not progress,
    )
    res = st.sequential_test(
        sample, K, tau, start, budget, alpha, blocks, progress=lambda j, ns, decided: bar.update(1)
    )
    bar.close()
    for k, r in enumerate(res):
        r["exact"] = False
        if ref_info is not None:
            r["reference"] = {
                "points": ref_points,
                "radius": ref_radius,
                "episodes": ref_episodes,
                "rel_threshold": rel_threshold,
                **{f"norm_{kd}": float(v[k]) for kd, v in ref_info.items()},
                **{f"resolved_{kd}": bool(v[k]) for kd, v in resolved.items()},
            }
            if not resolved["raw"][k]:
                r["note"] = (
                    f"the reference gradient norm is not resolved at {ref_episodes} episodes (its U is within "
                    "2 SE of 0): the threshold is about 0, so this test cannot certify stationarity; "
                    "rerun with more --ref-episodes"
                )
    return res


def reference_norm(U: np.ndarray, U_se: np.ndarray, K: int, ref_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Per point, the root mean squared gradient norm over its reference points (from their unbiased U and SE)
    and whether it is resolved: the mean U is more than 2 SE above 0 (else the threshold rests on noise)."""
    U, se = U.reshape(K, ref_points), U_se.reshape(K, ref_points)
    mean, mean_se = U.mean(1), np.sqrt((se**2).sum(1)) / ref_points
    return np.sqrt(np.maximum(mean, 0.0)), mean > 2 * mean_se


def dedupe(thetas: torch.Tensor, tol: float) -> list[int]:
    """Per point the index of its representative: itself, or the first earlier representative within tol
    (the point it duplicates, not merely the last one kept before it)."""
    rep: list[int] = []
    for i in range(len(thetas)):
        near = [j for j in range(i) if rep[j] == j and float((thetas[i] - thetas[j]).norm()) <= tol]
        rep.append(near[0] if near else i)
    return rep


# ----------------------------------------------------------------------------------- spec
OBJECTIVES = ("natural", "adversarial")
RANGES = "--steps must be >= 0, --top and --episodes >= 1, --step > 0"


@dataclass(frozen=True)
class FospSpec:
    """One FOSP search around a checkpoint: every option of `python -m landscape.fosp`, its defaults (module
    docstring). Fields in the CLI's order: the report's "settings" are these fields but ckpt and out."""

    ckpt: str  # checkpoint (.pt or lineage .model), or a bundled checkpoint's name
    from_store: str | None = None  # scan store whose local maxima are candidates
    metric: str = "natural"  # surface whose local maxima are candidates
    top: int = 4  # candidates taken from the store (highest local maxima)
    objective: str = "natural"  # the return whose gradient ascent refines the candidates
    attack: str = ATTACK  # attack for adversarial returns and gradients ("none": natural only)
    eps: float | None = None  # None: the checkpoint's, or the environment's standard
    adversary: str | None = None  # learned attacker file for attack rs/optimal/paad
    params: str = "all"  # what moves
    steps: int = 10  # refinement steps per candidate
    step: float = 0.01  # step length as a fraction of ||theta||
    threshold: float = 0.0  # absolute threshold on ||grad|| (0: relative)
    rel_threshold: float = 0.5
    ref_points: int = 4
    ref_radius: float = 0.05
    ref_episodes: int = 64
    test_objectives: str | None = None  # comma list (None: natural,adversarial; attack "none": natural)
    start_episodes: int = 16
    budget: int = 1024
    alpha: float = 0.05
    gamma: float | None = None  # None: toys 1, else 0.99
    lam: float | None = None  # None: toys 1, else 0.95
    baseline: str = "time-limit"  # or "critic"
    grad_episodes: int = 16
    episodes: int = EPISODES
    dedupe: float = 1e-3  # merge end points closer than this (x ||theta||)
    curvature: bool = False  # extreme Hessian eigenvalues of the PPO surrogate
    exact: bool = False  # ToyTrap-v0 only: the closed form instead of estimates
    seed: int = SEED
    out: str | None = None  # report path (None: fosp_<checkpoint>.json)

    def __post_init__(self):
        _as_floats(self)
        check_finite(self)
        one_of(self, "params", PARAM_CHOICES)
        one_of(self, "objective", OBJECTIVES)
        one_of(self, "baseline", ("time-limit", "critic"))
        for name, bad in (
            ("steps", self.steps < 0),
            ("top", self.top < 1),
            ("step", self.step <= 0),
            ("episodes", self.episodes < 1),
        ):
            if bad:
                raise SpecError(name, "is out of range", cli=RANGES)
        if not self.exact:
            if self.attack == "none" and self.objective == "adversarial":
                raise SpecError(
                    "attack",
                    "is needed by the adversarial objective",
                    cli="the adversarial objective needs an attack (--attack)",
                )
            at_least(self, 3, "grad_episodes")
        objectives = self.objectives()
        if any(o not in OBJECTIVES for o in objectives) or (self.attack == "none" and "adversarial" in objectives):
            raise SpecError(
                "test_objectives",
                "must be natural and/or adversarial (adversarial needs an attack)",
                cli="--test-objectives: natural and/or adversarial (adversarial needs an attack)",
            )

    def objectives(self) -> list[str]:
        """The objectives every refined point is tested under."""
        default = "natural" if self.attack == "none" else "natural,adversarial"
        return [o.strip() for o in (self.test_objectives or default).split(",") if o.strip()]

    def settings(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("ckpt", "out")}


def _as_floats(spec) -> None:
    """An int given for a float field is stored as a float (the report's settings read as from the CLI)."""
    for f in fields(spec):
        value = getattr(spec, f.name)
        if "float" in str(f.type) and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(spec, f.name, float(value))


def _oracle(spec: FospSpec, agent, objective: str, attack, mask=None):
    if spec.exact:
        if agent.env_id != "ToyTrap-v0":
            raise LandscapeError("--exact needs a ToyTrap-v0 checkpoint")
        from .sim.toys.trap import ExactOracle

        return ExactOracle(objective, attack.eps if attack is not None else spec.eps or 0.3)
    return SampledOracle(
        agent,
        objective,
        attack,
        spec.grad_episodes,
        spec.episodes,
        spec.seed,
        mask,
        spec.gamma,
        spec.lam,
        spec.baseline == "time-limit",
    )


def _curvature(agent, theta: torch.Tensor, seed: int) -> dict:
    from .probes.curvature import extreme_eigenvalues, hvp_fn, surrogate_function

    a = checkpoint_copy(agent, theta)
    ev = BatchedEvaluator(a.env_id, a.space, a.obs_norm)
    f = surrogate_function(a, ev, episodes=8, seed=seed + 7)
    ev.close()
    return extreme_eigenvalues(hvp_fn(f, theta.double()), theta.numel(), k=2, iters=20, seed=seed)


def checkpoint_copy(agent, theta: torch.Tensor):
    """A deep copy of the agent with actor parameters theta (normalizer frozen, critic copied)."""
    import copy

    a = copy.deepcopy(agent)
    a.space.assign(a.actor, theta.to(torch.float32))
    a.obs_norm.frozen = True
    return a


OBJECTIVE_COLORS = {"natural": render.OKABE_ITO[0], "adversarial": render.OKABE_ITO[1]}


@render.style()
def figure(report: dict, path: Path) -> list[Path]:
    """The report's figure: gradient-norm history per point, and every point at its (natural, adversarial)
    return with its verdict under each tested objective (render.verdict_marker: filled = stationary, x = not,
    hollow = unresolved; colour = objective, side by side). Draws from the report alone (`redraw`)."""
    fig, (ax1, ax2) = render.plt.subplots(1, 2, figsize=(7, 2.8), constrained_layout=True)
    own = report["settings"]["objective"]
    for p in report["points"]:
        h = np.array(p["norm_history"])
        ax1.errorbar(np.arange(len(h)), h[:, 0], yerr=Z_95 * h[:, 1], capsize=2, lw=1, label=p["id"])
        nat, adv = p["natural_return"], p.get("adversarial_return")
        if adv is not None:
            ax2.errorbar(nat[0], adv[0], xerr=nat[1], yerr=adv[1], fmt="none", ecolor="grey", capsize=2, lw=0.8)
            _mark_verdicts(ax2, (nat[0], adv[0]), p["verdict"])
            ax2.annotate(p["id"], (nat[0], adv[0]), fontsize=7, xytext=(3, 6), textcoords="offset points")
    if report["settings"]["threshold"] > 0:
        ax1.axhline(report["settings"]["threshold"], color="grey", ls=":", lw=0.8)
    ax1.set(xlabel="refinement step", ylabel=f"||grad|| ({own}) +- 95% CI")
    ax2.set(xlabel="natural return", ylabel="adversarial return", title="stationarity verdict per objective")
    ax1.legend(fontsize=6)
    from matplotlib.lines import Line2D

    tested = [o for o in OBJECTIVE_COLORS if any(o in p["verdict"] for p in report["points"])]
    handles = render.verdict_handles() + [
        Line2D([], [], ls="none", marker="s", color=OBJECTIVE_COLORS[o], label=o) for o in tested
    ]
    ax2.legend(handles=handles, fontsize=6, loc="best")
    return render.save(fig, path)  # PDF and 300-dpi PNG


def _mark_verdicts(ax, xy, verdicts: dict) -> None:
    """One verdict marker per objective at xy, side by side (offset in points), coloured by objective."""
    from matplotlib.transforms import offset_copy

    names = [o for o in OBJECTIVE_COLORS if o in verdicts]
    for i, o in enumerate(names):
        shift = offset_copy(ax.transData, fig=ax.figure, x=6 * (i - (len(names) - 1) / 2), units="points")
        style = render.verdict_marker(verdicts[o], OBJECTIVE_COLORS[o], 6)
        ax.plot(*xy, ls="none", transform=shift, gid=f"verdict:{o}:{verdicts[o]}", zorder=3, **style)


def redraw(report_path) -> list[Path]:
    """The figure of a written report, again, from its JSON alone (no sampling)."""
    report_path = Path(report_path)
    render.use_agg()
    return figure(json.loads(report_path.read_text()), report_path)


def _starting_points(spec: FospSpec, theta0: torch.Tensor, ckpt: str) -> tuple[torch.Tensor, list[dict]]:
    """The checkpoint itself, then (with --from-store) the store's top cells, each with where it came from."""
    starts, origins = theta0[None], [{"id": "ckpt", "coords": None}]
    if spec.from_store:
        centre = ScanStore(spec.from_store).directions().get("theta0")  # candidates of another checkpoint's
        if centre is None or centre.shape != tuple(theta0.shape) or not np.array_equal(centre, theta0.numpy()):
            raise LandscapeError(f"{spec.from_store} was scanned around another checkpoint than {ckpt}")
        cand, coords = scan_candidates(spec.from_store, spec.metric, spec.top)
        starts = torch.cat([starts, cand])
        origins += [{"id": f"max{i + 1}", "coords": c} for i, c in enumerate(coords)]
    return starts, origins


def _test(spec: FospSpec, oracle, thetas: torch.Tensor, objective: str, mask, say, progress: bool) -> list[dict]:
    """The stationarity verdict of every point under one objective, with the spec's test settings."""
    say(f"testing {len(thetas)} points for stationarity under the {objective} objective")
    return verdicts(
        oracle,
        thetas,
        objective,
        mask,
        spec.threshold,
        spec.rel_threshold,
        spec.ref_points,
        spec.ref_radius,
        spec.ref_episodes,
        spec.start_episodes,
        spec.budget,
        spec.alpha,
        spec.seed,
        progress=progress,
    )


def run(spec: FospSpec, progress: bool = True) -> dict:
    """Refine the candidates of `spec` and test them; writes the report (JSON), the refined parameter vectors
    (.npz) and the figure to spec.out (default fosp_<checkpoint>.json) and returns the report. progress=True
    prints what the CLI prints (progress bars, one line per point, the paths written)."""
    ckpt = str(bundled.resolve(spec.ckpt))  # bundled by name: its cached attackers are beside it
    say = print if progress else (lambda *a, **k: None)
    render.use_agg()
    out = check_writable(spec.out or f"fosp_{Path(ckpt).stem}.json", "--out", inputs=[ckpt])
    agent = checkpoint.load(ckpt)
    theta0 = agent.space.flatten(agent.actor)
    attack = (
        None
        if spec.attack == "none"
        else make_attack_for(agent, spec.attack, attack_eps(agent, spec.eps), spec.adversary, ckpt)
    )
    starts, origins = _starting_points(spec, theta0, ckpt)
    mask = agent.space.mask(param_kinds(spec.params))
    oracle = _oracle(spec, agent, spec.objective, attack, mask)
    say(f"refining {len(starts)} candidates of {ckpt} by {spec.objective} gradient ascent")
    res = refine(
        oracle, starts, mask, spec.steps, spec.step, spec.threshold, normalized=not spec.exact, progress=progress
    )
    thetas = res["thetas"]
    objectives = spec.objectives()
    oracles = {o: oracle if o == spec.objective else _oracle(spec, agent, o, attack, mask) for o in objectives}
    tested = {o: _test(spec, oracles[o], thetas, o, mask, say, progress) for o in objectives}
    rets = oracle.returns(thetas)
    ref = float((theta0 * mask).norm())
    rep = dedupe(thetas, spec.dedupe * ref)
    points = []
    for i in range(len(thetas)):
        ret = {k: (v[i], 0.0) if spec.exact else mean_se(v[i]) for k, v in rets.items()}
        grad = {o: [tested[o][i]["raw"]["norm"], tested[o][i]["raw"].get("norm_se")] for o in objectives}
        own = tested.get(spec.objective, tested[objectives[0]])[i]["verdict"]
        p = {
            **origins[i],
            "verdict": {o: tested[o][i]["verdict"] for o in objectives},
            "stationary": own == st.STATIONARY,
            "steps": int(res["steps"][i]),
            "duplicate_of": None if rep[i] == i else origins[rep[i]]["id"],
            "natural_return": [float(x) for x in ret["natural"]],
            "adversarial_return": [float(x) for x in ret["adversarial"]] if "adversarial" in ret else None,
            "grad_norm_natural": grad.get("natural"),
            "grad_norm_adversarial": grad.get("adversarial"),
            "test": {o: tested[o][i] for o in objectives},
            "distance_to_start": float((thetas[i] - starts[i]).norm()),
            "distance_to_ckpt": float((thetas[i] - theta0).norm()),
            "norm_history": res["history"][i],
        }
        if spec.curvature:
            p["surrogate_hessian"] = _curvature(agent, thetas[i], spec.seed)
        points.append(p)
    for o in {id(o): o for o in [*oracles.values(), oracle]}.values():
        if hasattr(o, "close"):
            o.close()
    report = {
        "ckpt": ckpt,
        "ckpt_sha256": checkpoint.file_hash(ckpt),
        "env_id": agent.env_id,
        "algo": agent.algo,
        "theta_norm": ref,
        "settings": spec.settings(),
        "points": points,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    np.savez(out.with_suffix(".npz"), thetas=thetas.numpy(), starts=starts.numpy())
    figs = figure(report, out)
    if progress:
        print_points(report)
        print(f"report: {out}\nfigures: {', '.join(map(str, figs))}")
    return report


def print_points(report: dict) -> None:
    """One line per point of a report: its ascent and its verdict under each tested objective."""
    for p in report["points"]:
        line = [
            f"{p['id']:>6}: {p['steps']} ascent steps, moved {p['distance_to_start']:.3g}, natural return "
            f"{p['natural_return'][0]:.1f}"
        ]
        for o, t in p["test"].items():
            r = t["raw"]
            extra = (
                ""
                if t["exact"]
                else (
                    f" [{r['lower']:.3g}, {r['upper']:.3g}], {t['episodes']} episodes, "
                    f"min detectable {r['min_detectable_norm']:.3g}"
                )
            )
            line.append(f"{o}: {t['verdict']} (|g| {r['norm']:.3g} vs threshold {r['threshold']:.3g}{extra})")
        print("; ".join(line))


# ----------------------------------------------------------------------------------- command line
def parse_args(argv=None) -> argparse.Namespace:
    p = cli_args.parser("python -m landscape.fosp", __doc__)
    p.add_argument("--ckpt", required=True, help="checkpoint (.pt or lineage .model)")
    p.add_argument("--from-store", metavar="DIR", help="scan store whose local maxima are candidates")
    p.add_argument(
        "--metric", default="natural", help="surface whose local maxima are candidates (natural, adversarial)"
    )
    p.add_argument("--top", type=int, default=4, help="candidates taken from the store (highest local maxima)")
    p.add_argument(
        "--objective",
        default="natural",
        choices=("natural", "adversarial"),
        help="the return whose gradient ascent refines the candidates",
    )
    cli_args.attack(p, help="attack for adversarial returns and gradients ('none': natural only)")
    cli_args.eps(p)
    cli_args.adversary(p)
    cli_args.params(p, "all", help="what moves")
    p.add_argument("--steps", type=int, default=10, help="refinement steps per candidate")
    p.add_argument("--step", type=float, default=0.01, help="step length as a fraction of ||theta||")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.0,
        help="absolute threshold on ||grad|| (0: relative, --rel-threshold x the norm at nearby points)",
    )
    p.add_argument("--rel-threshold", type=float, default=0.5, help="relative threshold F (see above)")
    p.add_argument("--ref-points", type=int, default=4, help="random nearby points for the relative threshold")
    p.add_argument("--ref-radius", type=float, default=0.05, help="their distance as a fraction of ||theta||")
    p.add_argument("--ref-episodes", type=int, default=64, help="sampled episodes per nearby point")
    p.add_argument(
        "--test-objectives",
        default=None,
        help="objectives to test each point under (default: natural,adversarial; --attack none: natural)",
    )
    p.add_argument("--start-episodes", type=int, default=16, help="episodes per point at the first look")
    p.add_argument("--budget", type=int, default=1024, help="most episodes per point for the sequential test")
    p.add_argument("--alpha", type=float, default=0.05, help="error rate per side of the verdict")
    p.add_argument("--gamma", type=float, default=None, help="discount of the estimated gradient (toys 1, else 0.99)")
    p.add_argument("--lam", type=float, default=None, help="GAE lambda of the estimated gradient (toys 1, else 0.95)")
    p.add_argument(
        "--baseline",
        default="time-limit",
        choices=("time-limit", "critic"),
        help="baseline of the estimated gradient: the critic refitted with the time left (default), or a V + c",
    )
    cli_args.grad_episodes(p, 16, help="sampled episodes per gradient estimate")
    cli_args.episodes(p, help="deterministic episodes for the reported returns")
    p.add_argument("--dedupe", type=float, default=1e-3, help="merge end points closer than this (x ||theta||)")
    p.add_argument("--curvature", action="store_true", help="extreme Hessian eigenvalues of the PPO surrogate")
    p.add_argument("--exact", action="store_true", help="ToyTrap-v0 only: the closed form instead of estimates")
    cli_args.seed(p, help="seeds the episodes and the reference points")
    cli_args.out(p, help="report path (default: fosp_<checkpoint>.json)")
    return p.parse_args(argv)


def spec_of(args: argparse.Namespace) -> FospSpec:
    with cli_args.as_flags():
        return FospSpec(**vars(args))


@cli_main
def main(argv=None) -> None:
    spec = spec_of(parse_args(argv))
    single_thread()
    run(spec)


if __name__ == "__main__":
    main()
