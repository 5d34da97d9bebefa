"""python -m landscape.train --algo spo --env Hopper-v5 --steps N --seed S --out hopper_spo.pt [--resume]

From Python: `train.run(TrainSpec(algo="spo", env="Hopper-v5", steps=N, out="run.pt"))` returns the trained Agent.
"""

import argparse
import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import cli_args
from .core.errors import LandscapeError, check_writable, cli_main
from .core.specs import SpecError, at_least, check_finite
from .model.agent import Agent
from .rl.ppo import PPOConfig
from .rl.trainer import RunConfig, Trainer
from .robust import robust_trainer
from .robust.robust_trainer import RobustSpec
from .sim.envs import env_dims, env_spec
from .core.threads import single_thread

ALGOS = ("spo", "arpo", "barpo", "adversary")
ROBUST = ("arpo", "barpo")  # robust_trainer.py: options, defaults, schedules


@dataclass(frozen=True)
class TrainSpec:
    """One training run: SPO, ARPO, BARPO, or a learned optimal adversary against a fixed victim."""

    out: str  # checkpoint path (.pt); its .csv log and .best.pt go beside it
    algo: str = "spo"
    env: str = "Hopper-v5"  # --algo adversary: the victim's environment is used
    steps: int | None = None  # environment steps (None: the literature budget; adversary: 500k)
    seed: int = 0
    resume: bool = False  # continue the run saved in `out`
    n_envs: int = PPOConfig.n_envs  # parallel environments for collection
    steps_per_iter: int = PPOConfig.steps_per_iter
    eval_every: int = 10  # iterations between deterministic evaluations (0: none)
    eval_episodes: int = 5
    checkpoint_every: int = 10  # iterations between checkpoints
    init_std: float | None = None  # the policy's initial action std (None: the env's, HalfCheetah 0.5, others 1.0)
    lr_policy: float = PPOConfig.lr_policy  # Adam's initial learning rates (annealed linearly to 0)
    lr_value: float = PPOConfig.lr_value
    robust: RobustSpec = field(default_factory=RobustSpec)  # arpo / barpo options (adversary: eps only)
    victim: str | None = None  # --algo adversary: the checkpoint to attack

    def __post_init__(self):
        check_finite(self)
        if self.algo not in ALGOS:
            raise SpecError(
                "algo",
                f"must be one of {', '.join(ALGOS)}, got {self.algo!r}",
                cli=f"unknown --algo {self.algo!r}; choose from {', '.join(ALGOS)}",
            )
        at_least(self, 1, "checkpoint_every", "eval_episodes", "steps", "n_envs", "steps_per_iter")
        at_least(self, 0, "eval_every")
        for name in ("init_std", "lr_policy", "lr_value"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise SpecError(name, f"must be positive, got {value}")
        if not isinstance(self.robust, RobustSpec):
            raise SpecError("robust", f"must be a RobustSpec, got {type(self.robust).__name__}")
        if self.algo == "adversary":
            if not self.victim:
                raise SpecError(
                    "victim", "is needed by --algo adversary", cli="--algo adversary needs --victim CHECKPOINT"
                )
            self.robust.reject(self.algo, allowed=("eps",))
            if self.init_std is not None:
                raise SpecError("init_std", "applies to --algo spo / arpo / barpo only")
            if (self.lr_policy, self.lr_value) != (PPOConfig.lr_policy, PPOConfig.lr_value):
                raise SpecError("lr_policy", "--lr-policy / --lr-value apply to --algo spo / arpo / barpo only")
            if self.robust.eps is not None:
                from .attacks import check_eps

                check_eps(self.robust.eps)
            return
        if self.victim:
            raise SpecError("victim", "applies to --algo adversary only")
        env_spec(self.env)  # an unknown environment is one line, before anything is built
        if self.algo not in ROBUST:
            self.robust.reject(self.algo)

    def paths(self) -> tuple[Path, Path, Path]:
        """What the run writes: the checkpoint, its CSV log and its best evaluated iterate."""
        out = Path(self.out)
        return out, out.with_suffix(".csv"), out.with_name(out.stem + ".best.pt")


def run(spec: TrainSpec) -> Agent:
    """Train (or resume) the run of `spec`; returns the final agent (also saved to spec.out)."""
    for path in spec.paths():  # checked before any iteration is spent
        check_writable(path, "--out", inputs=[spec.victim] if spec.victim else [])
    if spec.algo == "adversary":
        return _train_adversary(spec)
    envs = env_spec(spec.env)
    steps = spec.steps if spec.steps is not None else envs.train_steps
    cfg = PPOConfig(
        steps_per_iter=spec.steps_per_iter, n_envs=spec.n_envs, lr_policy=spec.lr_policy, lr_value=spec.lr_value
    )
    run_cfg = RunConfig(
        steps=steps,
        seed=spec.seed,
        out=spec.out,
        checkpoint_every=spec.checkpoint_every,
        eval_every=spec.eval_every,
        eval_episodes=spec.eval_episodes,
    )
    obs_dim, act_dim = env_dims(spec.env)
    init_std = envs.init_std if spec.init_std is None else spec.init_std
    torch.manual_seed(spec.seed)  # the initial networks depend on the seed only, in any process
    agent = Agent.new(
        spec.env,
        obs_dim,
        act_dim,
        init_std=init_std,
        algo=spec.algo,
        eps=envs.eps,
        config={"ppo": cfg.to_dict(), "steps": steps, "seed": spec.seed, "init_std": init_std},
    )
    if spec.algo in ROBUST:
        return robust_trainer.build(spec.robust, spec.algo, agent, cfg, run_cfg, envs, resume=spec.resume).train()
    return Trainer(agent, cfg, run_cfg, resume=spec.resume).train()


def _train_adversary(spec: TrainSpec) -> Agent:
    """--algo adversary: the learned optimal adversary against spec.victim (attacks/adversary.py)."""
    from .attacks.training import DEFAULT_STEPS, adversary_ppo, train_adversary
    from .io import bundled, checkpoint

    victim_path = str(bundled.resolve(spec.victim))  # its adversary is cached beside it
    victim = checkpoint.load(victim_path, env_id=spec.env)
    eps = env_spec(victim.env_id).eps if spec.robust.eps is None else spec.robust.eps
    return train_adversary(
        victim,
        spec.out,
        eps,
        steps=spec.steps if spec.steps is not None else DEFAULT_STEPS,
        seed=spec.seed,
        resume=spec.resume,
        victim_path=victim_path,
        cfg=adversary_ppo(steps_per_iter=spec.steps_per_iter, n_envs=spec.n_envs),
        eval_every=spec.eval_every,
        eval_episodes=spec.eval_episodes,
        checkpoint_every=spec.checkpoint_every,
    )


# ----------------------------------------------------------------------------------- command line
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m landscape.train", description=__doc__)
    p.add_argument("--algo", default="spo", help=f"training algorithm: {', '.join(ALGOS)}")
    p.add_argument("--env", default="Hopper-v5", help="Gymnasium MuJoCo environment id")
    p.add_argument("--steps", type=int, default=None, help="environment steps (default: the literature budget)")
    cli_args.seed(p, help="seeds the initial networks and the run")
    cli_args.out(p, required=True, help="checkpoint path (.pt); a .csv log and .best.pt are written beside it")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--n-envs", type=int, default=PPOConfig.n_envs, help="parallel environments for collection")
    p.add_argument("--steps-per-iter", type=int, default=PPOConfig.steps_per_iter)
    p.add_argument("--eval-every", type=int, default=10, help="iterations between deterministic evaluations")
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--checkpoint-every", type=int, default=10, help="iterations between checkpoints")
    p.add_argument(
        "--init-std",
        type=float,
        help="the policy's initial action std (default: the env's, as in SA-PPO's and CAR-PPO's configs: "
        "HalfCheetah 0.5, the others 1.0)",
    )
    p.add_argument(
        "--lr-policy", type=float, default=PPOConfig.lr_policy, help="policy's initial Adam learning rate (3e-4)"
    )
    p.add_argument(
        "--lr-value", type=float, default=PPOConfig.lr_value, help="value network's initial learning rate (2.5e-4)"
    )
    robust_trainer.add_arguments(p)
    p.add_argument("--victim", help="--algo adversary: checkpoint to attack (its env is used; --eps applies)")
    return p.parse_args(argv)


def spec_of(args: argparse.Namespace) -> TrainSpec:
    with cli_args.as_flags():
        return TrainSpec(
            out=args.out,
            algo=args.algo,
            env=args.env,
            steps=args.steps,
            seed=args.seed,
            resume=args.resume,
            n_envs=args.n_envs,
            steps_per_iter=args.steps_per_iter,
            eval_every=args.eval_every,
            eval_episodes=args.eval_episodes,
            checkpoint_every=args.checkpoint_every,
            init_std=args.init_std,
            lr_policy=args.lr_policy,
            lr_value=args.lr_value,
            robust=robust_trainer.spec_of(args),
            victim=args.victim,
        )


def spec_from_flags(argv: list[str]) -> TrainSpec:
    """The TrainSpec that `python -m landscape.train ARGV` would run (a sweep config's flags); argparse's
    complaint comes back as one LandscapeError instead of an exit."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parse_args(argv)
    except SystemExit:
        lines = err.getvalue().strip().splitlines()
        raise LandscapeError(lines[-1] if lines else "invalid flags")
    return spec_of(args)


@cli_main
def main(argv=None) -> None:
    spec = spec_of(parse_args(argv))
    single_thread()  # tiny networks: threads cost more than they give, and runs go side by side
    with cli_args.as_flags():
        run(spec)
    print(
        f"saved {spec.out} ({'strongest evaluated adversary' if spec.algo == 'adversary' else 'best evaluation checkpoint'} beside it)"
    )


if __name__ == "__main__":
    main()
