"""The learned optimal adversary (SA-RL / ATLA): trained with the PPO core on the adversary MDP, and the
`optimal` attack that replays it.

Training reuses Trainer and Collector unchanged: the adversary is an ordinary Agent (actor on the raw
observation, its own normalizer and critic) whose environment is AdversaryEnv around the frozen victim.
It is saved as an ordinary checkpoint with algo "adversary"; config records the victim's env id, eps,
file sha256 and policy fingerprint, and the `optimal` attack refuses an adversary made for another
environment, eps or policy.

Default budget: 500k adversary steps (about 245 PPO iterations of 2048) with learning rates 1e-3. The
literature trains about 2M; on our SPO Hopper checkpoints (natural return ~3300) the adversary had
brought the victim's return to about 600 after 200-300k steps, far below every gradient attack, and
stayed there (or went lower) until 500k. 500k steps take 7 minutes on this 2-core machine when it is
quiet (1600 steps/s), 20 minutes when shared with other training runs.
Raise it with --adversary-steps (evaluate) / --steps (train).

The attack reads the adversary's raw observation back from z (s = z * std + mean with the victim's
statistics), exact except for components clipped at +-10 std. It acts with the adversary's mean
action and ignores thetas: it was trained against the checkpoint's own policy.
"""

from pathlib import Path

import numpy as np
import torch

from .. import checkpoint
from ..agent import Agent
from ..errors import LandscapeError
from ..evaluator import BatchedEvaluator
from ..ppo import PPOConfig
from ..trainer import EVAL_SEED, RunConfig, Trainer
from .adversary_env import AdversaryEnv
from .base import Attack, cache_path, fingerprint, register

DEFAULT_STEPS = 500_000


def adversary_ppo(**overrides) -> PPOConfig:
    """The PPO settings of the adversary: SA-PPO's, with learning rates 1e-3 (a quick sweep on our SPO
    Hopper: after 150k steps the adversary's return was -1618 with 1e-3, -1797 with the agent's 3e-4)."""
    return PPOConfig(**{"lr_policy": 1e-3, "lr_value": 1e-3, **overrides})


class AdversaryTrainer(Trainer):
    """Trainer whose evaluation is the victim's return under the current adversary, negated: the
    adversary's own return, so "best" keeps the strongest adversary."""

    def __init__(self, adversary: Agent, victim: Agent, *args, **kwargs):
        self.victim = victim
        super().__init__(adversary, *args, env_fn=lambda: AdversaryEnv(victim, adversary.eps), **kwargs)

    def evaluate(self) -> float:
        return -victim_return(self.victim, self.agent, self.run.eval_episodes, EVAL_SEED)


def victim_return(victim: Agent, adversary: Agent, episodes: int, seed: int) -> float:
    ev = BatchedEvaluator(victim.env_id, victim.space, victim.obs_norm)
    attack = OptimalAttack(victim, adversary.eps, adversary=adversary)
    ret = ev.run(victim.space.flatten(victim.actor)[None], episodes, seed=seed, attack=attack).returns.mean()
    ev.close()
    return float(ret)


def train_adversary(victim: Agent, out: str | Path, eps: float, steps: int = DEFAULT_STEPS, seed: int = 0,
                    resume: bool = False, victim_path: str | Path | None = None, cfg: PPOConfig | None = None,
                    eval_every: int = 10, eval_episodes: int = 5, checkpoint_every: int = 10) -> Agent:
    """Train (or resume) an optimal adversary against `victim`, saved to `out` as an ordinary checkpoint."""
    if steps <= 0:
        raise LandscapeError("adversary training steps must be positive")
    cfg = cfg or adversary_ppo()
    obs_dim = victim.actor.obs_dim
    config = {"ppo": cfg.to_dict(), "steps": steps, "seed": seed, "victim_env": victim.env_id, "eps": eps,
              "victim": str(victim_path) if victim_path else None,
              "victim_sha256": checkpoint.file_hash(victim_path) if victim_path else None,
              "victim_fingerprint": fingerprint(victim)}
    adversary = Agent.new(victim.env_id, obs_dim, obs_dim, hidden=victim.actor.hidden, algo="adversary", eps=eps,
                          config=config)
    out = Path(out)
    if resume:
        check_adversary(checkpoint.load(out), victim, eps, out)
    elif not out.exists():
        out.with_suffix(".csv").unlink(missing_ok=True)  # log of an attempt that never reached a checkpoint
    run = RunConfig(steps=steps, seed=seed, out=str(out), checkpoint_every=checkpoint_every, eval_every=eval_every,
                    eval_episodes=eval_episodes)
    return AdversaryTrainer(adversary, victim, cfg, run, resume=resume).train()


