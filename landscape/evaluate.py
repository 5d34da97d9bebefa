"""python -m landscape.evaluate --ckpt PATH [--attack mad,critic,rs,optimal] [--eps E] [--episodes N] [--json]

Natural return of a checkpoint (ours or an SA-PPO/CAR-PPO `.model`), and its return under each attack
with the worst case (the minimum of the attack means), each as mean +- standard error over episodes;
deterministic (mean action) by default, with the observation normalizer frozen. Every attack sees the
same episode seeds (common random numbers). --attack all = random,mad,critic,surrogate,rs,optimal.

Learned attackers are trained on demand with a progress bar, cached beside the checkpoint
(`<stem>.rs.pt`, `<stem>.optimal-eps<E>.pt`) and resumed if interrupted; or pass them with --adversary.
"""

import argparse
import json

import numpy as np
import torch

from . import bundled, checkpoint
from . import torchfile
from .errors import LandscapeError, cli_main
from .evaluator import BatchedEvaluator
from .probes import mean_se

SUITE = ("random", "mad", "critic", "surrogate", "rs", "optimal")


def summarize(returns: np.ndarray) -> dict:
    returns = np.asarray(returns, dtype=np.float64)
    mean, se = mean_se(returns)
    return {"mean": float(mean), "se": float(se), "n": int(len(returns))}


def natural_return(agent, episodes: int, seed: int, deterministic: bool = True, attack=None) -> dict:
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    roll = ev.run(agent.space.flatten(agent.actor)[None], episodes, seed=seed, deterministic=deterministic,
                  attack=attack)
    ev.close()
    return {**summarize(roll.returns[0]), "mean_length": float(roll.lengths.mean())}


def parse_attacks(spec: str | None) -> list[str]:
    from .attacks import ATTACKS

    if not spec:
        return []
    names = list(SUITE) if spec.strip() == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    for n in names:
        if n not in ATTACKS:
            raise LandscapeError(f"unknown attack {n!r}; choose from {', '.join(ATTACKS)} (or all)")
    return list(dict.fromkeys(names))


def attack_options(name: str, args) -> dict:
    """Options for make_attack from the CLI: PGD settings, and where learned attackers come from."""
    from .attacks.sarsa import is_sarsa_file

    if name in ("mad", "critic", "surrogate", "rs"):
        opts = {"steps": args.pgd_steps, "restarts": args.restarts}
    else:
        opts = {}
    if name in ("rs", "optimal"):
        given = [p for p in args.adversary if (name == "rs") == is_sarsa_file(p)]
        opts["q" if name == "rs" else "adversary"] = given[-1] if given else None
        opts["ckpt"] = args.ckpt
    if name == "optimal" and args.adversary_steps is not None:
        opts["steps"] = args.adversary_steps
    return opts


def attacked_returns(agent, names: list[str], args) -> dict:
    """Return under each attack (in order), each mean +- se; learned attackers are built (trained) first."""
    from tqdm import tqdm

    from .attacks import make_attack

    attacks = {n: make_attack(n, agent, args.eps, **attack_options(n, args)) for n in names}  # learned: train now
    out = {}
    for name, attack in tqdm(attacks.items(), desc="attacks", unit="attack", disable=args.json or len(names) < 2):
        out[name] = natural_return(agent, args.episodes, args.seed, not args.stochastic, attack)
    return out


def worst_case(attacked: dict) -> dict:
    name = min(attacked, key=lambda n: attacked[n]["mean"])
    return {"attack": name, **attacked[name]}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m landscape.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True, help="checkpoint: landscape .pt or lineage .model")
    p.add_argument("--env", default=None, help="environment of a lineage .model that does not name it")
    p.add_argument("--episodes", type=int, default=50, help="episodes (published tables use 50)")
    p.add_argument("--seed", type=int, default=0, help="episode e starts from seed + e")
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of the mean action")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--attack", default=None,
                   help="comma-separated attacks (random, mad, critic, surrogate, rs, optimal) or 'all'")
    p.add_argument("--eps", type=float, default=None, help="l_inf budget in normalized observations "
                   "(default: the environment's standard, e.g. Hopper 0.075)")
    p.add_argument("--adversary", action="append", default=[],
                   help="a trained optimal adversary (.pt) or robust-Sarsa Q file; repeatable")
    p.add_argument("--pgd-steps", type=int, default=10, help="PGD sign steps of eps/10 (10, as SA-PPO)")
    p.add_argument("--restarts", type=int, default=1, help="PGD random restarts; the best per sample is kept")
    p.add_argument("--adversary-steps", type=int, default=None,
                   help="training budget of an on-demand optimal adversary (default 500k steps)")
    return p.parse_args(argv)


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    if args.episodes < 1:
        raise LandscapeError("--episodes must be at least 1")
    names = parse_attacks(args.attack)
    if names:
        from .attacks import check_eps

        if args.eps is not None:
            args.eps = check_eps(args.eps)
    elif args.eps is not None or args.adversary:
        raise LandscapeError("--eps and --adversary need --attack")
    for path in args.adversary:
        torchfile.check(path)  # before attacks/ hands it to torch.load: no TorchScript gets that far
        from .attacks.sarsa import is_sarsa_file

        if ("rs" if is_sarsa_file(path) else "optimal") not in names:
            raise LandscapeError(f"--adversary {path} is not used: it serves --attack "
                                 f"{'rs' if is_sarsa_file(path) else 'optimal'}")
    torch.set_num_threads(1)
    args.ckpt = str(bundled.resolve(args.ckpt))  # bundled by name: its cached attackers are beside it
    agent = checkpoint.load(args.ckpt, env_id=args.env)
    if agent.algo == "adversary":
        raise LandscapeError(f"{args.ckpt} is an adversary; evaluate its victim with --attack optimal --adversary")
    if names and args.eps is None:
        from .envs import env_spec

        args.eps = env_spec(agent.env_id).eps
    result = {"ckpt": args.ckpt, "env": agent.env_id, "algo": agent.algo, "episodes": args.episodes,
              "seed": args.seed, "deterministic": not args.stochastic,
              "natural": natural_return(agent, args.episodes, args.seed, not args.stochastic)}
    if names:
        result["eps"] = args.eps
        result["attacks"] = attacked_returns(agent, names, args)
        result["worst"] = worst_case(result["attacks"])
    if args.json:
        print(json.dumps(result))
        return
    nat = result["natural"]
    print(f"{args.ckpt}  ({agent.env_id}, {agent.algo}, {args.episodes} episodes, "
          f"{'deterministic' if not args.stochastic else 'stochastic'}"
          + (f", eps {args.eps:g})" if names else ")"))
    print(f"{'natural return':<16}{nat['mean']:>10.1f} +- {nat['se']:.1f}")
    for name, r in result.get("attacks", {}).items():
        print(f"{name:<16}{r['mean']:>10.1f} +- {r['se']:.1f}")
    if names:
        w = result["worst"]
        print(f"{'worst case':<16}{w['mean']:>10.1f} +- {w['se']:.1f}  ({w['attack']})")


if __name__ == "__main__":
    main()
