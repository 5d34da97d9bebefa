"""The learned attacks at evaluation: what batch invariance costs them, and PA-AD batched against a
per-environment loop, in one run.

    python benchmarks/attack_paad.py [--ckpt hopper_spo.pt] [--adversary DIRECTOR.pt] [--envs 64] [--max-steps 200]

The learned attackers are the ones cached beside --ckpt (`<stem>.rs.pt`, `<stem>.optimal-eps<E>.pt`,
`<stem>.paad-eps<E>.pt`; --adversary: another PA-AD director). Each is timed two ways:
  old: as before batch invariance -- the attacker's own float32 torch network (Q, adversary, director),
       rs's PGD and PA-AD's actor through autograd;
  new: the attack as it is -- the networks as rowwise.MLPs (every row exactly rounded, batch-invariant),
       rs's and PA-AD's input gradients in closed form.
1. One attack call on [1, envs, obs] (a batched evaluation's step) and on [25, 5, obs] (a 5x5 scan chunk of
   5 episodes), median CPU (and wall) microseconds of --reps calls.
2. env steps/s of a batched evaluation (one BatchedEvaluator.run over --envs episodes seeded 0..envs-1,
   capped at --max-steps) under each attack, old and new; wall and CPU seconds.
3. PA-AD (new) batched against the per-environment loop (one BatchedEvaluator.run per episode, one attack
   call on [1, 1, obs] per step: what a per-environment attack costs). Check: batched >= 10x the loop in CPU
   time per env step (the comparable figure on a shared machine; the wall ratio is reported beside it).
   Both give the same returns bit for bit now (PA-AD's result no longer depends on its batch), which is checked.
Writes benchmarks/results/attack_paad.json.
"""

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from landscape.attacks import cache_path, make_attack
from landscape.attacks.paad import alignment
from landscape.core import crn
from landscape.io import checkpoint
from landscape.model.flat import batched_mean
from landscape.rl.evaluator import BatchedEvaluator
from landscape.rl.pgd import pgd
from landscape.sim.envs import env_spec
from landscape.core.threads import single_thread

RESULTS = Path(__file__).parent / "results" / "attack_paad.json"
LEARNED = ("rs", "optimal", "paad")
SPEEDUP_GOAL = 10.0


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def attack(name: str, agent, eps: float, ckpt: str, director: str | None, old: bool = False):
    """The learned attack `name` with its attacker cached beside ckpt; old: as it computed before batch invariance."""
    if name == "rs":
        a = make_attack(name, agent, eps, q=str(cache_path(ckpt, "rs")))
    else:
        a = make_attack(name, agent, eps, adversary=(name == "paad" and director) or str(cache_path(ckpt, name, eps)))
    if not old:
        return a
    if name == "rs":  # float32 Q, PGD through autograd
        a.closed_form = False
        a.objective = lambda z_adv, z, thetas, ctx=None: -a.q(z, batched_mean(a.space, thetas, z_adv))
        return a
    a.net = a.adversary.actor.net  # float32 adversary / director
    if name == "paad":  # FGSM actor through autograd
        a.perturb = lambda z, thetas, d: old_fgsm(a.space, thetas, z, d, a.eps)
    return a


def old_fgsm(space, thetas, z, direction, eps):
    with torch.no_grad():
        mu = batched_mean(space, thetas, z)
    return pgd(lambda x: alignment(batched_mean(space, thetas, x) - mu, direction), z, eps, 1, eps, False)


def call_us(a, thetas, z, reps: int) -> dict:
    """Median wall and CPU microseconds of one attack call on z (keyed like the evaluator's); on a shared
    machine the CPU time is the comparable one (the wall time includes waiting for a core)."""
    a.keys = crn.Keys(np.arange(z.shape[1]), 0)
    a(z, thetas)  # warm-up
    wall, cpu = [], []
    for _ in range(reps):
        _, w, c = timed(lambda: a(z, thetas))
        wall.append(w), cpu.append(c)
    a.keys = None
    return {"wall": float(np.median(wall) * 1e6), "cpu": float(np.median(cpu) * 1e6)}


def rollout(ev, a, thetas, episodes: int, max_steps: int, seed: int = 0) -> dict:
    roll, wall, cpu = timed(lambda: ev.run(thetas, episodes, seed=seed, attack=a, max_steps=max_steps))
    return {
        "steps": roll.steps,
        "wall_s": wall,
        "cpu_s": cpu,
        "steps_per_s": roll.steps / wall,
        "steps_per_cpu_s": roll.steps / cpu,
        "mean_return": float(roll.returns.mean()),
        "returns": roll.returns[0].tolist(),
    }


