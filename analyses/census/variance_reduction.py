"""Variance reduction of the stationarity test's gradient estimate: the time-limit baseline, measured.

At each bundled Hopper checkpoint, one batch of stochastic natural episodes (the same run for every estimator),
then the per-episode policy gradients (probes/gradients.py) with the old baseline (the critic as a V + c) and
with the time-limit baseline (`horizon`: the critic refitted with the share of the horizon still ahead, leave
one episode out), at GAE lam 0.95 (fosp's default on Hopper) and lam 1 (unbiased Monte Carlo). For each:
the unbiased squared-norm estimate U with its jackknife SE, the norm with its display SE, raw and
Fisher-scaled, over all episodes and over independent chunks; the effective sample size ratio
Var_old(U) / Var_new(U) at equal episodes; and the CPU seconds of the rollouts (shared) and of each estimate.

    python analyses/census/variance_reduction.py [--episodes 1024] [--chunks 4]

Writes analyses/census/variance_reduction.json and prints a table.

Result (1024 episodes each, seed 20000; 12% of SPO's and 7% of ARPO's stochastic episodes reach the limit):
SPO, lam 0.95: SE of U 1.94e5 -> 1.95e4, ESS ratio 99 (per 256-episode chunk 50-182); the norm 154 +- 233 ->
196 +- 52, resolved. lam 1: ratio 65. ARPO: ratio 0.99 (lam 0.95) and 0.75 (lam 1, chunks 0.97-4.9): no gain,
its variance comes from falls, which a baseline cannot remove (an exploratory 64-episode run refitting on the
observation as well did no better). Each estimate costs 3-5 CPU s beside 56-67 CPU s of rollouts.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from landscape.io import checkpoint
from landscape.probes.gradients import norm_se, per_episode_gradients, squared_norm, time_limit
from landscape.rl.evaluator import BatchedEvaluator

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CKPTS = ("spo", "arpo")
LAMS = (0.95, 1.0)
GAMMA = 0.99


def summarize(g: torch.Tensor, chunks: int) -> dict:
    """U, its jackknife SE and the norm with its display SE over all episodes, and U's SE per chunk."""
    U, se = squared_norm(g[None])
    norm, nse = norm_se(U, se)
    cu, cse = squared_norm(torch.stack(g.chunk(chunks)))
    return {
        "U": float(U[0]),
        "U_se": float(se[0]),
        "norm": float(norm[0]),
        "norm_se": float(nse[0]),
        "chunk_U": cu.tolist(),
        "chunk_U_se": cse.tolist(),
    }


def estimates(agent, theta, traj, episodes: int, lam: float, horizon, chunks: int) -> dict:
    t = time.process_time()
    raw, scaled = per_episode_gradients(
        agent.space, theta, traj, episodes, GAMMA, lam, critic=agent.critic, scaled=True, horizon=horizon
    )
    cpu = time.process_time() - t
    return {"cpu_s": cpu, "raw": summarize(raw[0], chunks), "scaled": summarize(scaled[0], chunks)}


def gains(old: dict, new: dict) -> dict:
    """Variance ratios old / new of U at equal episodes (all episodes, and per chunk)."""
    out = {}
    for kind in ("raw", "scaled"):
        o, n = old[kind], new[kind]
        out[kind] = {
            "ess_ratio": (o["U_se"] / n["U_se"]) ** 2,
            "chunk_ess_ratio": [(a / b) ** 2 for a, b in zip(o["chunk_U_se"], n["chunk_U_se"])],
            "norm_se_ratio": o["norm_se"] / n["norm_se"],
        }
    return out


def measure(name: str, episodes: int, chunks: int, seed: int) -> dict:
    agent = checkpoint.load(ROOT / "landscape" / "checkpoints" / f"hopper_{name}.pt")
    theta = agent.space.flatten(agent.actor)[None]
    horizon = time_limit(agent.env_id)
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    t = time.process_time()
    roll = ev.run(theta, episodes, seed=seed, deterministic=False, record=True)
    rollout_cpu = time.process_time() - t
    ev.close()
    out = {
        "episodes": episodes,
        "seed": seed,
        "time_limit": horizon,
        "rollout_cpu_s": rollout_cpu,
        "mean_length": float(roll.lengths.mean()),
        "share_at_time_limit": float((roll.lengths == horizon).mean()),
        "mean_return": float(roll.returns.mean()),
    }
    for lam in LAMS:
        old = estimates(agent, theta, roll.trajectories, episodes, lam, None, chunks)
        new = estimates(agent, theta, roll.trajectories, episodes, lam, horizon, chunks)
        out[f"lam={lam}"] = {"critic": old, "time-limit": new, "gain": gains(old, new)}
    return out


def table(res: dict) -> str:
    rows = [
        "| ckpt | lam | kind | U +- se (critic) | U +- se (time-limit) | norm +- se (critic) | norm +- se (time-limit) "
        "| ESS ratio (chunks) | CPU s (critic / time-limit) |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
    ]
    for name, r in res["checkpoints"].items():
        for lam in LAMS:
            d = r[f"lam={lam}"]
            o, n = d["critic"], d["time-limit"]
            for kind in ("raw", "scaled"):
                a, b, gn = o[kind], n[kind], d["gain"][kind]
                ch = ", ".join(f"{x:.3g}" for x in gn["chunk_ess_ratio"])
                rows.append(
                    f"| {name} | {lam} | {kind} | {a['U']:.3g} +- {a['U_se']:.3g} | {b['U']:.3g} +- {b['U_se']:.3g} "
                    f"| {a['norm']:.3g} +- {a['norm_se']:.3g} | {b['norm']:.3g} +- {b['norm_se']:.3g} "
                    f"| {gn['ess_ratio']:.3g} ({ch}) | {o['cpu_s']:.1f} / {n['cpu_s']:.1f} |"
                )
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=1024)
    p.add_argument("--chunks", type=int, default=4, help="independent chunks for the ratio's spread")
    p.add_argument("--seed", type=int, default=20_000)
    p.add_argument("--out", default=str(HERE / "variance_reduction.json"))
    args = p.parse_args()
    torch.set_num_threads(1)
    res = {"gamma": GAMMA, "objective": "natural", "checkpoints": {}}
    for name in CKPTS:
        res["checkpoints"][name] = measure(name, args.episodes, args.chunks, args.seed)
        r = res["checkpoints"][name]
        print(f"{name}: rollouts {r['rollout_cpu_s']:.0f} CPU s, {r['share_at_time_limit']:.0%} at the time limit")
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(table(res))


if __name__ == "__main__":
    main()
