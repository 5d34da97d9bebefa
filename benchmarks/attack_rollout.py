"""Adversarial rollouts: the batched attack + evaluator against the per-environment loop, in one run.

    python benchmarks/attack_rollout.py [--ckpt PATH] [--attack mad] [--envs 64] [--max-steps 200]

Both sides roll out the same checkpoint under the same attack (default `mad`: 10 PGD steps of eps/10)
on episodes seeded 0..envs-1, capped at --max-steps steps so the naive loop finishes in about a minute:
  batched: one BatchedEvaluator.run over all environments -- one attack call on [1, envs, obs] per step;
  loop:    one BatchedEvaluator.run per environment -- one attack call on [1, 1, obs] per step (what a
           per-environment attack implementation costs).
Reports env steps/s of each and the speed-up; the mean returns of both are printed as a sanity check
(they agree up to the attacks' random starts). Without --ckpt a fresh random Hopper policy is used.
Writes benchmarks/results/attack_rollout.json.
"""

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from landscape.attacks import make_attack
from landscape.io import checkpoint
from landscape.model.agent import Agent
from landscape.rl.evaluator import BatchedEvaluator
from landscape.core.threads import single_thread

RESULTS = Path(__file__).parent / "results" / "attack_rollout.json"


def timed(fn):
    t = time.perf_counter()
    roll = fn()
    return roll, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default=None)
    p.add_argument("--attack", default="mad")
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--max-steps", type=int, default=200)
    args = p.parse_args()
    single_thread()
    if args.ckpt:
        agent = checkpoint.load(args.ckpt)
    else:
        torch.manual_seed(0)
        agent = Agent.new("Hopper-v5", 11, 3)
    theta = agent.space.flatten(agent.actor)[None]
    opts = {"ckpt": args.ckpt} if args.attack in ("rs", "optimal") else {}
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)

    attack = make_attack(args.attack, agent, **opts)
    batched, t_batched = timed(lambda: ev.run(theta, args.envs, seed=0, attack=attack, max_steps=args.max_steps))
    attack = make_attack(args.attack, agent, **opts)
    loop_rolls, t_loop = [], 0.0
    for e in range(args.envs):
        roll, t = timed(lambda: ev.run(theta, 1, seed=e, attack=attack, max_steps=args.max_steps))
        loop_rolls.append(roll)
        t_loop += t
    ev.close()

    loop_steps = sum(r.steps for r in loop_rolls)
    loop_return = sum(float(r.returns.sum()) for r in loop_rolls) / args.envs
    rows = {
        "batched": {
            "steps": batched.steps,
            "seconds": t_batched,
            "steps_per_s": batched.steps / t_batched,
            "mean_return": float(batched.returns.mean()),
        },
        "loop": {
            "steps": loop_steps,
            "seconds": t_loop,
            "steps_per_s": loop_steps / t_loop,
            "mean_return": loop_return,
        },
    }
    speedup = rows["batched"]["steps_per_s"] / rows["loop"]["steps_per_s"]
    print(f"{agent.env_id}, attack {attack!r}, {args.envs} environments, <= {args.max_steps} steps each")
    for name, r in rows.items():
        print(
            f"{name:<8}{r['steps_per_s']:>10.0f} env steps/s  ({r['steps']} steps in {r['seconds']:.1f} s, "
            f"mean return {r['mean_return']:.1f})"
        )
    print(f"speed-up {speedup:.1f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "ckpt": args.ckpt,
                "env": agent.env_id,
                "attack": repr(attack),
                "envs": args.envs,
                "max_steps": args.max_steps,
                **rows,
                "speedup": speedup,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
