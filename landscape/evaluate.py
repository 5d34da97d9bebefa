"""python -m landscape.evaluate --ckpt PATH [--episodes N] [--seed S] [--stochastic] [--json]

Natural return of a checkpoint (ours or an SA-PPO/CAR-PPO `.model`), mean and standard error over
episodes; deterministic (mean action) by default, with the observation normalizer frozen.
"""

import argparse
import json

import numpy as np
import torch

from . import checkpoint
from .errors import LandscapeError, cli_main
from .evaluator import BatchedEvaluator


def summarize(returns: np.ndarray) -> dict:
    returns = np.asarray(returns, dtype=np.float64)
    se = returns.std(ddof=1) / np.sqrt(len(returns)) if len(returns) > 1 else float("nan")
    return {"mean": float(returns.mean()), "se": float(se), "n": int(len(returns))}


def natural_return(agent, episodes: int, seed: int, deterministic: bool = True) -> dict:
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    roll = ev.run(agent.space.flatten(agent.actor)[None], episodes, seed=seed, deterministic=deterministic)
    ev.close()
    return {**summarize(roll.returns[0]), "mean_length": float(roll.lengths.mean())}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m landscape.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True, help="checkpoint: landscape .pt or lineage .model")
    p.add_argument("--env", default=None, help="environment of a lineage .model that does not name it")
    p.add_argument("--episodes", type=int, default=50, help="episodes (published tables use 50)")
    p.add_argument("--seed", type=int, default=0, help="episode e starts from seed + e")
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of the mean action")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p.parse_args(argv)


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    if args.episodes < 1:
        raise LandscapeError("--episodes must be at least 1")
    torch.set_num_threads(1)
    agent = checkpoint.load(args.ckpt, env_id=args.env)
    result = {"ckpt": args.ckpt, "env": agent.env_id, "algo": agent.algo, "episodes": args.episodes,
              "seed": args.seed, "deterministic": not args.stochastic,
              "natural": natural_return(agent, args.episodes, args.seed, not args.stochastic)}
    if args.json:
        print(json.dumps(result))
        return
    nat = result["natural"]
    print(f"{args.ckpt}  ({agent.env_id}, {agent.algo}, {args.episodes} episodes, "
          f"{'deterministic' if not args.stochastic else 'stochastic'})")
    print(f"{'natural return':<16}{nat['mean']:>10.1f} +- {nat['se']:.1f}")


if __name__ == "__main__":
    main()
