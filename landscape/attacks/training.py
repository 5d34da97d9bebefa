"""Training one learned attacker (adversary.py: `optimal`; paad.py: `paad`) with the PPO core on its
adversary MDP, and the checks of a saved one.

Training reuses Trainer and Collector unchanged: the adversary is an ordinary Agent (actor on the raw
observation, its own normalizer and critic) whose environment is the adversary MDP around the frozen
victim. It is saved as an ordinary checkpoint whose algo is the attack's (`adversary` for optimal,
`paad` for PA-AD); config records the victim's env id, eps, file sha256 and policy fingerprint (and
the PA-AD actor's settings), and the attack refuses an adversary made for another environment, eps
or policy.

Default budget: 500k adversary steps (about 245 PPO iterations of 2048) with learning rates 1e-3. The
literature trains about 2M; on our SPO Hopper checkpoints (natural return ~3300) the adversary had
brought the victim's return to about 600 after 200-300k steps, far below every gradient attack, and
stayed there (or went lower) until 500k. 500k steps take 7 minutes on this 2-core machine when it is
quiet (1600 steps/s), 20 minutes when shared with other training runs.
Raise it with --adversary-steps (evaluate) / --steps (train), or train a set (learned.py).

The attack classes are found through the registry (base.ATTACKS, their `learned` flag), so this module
sits below adversary.py and learned.py: a LearnedAttack trains its default set on demand (learned.py),
and the sets are trained here.
"""

from pathlib import Path

import numpy as np
import torch

from ..core.errors import LandscapeError
from ..io import checkpoint
from ..model.agent import Agent
from ..rl.evaluator import BatchedEvaluator
from ..rl.ppo import PPOConfig
from ..rl.trainer import EVAL_SEED, RunConfig, Trainer
from .base import ATTACKS, fingerprint

DEFAULT_STEPS = 500_000

ATTACK_OF_ALGO = {"adversary": "optimal", "paad": "paad"}  # checkpoint algo tag -> learned attack


def adversary_ppo(**overrides) -> PPOConfig:
    """The PPO settings of the adversary: SA-PPO's, with learning rates 1e-3 (a quick sweep on our SPO
    Hopper: after 150k steps the adversary's return was -1618 with 1e-3, -1797 with the agent's 3e-4)."""
    return PPOConfig(**{"lr_policy": 1e-3, "lr_value": 1e-3, **overrides})


def learned_kind(kind: str) -> type:
    cls = ATTACKS.get(kind)
    if cls is None or not getattr(cls, "learned", False):
        learned = [n for n, c in ATTACKS.items() if getattr(c, "learned", False)]
        raise LandscapeError(f"{kind!r} is not a learned attack; choose from {', '.join(learned)}")
    return cls


class AdversaryTrainer(Trainer):
    """Trainer whose evaluation is the victim's return under the current adversary, negated: the
    adversary's own return, so "best" keeps the strongest adversary."""

    def __init__(self, adversary: Agent, victim: Agent, *args, kind: str = "optimal", **kwargs):
        self.victim, self.kind = victim, learned_kind(kind)
        env_fn = lambda: self.kind.make_env(victim, adversary.eps, adversary.config)  # noqa: E731
        super().__init__(adversary, *args, env_fn=env_fn, **kwargs)

    def evaluate(self) -> float:
        return -victim_return(self.victim, self.agent, self.run.eval_episodes, EVAL_SEED)


def victim_return(victim: Agent, adversary: Agent, episodes: int, seed: int, per_episode: bool = False):
    """The victim's mean return (or its returns per episode) under `adversary`, deterministic, batched."""
    kind = learned_kind(ATTACK_OF_ALGO.get(adversary.algo, "optimal"))
    ev = BatchedEvaluator(victim.env_id, victim.space, victim.obs_norm)
    attack = kind(victim, adversary.eps, adversary=adversary)
    returns = ev.run(victim.space.flatten(victim.actor)[None], episodes, seed=seed, attack=attack).returns[0]
    ev.close()
    return returns if per_episode else float(returns.mean())


