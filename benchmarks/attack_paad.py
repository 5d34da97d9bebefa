"""PA-AD at evaluation: the batched attack + evaluator against a per-environment loop, in one run.

    python benchmarks/attack_paad.py [--ckpt hopper_spo.pt] [--adversary DIRECTOR.pt] [--envs 64] [--max-steps 200]

Both sides roll out the same checkpoint under the same PA-AD attack (director's mean direction, then the
actor's FGSM step on the victim) on episodes seeded 0..envs-1, capped at --max-steps steps:
  batched: one BatchedEvaluator.run over all environments -- one director call and one batched actor
           gradient on [1, envs, obs] per step;
  loop:    one BatchedEvaluator.run per environment -- the same on [1, 1, obs] per step (what a
           per-environment attack implementation costs).
Without --adversary the director is a freshly initialized one (same cost as a trained one); the attack's
arithmetic does not depend on its weights. Both sides must give the same returns (the FGSM actor is
deterministic), which is checked; float rounding differs between batch sizes, so an FGSM sign can flip
where a gradient component is ~0 and a chaotic episode then drifts: the largest per-episode gap is reported. Reports env steps/s of each and the speed-up, with wall and CPU time.
Writes benchmarks/results/attack_paad.json.
"""

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from landscape.attacks import fingerprint, make_attack
from landscape.io import checkpoint
from landscape.model.agent import Agent
from landscape.rl.evaluator import BatchedEvaluator
from landscape.sim.envs import env_spec

RESULTS = Path(__file__).parent / "results" / "attack_paad.json"


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default="landscape/checkpoints/hopper_spo.pt")
    p.add_argument("--adversary", default=None, help="a trained PA-AD director (default: a fresh one)")
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--max-steps", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(1)
    agent = checkpoint.load(args.ckpt)
    eps = env_spec(agent.env_id).eps
    if args.adversary:
        director = checkpoint.load(args.adversary)
    else:
        torch.manual_seed(0)
        director = Agent.new(
            agent.env_id,
            agent.actor.obs_dim,
            agent.actor.act_dim,
            algo="paad",
            eps=eps,
            config={"victim_env": agent.env_id, "eps": eps, "victim_fingerprint": fingerprint(agent)},
        )
    theta = agent.space.flatten(agent.actor)[None]
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)

    attack = make_attack("paad", agent, eps, adversary=director)
    batched, wall_b, cpu_b = timed(lambda: ev.run(theta, args.envs, seed=0, attack=attack, max_steps=args.max_steps))
    loop, wall_l, cpu_l = [], 0.0, 0.0
    for e in range(args.envs):
        roll, w, c = timed(lambda: ev.run(theta, 1, seed=e, attack=attack, max_steps=args.max_steps))
        loop.append(roll)
        wall_l, cpu_l = wall_l + w, cpu_l + c
    ev.close()

    loop_returns = np.array([float(r.returns[0, 0]) for r in loop])
    loop_steps = sum(r.steps for r in loop)
    rows = {
        "batched": {
            "steps": batched.steps,
            "wall_s": wall_b,
            "cpu_s": cpu_b,
            "steps_per_s": batched.steps / wall_b,
            "mean_return": float(batched.returns.mean()),
        },
        "loop": {
            "steps": loop_steps,
            "wall_s": wall_l,
            "cpu_s": cpu_l,
            "steps_per_s": loop_steps / wall_l,
            "mean_return": float(loop_returns.mean()),
        },
    }
    same = bool(np.allclose(batched.returns[0], loop_returns, rtol=1e-4, atol=1e-3))
    # float rounding differs between batch sizes; where a gradient component is ~0 its sign (FGSM) can flip
    # and a chaotic Hopper episode then drifts: the per-episode gap is reported, the means must agree
    max_diff = float(np.abs(batched.returns[0] - loop_returns).max())
    speedup = rows["batched"]["steps_per_s"] / rows["loop"]["steps_per_s"]
    print(
        f"{agent.env_id}, PA-AD eps {eps:g} ({'trained' if args.adversary else 'fresh'} director), "
        f"{args.envs} environments, <= {args.max_steps} steps each"
    )
    for name, r in rows.items():
        print(
            f"{name:<8}{r['steps_per_s']:>10.0f} env steps/s  ({r['steps']} steps in {r['wall_s']:.1f} s wall, "
            f"{r['cpu_s']:.1f} s CPU, mean return {r['mean_return']:.1f})"
        )
    print(
        f"speed-up {speedup:.1f}x (wall), {cpu_l / loop_steps / (cpu_b / batched.steps):.1f}x (CPU per step); "
        f"returns identical: {same} (largest per-episode gap {max_diff:.1f})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "ckpt": args.ckpt,
                "adversary": args.adversary,
                "env": agent.env_id,
                "eps": eps,
                "envs": args.envs,
                "max_steps": args.max_steps,
                **rows,
                "speedup": speedup,
                "speedup_cpu": cpu_l / loop_steps / (cpu_b / batched.steps),
                "returns_identical": same,
                "max_return_diff": max_diff,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
