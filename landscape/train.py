"""python -m landscape.train --algo spo --env Hopper-v5 --steps N --seed S --out hopper_spo.pt [--resume]"""

import argparse
from pathlib import Path

import torch

from .agent import Agent
from .envs import env_dims, env_spec
from .errors import LandscapeError, check_numbers, check_writable, cli_main
from .ppo import PPOConfig
from .trainer import RunConfig, Trainer
from . import robust_trainer

ALGOS = ("spo", "arpo", "barpo", "adversary")
ROBUST = ("arpo", "barpo")  # robust_trainer.py: flags, defaults, schedules


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m landscape.train", description=__doc__)
    p.add_argument("--algo", default="spo", help=f"training algorithm: {', '.join(ALGOS)}")
    p.add_argument("--env", default="Hopper-v5", help="Gymnasium MuJoCo environment id")
    p.add_argument("--steps", type=int, default=None, help="environment steps (default: the literature budget)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="checkpoint path (.pt); a .csv log and .best.pt are written beside it")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--n-envs", type=int, default=PPOConfig.n_envs, help="parallel environments for collection")
    p.add_argument("--steps-per-iter", type=int, default=PPOConfig.steps_per_iter)
    p.add_argument("--eval-every", type=int, default=10, help="iterations between deterministic evaluations")
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--checkpoint-every", type=int, default=10, help="iterations between checkpoints")
    robust_trainer.add_arguments(p)
    p.add_argument("--victim", help="--algo adversary: checkpoint to attack (its env is used; --eps applies)")
    return p.parse_args(argv)


def train_adversary(args) -> None:
    """--algo adversary: the learned optimal adversary against --victim (attacks/adversary.py)."""
    import argparse

    from . import bundled, checkpoint
    from .attacks import check_eps
    from .attacks.adversary import DEFAULT_STEPS, adversary_ppo, train_adversary as train

    if not args.victim:
        raise LandscapeError("--algo adversary needs --victim CHECKPOINT")
    robust_trainer.reject_flags(argparse.Namespace(**{**vars(args), "eps": None}))
    args.victim = str(bundled.resolve(args.victim))  # its adversary is cached beside it
    victim = checkpoint.load(args.victim, env_id=args.env)
    eps = env_spec(victim.env_id).eps if args.eps is None else check_eps(args.eps)
    steps = args.steps if args.steps is not None else DEFAULT_STEPS
    if steps <= 0 or args.n_envs <= 0 or args.steps_per_iter <= 0:
        raise LandscapeError("--steps, --n-envs and --steps-per-iter must be positive")
    train(victim, args.out, eps, steps=steps, seed=args.seed, resume=args.resume, victim_path=args.victim,
          cfg=adversary_ppo(steps_per_iter=args.steps_per_iter, n_envs=args.n_envs), eval_every=args.eval_every,
          eval_episodes=args.eval_episodes, checkpoint_every=args.checkpoint_every)
    print(f"saved {args.out} (strongest evaluated adversary beside it)")


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    check_numbers(args)
    torch.set_num_threads(1)  # tiny networks: threads cost more than they give, and runs go side by side
    if args.algo not in ALGOS:
        raise LandscapeError(f"unknown --algo {args.algo!r}; choose from {', '.join(ALGOS)}")
    if args.checkpoint_every < 1 or args.eval_every < 0 or args.eval_episodes < 1:
        raise LandscapeError("--checkpoint-every and --eval-episodes must be at least 1, --eval-every at least 0")
    out = Path(args.out)  # checked before any iteration is spent: the checkpoint, its .csv log and .best.pt
    for path in (out, out.with_suffix(".csv"), out.with_name(out.stem + ".best.pt")):
        check_writable(path, "--out", inputs=[args.victim] if args.victim else [])
    if args.algo == "adversary":
        return train_adversary(args)
    if args.victim:
        raise LandscapeError("--victim applies to --algo adversary only")
    spec = env_spec(args.env)
    steps = args.steps if args.steps is not None else spec.train_steps
    if steps <= 0 or args.n_envs <= 0 or args.steps_per_iter <= 0:
        raise LandscapeError("--steps, --n-envs and --steps-per-iter must be positive")
    cfg = PPOConfig(steps_per_iter=args.steps_per_iter, n_envs=args.n_envs)
    run = RunConfig(steps=steps, seed=args.seed, out=args.out, checkpoint_every=args.checkpoint_every,
                    eval_every=args.eval_every, eval_episodes=args.eval_episodes)
    obs_dim, act_dim = env_dims(args.env)
    torch.manual_seed(args.seed)  # the initial networks depend on the seed only, in any process
    agent = Agent.new(args.env, obs_dim, act_dim, algo=args.algo, eps=spec.eps,
                      config={"ppo": cfg.to_dict(), "steps": steps, "seed": args.seed})
    if args.algo in ROBUST:
        robust_trainer.build(args, agent, cfg, run, spec).train()
    else:
        robust_trainer.reject_flags(args)
        Trainer(agent, cfg, run, resume=args.resume).train()
    print(f"saved {args.out} (best evaluation checkpoint beside it)")


if __name__ == "__main__":
    main()