def is_finished(path: str | Path, steps: int) -> bool:
    """Whether the adversary saved at `path` has trained for `steps` (else resume it)."""
    raw = checkpoint.load_raw(path)
    spi = int(raw.get("config", {}).get("ppo", {}).get("steps_per_iter", PPOConfig.steps_per_iter))
    state = raw.get("train_state")
    return state is None or int(state["iteration"]) >= max(steps // spi, 1)


def check_adversary(adversary: Agent, victim: Agent, eps: float, where="adversary") -> None:
    """One-line errors for an adversary made for another environment, eps or policy."""
    cfg = adversary.config
    if adversary.algo != "adversary":
        raise LandscapeError(f"{where}: not an adversary checkpoint (algo {adversary.algo!r})")
    if adversary.env_id != victim.env_id or cfg.get("victim_env", adversary.env_id) != victim.env_id:
        raise LandscapeError(f"{where}: adversary was trained on {adversary.env_id}, the checkpoint is {victim.env_id}")
    if adversary.actor.obs_dim != victim.actor.obs_dim or adversary.actor.act_dim != victim.actor.obs_dim:
        raise LandscapeError(f"{where}: adversary dimensions do not match the checkpoint's observation")
    if cfg.get("victim_fingerprint") != fingerprint(victim):
        raise LandscapeError(f"{where}: adversary was trained against another policy than this checkpoint")
    if not np.isclose(adversary.eps, eps, rtol=0, atol=1e-9):
        raise LandscapeError(f"{where}: adversary was trained for eps {adversary.eps:g}, not {eps:g}")


@register
class OptimalAttack(Attack):
    """Replays a learned adversary: z' = z + eps * clip(mean action, -1, 1).

    adversary: an Agent or a checkpoint path; or ckpt: the victim's path, to load the cache beside it
    (`<stem>.optimal-eps<eps>.pt`) or train it on demand (steps=DEFAULT_STEPS, resumable).
    """

    name = "optimal"

    def __init__(self, agent, eps, adversary=None, ckpt=None, steps: int = DEFAULT_STEPS, seed: int = 0):
        super().__init__(agent, eps, seed)
        if adversary is None and ckpt is None:
            raise LandscapeError("the optimal attack needs a trained adversary: pass --adversary PATH or a checkpoint")
        where = adversary
        if adversary is None:
            where = cache_path(ckpt, "optimal", self.eps)
            if not (where.exists() and is_finished(where, steps)):
                train_adversary(agent, where, self.eps, steps=steps, seed=seed, resume=where.exists(),
                                victim_path=ckpt)
        if not isinstance(adversary, Agent):
            adversary = checkpoint.load(where)
        check_adversary(adversary, agent, self.eps, where if isinstance(where, (str, Path)) else "adversary")
        self.adversary = adversary
        norm = agent.obs_norm
        self._std = torch.as_tensor(np.sqrt(norm.var) + 1e-8, dtype=torch.float64)
        self._mean = torch.as_tensor(norm.mean if norm.center else np.zeros_like(norm.mean), dtype=torch.float64)

    @torch.no_grad()
    def __call__(self, z, thetas):
        raw = (z.double() * self._std + self._mean).numpy()  # the adversary observes the raw state
        action = self.adversary.actor(self.adversary.normalize(raw))
        return z + self.eps * action.clamp(-1.0, 1.0)