def costs(agent, eps, args, ev, theta) -> dict:
    """Sections 1 and 2: per learned attack, old and new."""
    g = torch.Generator().manual_seed(0)
    shapes = {"1x64": (1, args.envs), "25x5": (25, 5)}
    out = {}
    for name in LEARNED:
        row = {}
        for version in ("old", "new"):
            a = attack(name, agent, eps, args.ckpt, args.adversary, old=version == "old")
            calls = {}
            for label, (k, e) in shapes.items():
                z = torch.randn(k, e, agent.actor.obs_dim, generator=g)
                calls[label] = call_us(a, theta.expand(k, -1).clone(), z, args.reps)
            r = rollout(ev, a, theta, args.envs, args.max_steps)
            row[version] = {"call_us": calls, **{k: v for k, v in r.items() if k != "returns"}}
            print(
                f"{name:<8}{version}: one call {calls['1x64']['cpu']:>7.0f} us CPU [1, {args.envs}], "
                f"{calls['25x5']['cpu']:>7.0f} us CPU [25, 5]; rollout {r['steps_per_s']:>6.0f} env steps/s wall, {r['steps_per_cpu_s']:>6.0f} per CPU s, "
                f"mean return {r['mean_return']:.1f}",
                flush=True,
            )
        row["call_cost_new_over_old"] = {
            s: row["new"]["call_us"][s]["cpu"] / row["old"]["call_us"][s]["cpu"] for s in shapes
        }
        row["rollout_cpu_cost_new_over_old"] = row["old"]["steps_per_cpu_s"] / row["new"]["steps_per_cpu_s"]
        out[name] = row
        print(
            f"{name:<8}new / old: one call x{row['call_cost_new_over_old']['1x64']:.2f} [1, {args.envs}], "
            f"x{row['call_cost_new_over_old']['25x5']:.2f} [25, 5]; rollout CPU per step "
            f"x{row['rollout_cpu_cost_new_over_old']:.2f}",
            flush=True,
        )
    return out


def batched_vs_loop(agent, eps, args, ev, theta) -> dict:
    """Section 3: PA-AD (new) batched over the environments against one run per environment."""
    a = attack("paad", agent, eps, args.ckpt, args.adversary)
    batched = rollout(ev, a, theta, args.envs, args.max_steps)
    loop = [rollout(ev, a, theta, 1, args.max_steps, seed=e) for e in range(args.envs)]
    steps, wall, cpu = (sum(r[k] for r in loop) for k in ("steps", "wall_s", "cpu_s"))
    loop_returns = [r["returns"][0] for r in loop]
    out = {
        "batched": {k: v for k, v in batched.items() if k != "returns"},
        "loop": {
            "steps": steps,
            "wall_s": wall,
            "cpu_s": cpu,
            "steps_per_s": steps / wall,
            "steps_per_cpu_s": steps / cpu,
            "mean_return": float(np.mean(loop_returns)),
        },
        "returns_identical": batched["returns"] == loop_returns,
    }
    out["speedup"] = out["batched"]["steps_per_s"] / out["loop"]["steps_per_s"]
    out["speedup_cpu"] = out["batched"]["steps_per_cpu_s"] / out["loop"]["steps_per_cpu_s"]
    out["meets_goal"] = out["speedup_cpu"] >= SPEEDUP_GOAL
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default="landscape/checkpoints/hopper_spo.pt")
    p.add_argument("--adversary", default=None, help="a PA-AD director (default: the one cached beside --ckpt)")
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--max-steps", type=int, default=200)
    p.add_argument("--reps", type=int, default=20, help="attack calls timed per shape (median)")
    args = p.parse_args()
    single_thread()
    agent = checkpoint.load(args.ckpt)
    eps = env_spec(agent.env_id).eps
    theta = agent.space.flatten(agent.actor)[None]
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    print(f"{agent.env_id}, eps {eps:g}, {args.envs} environments, <= {args.max_steps} steps each", flush=True)
    learned = costs(agent, eps, args, ev, theta)
    paad = batched_vs_loop(agent, eps, args, ev, theta)
    ev.close()
    for name in ("batched", "loop"):
        r = paad[name]
        print(
            f"paad {name:<8}{r['steps_per_s']:>8.0f} env steps/s ({r['steps']} steps in {r['wall_s']:.1f} s wall, "
            f"{r['cpu_s']:.1f} s CPU, mean return {r['mean_return']:.1f})"
        )
    print(
        f"speed-up {paad['speedup_cpu']:.1f}x per CPU second ({paad['speedup']:.1f}x wall); "
        f"check batched >= {SPEEDUP_GOAL:g}x the loop: {'PASS' if paad['meets_goal'] else 'FAIL'}; "
        f"returns identical: {paad['returns_identical']}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "load_avg": list(os.getloadavg()),
                "ckpt": args.ckpt,
                "adversary": args.adversary or str(cache_path(args.ckpt, "paad", eps)),
                "env": agent.env_id,
                "eps": eps,
                "envs": args.envs,
                "max_steps": args.max_steps,
                "reps": args.reps,
                "learned": learned,
                "paad": paad,
                "speedup_goal": SPEEDUP_GOAL,
            },
            indent=1,
        )
    )
    if not paad["meets_goal"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
