"""python -m landscape.fosp --ckpt PATH [--from-store DIR] [options]

First-order stationary policies (FOSPs) near a checkpoint. Candidates are the checkpoint itself and, with
--from-store, the local maxima of a scan's natural or adversarial return surface (landscape.scan). Each
candidate is refined by gradient ascent on the full parameter vector with estimated policy gradients
(gradients.py on the batched evaluator; the adversarial gradient is the policy gradient on attacked
observations, the attack held fixed) and declared stationary once the gradient norm's confidence interval
reaches below --threshold: norm - z * se <= threshold (z = 1.96; threshold 0 = "indistinguishable from 0").
Ascent steps are normalized: each moves --step * ||theta|| along the estimated gradient, halved whenever the
gradient turns against the previous step, so the iterates settle instead of bouncing around a maximum.

The report (JSON, plus the refined parameter vectors in .npz and a figure) gives each point's natural and
adversarial return, natural and adversarial gradient norms with standard errors, the distance to its start
and to the checkpoint, and (with --curvature) the extreme Hessian eigenvalues of the PPO surrogate there.
On ToyTrap-v0, --exact replaces the estimates by the closed form (toys/trap.py; the adversarial objective
is then the exact worst case and its Clarke steepest-ascent direction).
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import checkpoint
from .directions import param_kinds
from .errors import LandscapeError, cli_main
from .evaluator import BatchedEvaluator
from .gradients import gradient_norm, per_episode_gradients
from .probes import mean_se

Z_95 = 1.96


# ----------------------------------------------------------------------------------- gradient oracles
class SampledOracle:
    """Estimated policy gradients at K points: (mean gradient [K, P], bias-corrected norm [K], its SE [K])."""

    def __init__(self, agent, objective: str = "natural", attack=None, grad_episodes: int = 16,
                 episodes: int = 5, seed: int = 0, mask: torch.Tensor | None = None):
        if objective == "adversarial" and attack is None:
            raise LandscapeError("the adversarial objective needs an attack (--attack)")
        if grad_episodes < 3:
            raise LandscapeError("--grad-episodes must be at least 3")
        self.agent, self.objective, self.attack = agent, objective, attack
        self.grad_episodes, self.episodes, self.seed = grad_episodes, episodes, seed
        self.mask = mask  # norms over the moving parameters only (fixed ones may keep a gradient)
        self.evaluator = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
        self.calls = 0

    def gradient(self, thetas: torch.Tensor, objective: str):
        attack = self.attack if objective == "adversarial" else None
        # fresh episodes every call (the ascent must not overfit one sample), common to all K points
        roll = self.evaluator.run(thetas, self.grad_episodes, seed=self.seed + 1 + 1000 * self.calls,
                                  deterministic=False, attack=attack, record=True)
        self.calls += 1
        g = per_episode_gradients(self.agent.space, thetas, roll.trajectories, self.grad_episodes, gamma=0.99,
                                  critic=self.agent.critic)
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
    from .store import load_surface

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
def refine(oracle, starts: torch.Tensor, mask: torch.Tensor, steps: int = 20, step: float = 0.01,
           threshold: float = 0.0, z: float = Z_95, normalized: bool = True, progress: bool = False) -> dict:
    """Gradient ascent from K starts until each is declared stationary (norm - z se <= threshold) or `steps`.

    normalized: steps of length lr * ||start|| along the gradient (sampled gradients have an arbitrary
    scale); else plain steps lr * gradient. lr starts at `step`, per point: halved whenever the gradient
    turns against the previous one (the iterate overshot a maximum or crossed a kink), grown by 1.2 up to
    `step` while it keeps its direction -- so iterates settle instead of bouncing around a maximum.
    Returns thetas [K, P], stationary [K], steps taken [K], and the gradient-norm history (norm, se) per point.
    """
    thetas = starts.clone().to(torch.float32)
    K = thetas.shape[0]
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
        hit = norm - z * se <= threshold
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


def dedupe(thetas: torch.Tensor, tol: float) -> list[int]:
    """Indices of representatives: a point within tol of an earlier kept point is dropped."""
    keep = []
    for i in range(len(thetas)):
        if all(float((thetas[i] - thetas[j]).norm()) > tol for j in keep):
            keep.append(i)
    return keep


# ----------------------------------------------------------------------------------- command line
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m landscape.fosp", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True, help="checkpoint (.pt or lineage .model)")
    p.add_argument("--from-store", metavar="DIR", help="scan store whose local maxima are candidates")
    p.add_argument("--metric", default="natural", help="surface whose local maxima are candidates (natural, adversarial)")
    p.add_argument("--top", type=int, default=4, help="candidates taken from the store (highest local maxima)")
    p.add_argument("--objective", default="natural", choices=("natural", "adversarial"),
                   help="the return whose gradient ascent refines the candidates")
    p.add_argument("--attack", default="mad", help="attack for adversarial returns and gradients")
    p.add_argument("--eps", type=float, default=None, help="attack budget (default: the environment's standard)")
    p.add_argument("--params", default="all", choices=("weights", "weights+biases", "all"), help="what moves")
    p.add_argument("--steps", type=int, default=10, help="refinement steps per candidate")
    p.add_argument("--step", type=float, default=0.01, help="step length as a fraction of ||theta||")
    p.add_argument("--threshold", type=float, default=0.0, help="stationary when norm - 1.96 se <= threshold")
    p.add_argument("--grad-episodes", type=int, default=16, help="sampled episodes per gradient estimate")
    p.add_argument("--episodes", type=int, default=5, help="deterministic episodes for the reported returns")
    p.add_argument("--dedupe", type=float, default=1e-3, help="merge end points closer than this (x ||theta||)")
    p.add_argument("--curvature", action="store_true", help="extreme Hessian eigenvalues of the PPO surrogate")
    p.add_argument("--exact", action="store_true", help="ToyTrap-v0 only: the closed form instead of estimates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="report path (default: fosp_<checkpoint>.json)")
    return p.parse_args(argv)


def _oracle(args, agent, objective: str, attack, mask=None):
    if args.exact:
        if agent.env_id != "ToyTrap-v0":
            raise LandscapeError("--exact needs a ToyTrap-v0 checkpoint")
        from .toys.trap import ExactOracle

        return ExactOracle(objective, attack.eps if attack is not None else args.eps or 0.3)
    return SampledOracle(agent, objective, attack, args.grad_episodes, args.episodes, args.seed, mask)


def _curvature(agent, theta: torch.Tensor, seed: int) -> dict:
    from .curvature import extreme_eigenvalues, hvp_fn, surrogate_function

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


def _figure(report: dict, path: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7, 2.8), constrained_layout=True)
    for p in report["points"]:
        h = np.array(p["norm_history"])
        ax1.errorbar(np.arange(len(h)), h[:, 0], yerr=Z_95 * h[:, 1], capsize=2, lw=1, label=p["id"])
        nat, adv = p["natural_return"], p.get("adversarial_return")
        if adv is not None:
            ax2.errorbar(nat[0], adv[0], xerr=nat[1], yerr=adv[1], fmt="o" if p["stationary"] else "x", capsize=2)
            ax2.annotate(p["id"], (nat[0], adv[0]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax1.axhline(report["settings"]["threshold"], color="grey", ls=":", lw=0.8)
    ax1.set(xlabel="refinement step", ylabel=f"||grad|| ({report['settings']['objective']}) +- 95% CI")
    ax2.set(xlabel="natural return", ylabel="adversarial return", title="o stationary, x not")
    ax1.legend(fontsize=6)
    paths = [path.with_suffix(".png"), path.with_suffix(".pdf")]
    for pth in paths:
        fig.savefig(pth, dpi=200)
    plt.close(fig)
    return paths


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    if args.steps < 0 or args.top < 1 or args.step <= 0 or args.episodes < 1:
        raise LandscapeError("--steps must be >= 0, --top and --episodes >= 1, --step > 0")
    agent = checkpoint.load(args.ckpt)
    theta0 = agent.space.flatten(agent.actor)
    from .scan import make_attack_for

    attack = make_attack_for(agent, args.attack, agent.eps if args.eps is None else args.eps, None)
    starts, origins = theta0[None], [{"id": "ckpt", "coords": None}]
    if args.from_store:
        cand, coords = scan_candidates(args.from_store, args.metric, args.top)
        if cand.shape[1] != theta0.numel():
            raise LandscapeError(f"{args.from_store} was scanned around a network of another shape")
        starts = torch.cat([starts, cand])
        origins += [{"id": f"max{i + 1}", "coords": c} for i, c in enumerate(coords)]
    mask = agent.space.mask(param_kinds(args.params))
    oracle = _oracle(args, agent, args.objective, attack, mask)
    print(f"refining {len(starts)} candidates of {args.ckpt} by {args.objective} gradient ascent")
    res = refine(oracle, starts, mask, args.steps, args.step, args.threshold, normalized=not args.exact,
                 progress=True)
    thetas = res["thetas"]
    other = _oracle(args, agent, "adversarial" if args.objective == "natural" else "natural", attack, mask)
    _, n_other, se_other = other.gradient(thetas, other.objective) if hasattr(other, "gradient") else other(thetas)
    _, n_self, se_self = oracle.gradient(thetas, args.objective) if hasattr(oracle, "gradient") else oracle(thetas)
    rets = oracle.returns(thetas)
    ref = float((theta0 * mask).norm())
    keep = dedupe(thetas, args.dedupe * ref)
    points = []
    for i in range(len(thetas)):
        nat_g = (n_self[i], se_self[i]) if args.objective == "natural" else (n_other[i], se_other[i])
        adv_g = (n_other[i], se_other[i]) if args.objective == "natural" else (n_self[i], se_self[i])
        ret = {k: (v[i], 0.0) if args.exact else mean_se(v[i]) for k, v in rets.items()}
        p = {**origins[i], "stationary": bool(res["stationary"][i]), "steps": int(res["steps"][i]),
             "duplicate_of": None if i in keep else origins[max(j for j in keep if j < i)]["id"],
             "natural_return": [float(x) for x in ret["natural"]],
             "adversarial_return": [float(x) for x in ret["adversarial"]] if "adversarial" in ret else None,
             "grad_norm_natural": [float(x) for x in nat_g], "grad_norm_adversarial": [float(x) for x in adv_g],
             "distance_to_start": float((thetas[i] - starts[i]).norm()),
             "distance_to_ckpt": float((thetas[i] - theta0).norm()), "norm_history": res["history"][i]}
        if args.curvature:
            p["surrogate_hessian"] = _curvature(agent, thetas[i], args.seed)
        points.append(p)
    for o in (oracle, other):
        if hasattr(o, "close"):
            o.close()
    report = {"ckpt": str(args.ckpt), "ckpt_sha256": checkpoint.file_hash(args.ckpt), "env_id": agent.env_id,
              "algo": agent.algo, "theta_norm": ref,
              "settings": {k: v for k, v in vars(args).items() if k not in ("ckpt", "out")}, "points": points}
    out = Path(args.out or f"fosp_{Path(args.ckpt).stem}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    np.savez(out.with_suffix(".npz"), thetas=thetas.numpy(), starts=starts.numpy())
    figs = _figure(report, out)
    for p in points:
        print(f"{p['id']:>6}: {'stationary' if p['stationary'] else 'moving':>10} after {p['steps']} steps, "
              f"natural {p['natural_return'][0]:.1f}, adversarial "
              f"{p['adversarial_return'][0] if p['adversarial_return'] else float('nan'):.1f}, "
              f"|g|nat {p['grad_norm_natural'][0]:.3g}+-{p['grad_norm_natural'][1]:.2g}, "
              f"|g|adv {p['grad_norm_adversarial'][0]:.3g}+-{p['grad_norm_adversarial'][1]:.2g}, "
              f"moved {p['distance_to_start']:.3g}")
    print(f"report: {out}\nfigures: {', '.join(map(str, figs))}")


if __name__ == "__main__":
    main()
