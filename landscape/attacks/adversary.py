"""Learned attackers trained with the PPO core on an adversary MDP, and the attacks that replay them:

- `optimal`: the learned optimal adversary (SA-RL / ATLA): its action is the observation perturbation.
- `paad` (paad.py): PA-AD's director, whose action is a direction in the victim's action space that
  an actor turns into an observation perturbation.

Both are `LearnedAttack`s: a subclass names its adversary MDP (`make_env`), the size of its action
(`action_dim`) and how an action becomes z' (`perturb`); training, caching, refusal and replay are
shared here, and the set of runs (several settings and seeds, selection by held-out evaluation) in
learned.py.

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

The attack reads the adversary's raw observation back from z (s = z * std + mean with the victim's
statistics), exact except for components clipped at +-10 std. It acts with the adversary's mean
action clipped to [-1, 1] (as the MDP clips it).
"""

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from .. import checkpoint
from ..agent import Agent
from ..errors import LandscapeError
from ..evaluator import BatchedEvaluator
from ..ppo import PPOConfig
from ..trainer import EVAL_SEED, RunConfig, Trainer
from .adversary_env import AdversaryEnv
from .base import ATTACKS, Attack, fingerprint, register

DEFAULT_STEPS = 500_000


def adversary_ppo(**overrides) -> PPOConfig:
    """The PPO settings of the adversary: SA-PPO's, with learning rates 1e-3 (a quick sweep on our SPO
    Hopper: after 150k steps the adversary's return was -1618 with 1e-3, -1797 with the agent's 3e-4)."""
    return PPOConfig(**{"lr_policy": 1e-3, "lr_value": 1e-3, **overrides})


def learned_kind(kind: str) -> type:
    cls = ATTACKS.get(kind)
    if cls is None or not issubclass(cls, LearnedAttack):
        learned = [n for n, c in ATTACKS.items() if issubclass(c, LearnedAttack)]
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


def train_adversary(victim: Agent, out: str | Path, eps: float, steps: int = DEFAULT_STEPS, seed: int = 0,
                    resume: bool = False, victim_path: str | Path | None = None, cfg: PPOConfig | None = None,
                    eval_every: int = 10, eval_episodes: int = 5, checkpoint_every: int = 10,
                    kind: str = "optimal", **kind_opts) -> Agent:
    """Train (or resume) a learned attacker of `kind` against `victim`, saved to `out` as an ordinary
    checkpoint (its strongest evaluated iterate beside it as `<out stem>.best.pt`).

    kind_opts: settings of the attack itself, recorded in config (PA-AD: its actor's PGD steps)."""
    if steps <= 0:
        raise LandscapeError("adversary training steps must be positive")
    cls = learned_kind(kind)
    cfg = cfg or adversary_ppo()
    config = {"ppo": cfg.to_dict(), "steps": steps, "seed": seed, "victim_env": victim.env_id, "eps": eps,
              "victim": str(victim_path) if victim_path else None,
              "victim_sha256": checkpoint.file_hash(victim_path) if victim_path else None,
              "victim_fingerprint": fingerprint(victim), **cls.settings(**kind_opts)}
    torch.manual_seed(seed)  # the initial networks depend on the seed only
    adversary = Agent.new(victim.env_id, victim.actor.obs_dim, cls.action_dim(victim), hidden=victim.actor.hidden,
                          algo=cls.algo, eps=eps, config=config)
    out = Path(out)
    if resume:
        check_adversary(checkpoint.load(out), victim, eps, out, kind)
    elif not out.exists():
        out.with_suffix(".csv").unlink(missing_ok=True)  # log of an attempt that never reached a checkpoint
    run = RunConfig(steps=steps, seed=seed, out=str(out), checkpoint_every=checkpoint_every, eval_every=eval_every,
                    eval_episodes=eval_episodes)
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


class LearnedAttack(Attack):
    """Replays a learned attacker: z' = perturb(z, thetas, clip(mean action, -1, 1)).

    adversary: an Agent or a checkpoint path; or ckpt: the victim's path, to load the cache beside it
    (`<stem>.<name>-eps<eps>.pt`, the selected run of a set, learned.py) or, when there is none, train
    the default set on demand (one run of DEFAULT_STEPS; resumable).
    """

    algo = "adversary"  # the algo tag of its checkpoints

    def __init__(self, agent, eps, adversary=None, ckpt=None, steps: int = DEFAULT_STEPS, seed: int = 0,
                 progress: bool = True):
        super().__init__(agent, eps, seed)
        if adversary is None and ckpt is None:
            raise LandscapeError(f"the {self.name} attack needs a trained adversary: pass --adversary PATH "
                                 "or a checkpoint")
        where = adversary
        if adversary is None:
            from .learned import ensure_cache

            where = ensure_cache(agent, ckpt, self.name, self.eps, steps=steps, seed=seed, progress=progress)
        if not isinstance(adversary, Agent):
            adversary = checkpoint.load_adversary(where, agent.env_id)  # ours, or an ATLA / PA-AD lineage file
        check_adversary(adversary, agent, self.eps, where if isinstance(where, (str, Path)) else "adversary",
                        self.name)
        self.adversary, self.path = adversary, (str(where) if isinstance(where, (str, Path)) else None)
        norm = agent.obs_norm
        self._std = torch.as_tensor(np.sqrt(norm.var) + 1e-8, dtype=torch.float64)
        self._mean = torch.as_tensor(norm.mean if norm.center else np.zeros_like(norm.mean), dtype=torch.float64)

    # what a subclass defines
    @classmethod
    def action_dim(cls, victim: Agent) -> int:
        raise NotImplementedError

    @classmethod
    def make_env(cls, victim: Agent, eps: float, config: dict) -> gym.Env:
        raise NotImplementedError

    @classmethod
    def settings(cls, **opts) -> dict:
        """Settings of the attack itself, recorded in the adversary's config (none by default)."""
        if opts:
            raise LandscapeError(f"{cls.name}: unknown settings {', '.join(opts)}")
        return {}

    def perturb(self, z: torch.Tensor, thetas: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def act(self, z: torch.Tensor) -> torch.Tensor:
        """The adversary's mean action at the victim's normalized observations z, clipped to [-1, 1]."""
        raw = (z.double() * self._std + self._mean).numpy()  # the adversary observes the raw state
        return self.adversary.actor(self.adversary.normalize(raw)).clamp(-1.0, 1.0)

    def __call__(self, z, thetas):
        return self.perturb(z, thetas, self.act(z))


@register
class OptimalAttack(LearnedAttack):
    """The learned optimal adversary (SA-RL): z' = z + eps * clip(mean action, -1, 1). It ignores thetas:
    it was trained against the checkpoint's own policy."""

    name, algo = "optimal", "adversary"

    @classmethod
    def action_dim(cls, victim):
        return victim.actor.obs_dim

    @classmethod
    def make_env(cls, victim, eps, config):
        return AdversaryEnv(victim, eps)

    def perturb(self, z, thetas, action):
        return z + self.eps * action


ATTACK_OF_ALGO = {"adversary": "optimal", "paad": "paad"}  # checkpoint algo tag -> learned attack
