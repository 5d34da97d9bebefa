"""Learned attackers, trained with the PPO core on an adversary MDP (training.py), and the attacks that
replay them:

- `optimal`: the learned optimal adversary (SA-RL / ATLA): its action is the observation perturbation.
- `paad` (paad.py): PA-AD's director, whose action is a direction in the victim's action space that
  an actor turns into an observation perturbation.

Both are `LearnedAttack`s: a subclass names its adversary MDP (`make_env`), the size of its action
(`action_dim`) and how an action becomes z' (`perturb`); caching, refusal and replay are shared here,
training one run in training.py, and the set of runs (several settings and seeds, selection by
held-out evaluation) in learned.py.

The attack reads the adversary's raw observation back from z (s = z * std + mean with the victim's
statistics), exact except for components clipped at +-10 std. It acts with the adversary's mean
action clipped to [-1, 1] (as the MDP clips it), computed by the batch-invariant forward (rowwise.py): a
point's attacked return does not depend on what else is in its batch (tests/test_batch_invariance.py).
"""

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from ..core.errors import LandscapeError
from ..core.rowwise import mlp_of
from ..io import checkpoint
from ..model.agent import Agent
from .adversary_env import AdversaryEnv
from .base import Attack, register
from .training import DEFAULT_STEPS, check_adversary


class LearnedAttack(Attack):
    """Replays a learned attacker: z' = perturb(z, thetas, clip(mean action, -1, 1)).

    adversary: an Agent or a checkpoint path; or ckpt: the victim's path, to load the cache beside it
    (`<stem>.<name>-eps<eps>.pt`, the selected run of a set, learned.py) or, when there is none, train
    the default set on demand (one run of DEFAULT_STEPS; resumable).
    """

    algo = "adversary"  # the algo tag of its checkpoints
    learned = True  # what training.learned_kind looks for in the registry

    def __init__(
        self, agent, eps, adversary=None, ckpt=None, steps: int = DEFAULT_STEPS, seed: int = 0, progress: bool = True
    ):
        super().__init__(agent, eps, seed)
        if adversary is None and ckpt is None:
            raise LandscapeError(
                f"the {self.name} attack needs a trained adversary: pass --adversary PATH or a checkpoint"
            )
        where = adversary
        if adversary is None:
            from .learned import ensure_cache

            where = ensure_cache(agent, ckpt, self.name, self.eps, steps=steps, seed=seed, progress=progress)
        if not isinstance(adversary, Agent):
            adversary = checkpoint.load_adversary(where, agent.env_id)  # ours, or an ATLA / PA-AD lineage file
        check_adversary(adversary, agent, self.eps, where if isinstance(where, (str, Path)) else "adversary", self.name)
        self.adversary, self.path = adversary, (str(where) if isinstance(where, (str, Path)) else None)
        self.net = mlp_of(adversary.actor.net)
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
    def mean_action(self, z: torch.Tensor) -> torch.Tensor:
        """The adversary's mean action at the victim's normalized observations z; each row's own, whatever
        else is in the batch (its network runs as a rowwise.MLP)."""
        raw = (z.double() * self._std + self._mean).numpy()  # the adversary observes the raw state
        return self.net(self.adversary.normalize(raw))

    def act(self, z: torch.Tensor) -> torch.Tensor:
        """The adversary's mean action clipped to [-1, 1], as its MDP clips it."""
        return self.mean_action(z).clamp(-1.0, 1.0)

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
