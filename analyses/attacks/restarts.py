"""Do PGD random restarts make the gradient attacks stronger? (issue 14, item 3)

    python analyses/attacks/restarts.py [--ckpt hopper_spo.pt] [--episodes 10] [--restarts 1,4]

For each PGD attack (mad, critic, surrogate, rs), the victim's return over the same episode seeds
(common random numbers) with each number of restarts; the paired difference to one restart with its
standard error over episodes. Writes analyses/attacks/restarts.json (with wall and CPU time per row).
"""

import argparse
import json
import time
from pathlib import Path

import torch

from landscape.attacks import make_attack
from landscape.core.numerics import mean_se
from landscape.io import checkpoint
from landscape.rl.evaluator import BatchedEvaluator

OUT = Path(__file__).parent / "restarts.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default="landscape/checkpoints/hopper_spo.pt")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--restarts", default="1,4")
    p.add_argument("--attacks", default="mad,critic,surrogate,rs")
    args = p.parse_args()
    torch.set_num_threads(1)
    agent = checkpoint.load(args.ckpt)
    theta = agent.space.flatten(agent.actor)[None]
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    restarts = [int(r) for r in args.restarts.split(",")]
    rows = {}
    for name in args.attacks.split(","):
        opts = {"ckpt": args.ckpt} if name == "rs" else {}
        per = {}
        for r in restarts:
            wall, cpu = time.perf_counter(), time.process_time()
            attack = make_attack(name, agent, restarts=r, **opts)
            ret = ev.run(theta, args.episodes, seed=0, attack=attack).returns[0]
            per[r] = ret
            m, se = mean_se(ret)
            d, dse = mean_se(ret - per[restarts[0]])
            rows.setdefault(name, {})[str(r)] = {
                "mean": float(m),
                "se": float(se),
                "diff_vs_first": float(d),
                "diff_se": float(dse),
                "wall_s": time.perf_counter() - wall,
                "cpu_s": time.process_time() - cpu,
            }
            print(
                f"{name:<10} restarts {r}: {m:8.1f} +- {se:5.1f}   vs {restarts[0]}: {d:+8.1f} +- {dse:5.1f}"
                f"   ({time.perf_counter() - wall:.0f} s)",
                flush=True,
            )
    ev.close()
    OUT.write_text(
        json.dumps(
            {
                "ckpt": args.ckpt,
                "episodes": args.episodes,
                "seed": 0,
                "eps": attack.eps,
                "restarts": restarts,
                "attacks": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