def train_adversary(
    victim: Agent,
    out: str | Path,
    eps: float,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    resume: bool = False,
    victim_path: str | Path | None = None,
    cfg: PPOConfig | None = None,
    eval_every: int = 10,
    eval_episodes: int = 5,
    checkpoint_every: int = 10,
    kind: str = "optimal",
    **kind_opts,
) -> Agent:
    """Train (or resume) a learned attacker of `kind` against `victim`, saved to `out` as an ordinary
    checkpoint (its strongest evaluated iterate beside it as `<out stem>.best.pt`).

    kind_opts: settings of the attack itself, recorded in config (PA-AD: its actor's PGD steps)."""
    if steps <= 0:
        raise LandscapeError("adversary training steps must be positive")
    cls = learned_kind(kind)
    cfg = cfg or adversary_ppo()
    config = {
        "ppo": cfg.to_dict(),
        "steps": steps,
        "seed": seed,
        "victim_env": victim.env_id,
        "eps": eps,
        "victim": str(victim_path) if victim_path else None,
        "victim_sha256": checkpoint.file_hash(victim_path) if victim_path else None,
        "victim_fingerprint": fingerprint(victim),
        **cls.settings(**kind_opts),
    }
    torch.manual_seed(seed)  # the initial networks depend on the seed only
    adversary = Agent.new(
        victim.env_id,
        victim.actor.obs_dim,
        cls.action_dim(victim),
        hidden=victim.actor.hidden,
        algo=cls.algo,
        eps=eps,
        config=config,
    )
    out = Path(out)
    if resume:
        check_adversary(checkpoint.load(out), victim, eps, out, kind)
    elif not out.exists():
        out.with_suffix(".csv").unlink(missing_ok=True)  # log of an attempt that never reached a checkpoint
    run = RunConfig(
        steps=steps,
        seed=seed,
        out=str(out),
        checkpoint_every=checkpoint_every,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
    )
    return AdversaryTrainer(adversary, victim, cfg, run, resume=resume, kind=kind).train()


def is_finished(path: str | Path, steps: int | None = None) -> bool:
    """Whether the adversary saved at `path` has trained for `steps` (default: its own budget)."""
    raw = checkpoint.load_raw(path)
    cfg = raw.get("config", {})
    spi = int(cfg.get("ppo", {}).get("steps_per_iter", PPOConfig.steps_per_iter))
    steps = int(cfg.get("steps", DEFAULT_STEPS)) if steps is None else steps
    state = raw.get("train_state")
    return state is None or int(state["iteration"]) >= max(steps // spi, 1)


def check_adversary(adversary: Agent, victim: Agent, eps: float, where="adversary", kind: str = "optimal") -> None:
    """One-line errors for an adversary made for another attack, environment, eps or policy."""
    cls = learned_kind(kind)
    cfg = adversary.config
    if adversary.algo != cls.algo:
        raise LandscapeError(f"{where}: not a {kind} attacker (algo {adversary.algo!r}, expected {cls.algo!r})")
    if adversary.env_id != victim.env_id or cfg.get("victim_env", adversary.env_id) != victim.env_id:
        raise LandscapeError(f"{where}: adversary was trained on {adversary.env_id}, the checkpoint is {victim.env_id}")
    if adversary.actor.obs_dim != victim.actor.obs_dim or adversary.actor.act_dim != cls.action_dim(victim):
        raise LandscapeError(f"{where}: adversary dimensions do not match the checkpoint's")
    if cfg.get("victim_fingerprint") != fingerprint(victim):
        raise LandscapeError(f"{where}: adversary was trained against another policy than this checkpoint")
    if not np.isclose(adversary.eps, eps, rtol=0, atol=1e-9):
        raise LandscapeError(f"{where}: adversary was trained for eps {adversary.eps:g}, not {eps:g}")
