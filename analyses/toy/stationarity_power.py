"""Error rates and power of the sequential stationarity test (landscape/stationary/stationarity.py) where the exact
gradient is known: ToyTarget-v0 (points at exact gradient norms 0 ... 2 tau along the bias) and ToyTrap-v0
(the natural optimum, exact norm 0, and points at exact norms around tau). Every point is tested `--repeats`
times with fresh episodes (gradients.py estimator, Monte-Carlo advantages, leave-one-out baseline); the
counts of each verdict are written to analyses/toy/stationarity_power.json.

    python analyses/toy/stationarity_power.py [--repeats 200]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from landscape.probes.gradients import per_episode_gradients
from landscape.sim.toys import target, trap
from landscape.stationary.stationarity import NOT_STATIONARY, STATIONARY, UNRESOLVED, sequential_test


def target_points(norms):
    """ToyTarget thetas whose exact (w, b)-gradient norm is each of `norms` (shifted bias from the optimum)."""
    w0, b0 = target.optimum()
    gain = 2 * np.linalg.norm([(target.X / target.NORM).sum(0)[0], (target.X / target.NORM).sum(0)[1], target.H])
    th = target.to_theta(np.tile(w0, (len(norms), 1)), b0 + np.asarray(norms) / gain)
    exact = [
        float(np.linalg.norm(target.exact_gradient(t[1:3].double().numpy(), float(t[3]), float(t[0]))[1:])) for t in th
    ]
    return th, np.array(exact), torch.tensor([False, True, True, True]), target.make_agent().space, target


def trap_points(norms):
    """ToyTrap thetas on the segment from the natural optimum towards (0, 1) with exact (W1, W2)-gradient
    norms `norms` (found by bisection on the closed form)."""
    opt, far = torch.tensor(trap.NATURAL_OPT, dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)
    W = []
    for n in norms:
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if float(trap.gradient(opt + mid * (far - opt)).norm()) < n:
                lo = mid
            else:
                hi = mid
        W.append(opt + lo * (far - opt))
    W = torch.stack(W)
    return (
        trap.to_theta(W),
        trap.gradient(W).norm(dim=1).numpy(),
        torch.tensor([False, True, True, False]),
        trap.make_agent().space,
        trap,
    )


def run(env: str, norms, tau: float, repeats: int, start: int, budget: int, alpha: float, seed: int = 0) -> dict:
    th, exact, mask, space, mod = (target_points if env == "ToyTarget-v0" else trap_points)(norms)
    thetas = th.repeat(repeats, 1)
    rng = np.random.default_rng(seed)

    def sample(idx, n, look):
        tr = mod.sample_trajectories(thetas[idx], n, rng)
        return per_episode_gradients(space, thetas[idx], tr, n, gamma=1.0, lam=1.0)[..., mask]

    res = sequential_test(sample, len(thetas), tau, start=start, budget=budget, alpha=alpha)
    v = np.array([r["verdict"] for r in res]).reshape(repeats, -1)
    n = np.array([r["episodes"] for r in res]).reshape(repeats, -1)
    rows = []
    for j, e in enumerate(exact):
        counts = {k: int((v[:, j] == k).sum()) for k in (STATIONARY, NOT_STATIONARY, UNRESOLVED)}
        wrong = counts[NOT_STATIONARY] if e < tau else counts[STATIONARY] if e > tau else 0
        rows.append(
            {
                "exact_norm": float(e),
                "truth": STATIONARY if e < tau else NOT_STATIONARY,
                **counts,
                "errors": int(wrong),
                "median_episodes": float(np.median(n[:, j])),
            }
        )
    return {
        "env": env,
        "tau": tau,
        "alpha_per_side": alpha,
        "start": start,
        "budget": budget,
        "repeats": repeats,
        "points": rows,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--out", default=str(Path(__file__).with_name("stationarity_power.json")))
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    out = [
        run("ToyTarget-v0", [0.0, 1.0, 1.6, 2.5, 4.0], 2.0, a.repeats, 16, 2048, 0.05),
        run("ToyTrap-v0", [0.0, 0.2, 0.35, 0.7, 1.0], 0.5, a.repeats, 16, 4096, 0.05, seed=1),
    ]
    for r in out:
        print(
            f"{r['env']}: tau {r['tau']}, alpha {r['alpha_per_side']} per side, {r['repeats']} repeats, "
            f"budget {r['budget']} episodes"
        )
        for row in r["points"]:
            print(
                f"  |grad| {row['exact_norm']:.3f} ({row['truth']}): stationary {row[STATIONARY]}, not "
                f"{row[NOT_STATIONARY]}, unresolved {row[UNRESOLVED]}; errors {row['errors']}; median episodes "
                f"{row['median_episodes']:.0f}"
            )
    Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
