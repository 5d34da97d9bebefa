"""Scan throughput: a 2D Hopper scan done the naive way (one grid point, one environment, one policy
call at a time) and with the batched evaluator, for natural returns and under the `mad` attack, in one
run, against the raw MuJoCo stepping rate on this machine (the physical limit).

    python benchmarks/scan_throughput.py [--ckpt landscape/checkpoints/hopper_spo.pt] [--resolution 5] [--episodes 2]

The naive scan is timed on --naive-points grid points (it is slow; env steps/s is what is compared).
Both ways use the same seeds; natural returns must agree (printed as max |dR|). Under `mad` the naive loop
uses autograd PGD (what a user would write); the batched scan is timed with the closed-form input
gradient (the default) and with autograd, so the closed form's share of the speed-up is visible.
"""

import argparse
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from physics_rate import raw_batch

from landscape.attacks import make_attack
from landscape.io import checkpoint
from landscape.probes.directions import random_direction
from landscape.probes.scanning import grid_thetas
from landscape.rl.evaluator import BatchedEvaluator
from landscape.sim.envs import make_env
from landscape.core.threads import single_thread


def naive_returns(agent, thetas, episodes, attack=None):
    """The loop a user would write: set the weights, run one Gymnasium env, one policy call per step."""
    env, space, steps, rets = make_env(agent.env_id), agent.space, 0, []
    low, high = env.action_space.low, env.action_space.high
    for theta in thetas:
        space.assign(agent.actor, theta)
        for e in range(episodes):
            obs, _ = env.reset(seed=e)
            total, done = 0.0, False
            while not done:
                z = agent.normalize(obs[None])[0]
                if attack is not None:
                    z = attack(z[None, None], theta[None])[0, 0]
                with torch.no_grad():
                    a = agent.actor(z).numpy()
                obs, r, term, trunc, _ = env.step(np.clip(a, low, high))
                total, done, steps = total + r, term or trunc, steps + 1
            rets.append(total)
    return np.array(rets).reshape(len(thetas), episodes), steps


def batched_returns(agent, thetas, episodes, attack=None, chunk_envs=128):
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    per = max(1, chunk_envs // episodes)
    out, steps = [], 0
    for lo in range(0, len(thetas), per):
        roll = ev.run(thetas[lo : lo + per], episodes, seed=0, attack=attack)
        out.append(roll.returns)
        steps += roll.steps
    ev.close()
    return np.concatenate(out), steps


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    rets, steps = fn(*args, **kw)
    return rets, steps, steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default="landscape/checkpoints/hopper_spo.pt")
    ap.add_argument("--resolution", type=int, default=5)
    ap.add_argument("--span", type=float, default=0.25)
    ap.add_argument("--episodes", type=int, default=5, help="episodes per point (the scan default)")
    ap.add_argument("--naive-points", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/scan_throughput.json")
    args = ap.parse_args()
    single_thread()
    agent = checkpoint.load(args.ckpt)
    theta0 = agent.space.flatten(agent.actor)
    gen = torch.Generator().manual_seed(0)
    dirs = torch.stack([random_direction(agent.space, theta0, gen) for _ in range(2)])
    coords = [np.linspace(-args.span, args.span, args.resolution)] * 2
    thetas = grid_thetas(theta0, dirs, coords, np.arange(args.resolution**2))
    mad = make_attack("mad", agent)  # PGD with the closed-form input gradient (input_grad.py)
    mad_autograd = make_attack("mad", agent, closed_form=False)  # the same PGD through autograd
    sub = thetas[: args.naive_points]

    rows = {}
    for label, naive_attack, attack in (("natural", None, None), ("mad", mad_autograd, mad)):
        # the naive loop attacks the way a user would write it: autograd PGD, one observation at a time
        n_rets, n_steps, n_rate = timed(naive_returns, agent, sub, args.episodes, naive_attack)
        b_rets, b_steps, b_rate = timed(batched_returns, agent, thetas, args.episodes, attack)
        rows[label] = {
            "naive_steps_per_s": round(n_rate),
            "batched_steps_per_s": round(b_rate),
            "speedup": b_rate / n_rate,
            "naive_steps": n_steps,
            "batched_steps": b_steps,
            # PGD's random starts are drawn in another order, so only natural returns must agree
            "max_abs_return_diff_on_shared_points": float(np.abs(n_rets - b_rets[: len(sub)]).max())
            if attack is None
            else None,
        }
        if attack is not None:  # the batched evaluator with autograd PGD: what the closed form buys
            _, _, a_rate = timed(batched_returns, agent, thetas, args.episodes, mad_autograd)
            rows[label] |= {"batched_autograd_steps_per_s": round(a_rate), "closed_form_vs_autograd": b_rate / a_rate}
    run = raw_batch(agent.env_id, 128, 300, np.random.default_rng(0).uniform(-1, 1, (300, 128, 3)))
    run()
    t0 = time.perf_counter()
    raw_rate = run() / (time.perf_counter() - t0)
    for r in rows.values():
        r["fraction_of_raw_physics"] = r["batched_steps_per_s"] / raw_rate

    print(
        f"{agent.env_id}: {args.resolution}x{args.resolution} grid, {args.episodes} episodes/point, "
        f"naive timed on {args.naive_points} points; raw MuJoCo (128 envs, 2 threads): {raw_rate:,.0f} steps/s"
    )
    print(f"{'scan':10s} {'naive st/s':>11s} {'batched st/s':>13s} {'speed-up':>9s} {'of raw':>7s} {'max |dR|':>9s}")
    for k, r in rows.items():
        diff = r["max_abs_return_diff_on_shared_points"]
        print(
            f"{k:10s} {r['naive_steps_per_s']:11,d} {r['batched_steps_per_s']:13,d} {r['speedup']:8.1f}x "
            f"{r['fraction_of_raw_physics']:7.2f} {'-' if diff is None else f'{diff:.2g}':>9s}"
        )
        if "batched_autograd_steps_per_s" in r:
            print(
                f"{'':10s} batched with autograd PGD: {r['batched_autograd_steps_per_s']:,d} st/s "
                f"(closed form {r['closed_form_vs_autograd']:.2f}x)"
            )
    result = {
        "env": agent.env_id,
        "ckpt": args.ckpt,
        "resolution": args.resolution,
        "episodes": args.episodes,
        "raw_physics_steps_per_s": round(raw_rate),
        "scans": rows,
        "loadavg": os.getloadavg(),
        "measured_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
