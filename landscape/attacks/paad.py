"""PA-AD (Sun et al., ICLR 2022, "Who Is the Strongest Enemy?"): a learned *director* chooses a direction
in the victim's action space, and an *actor* turns it into an eps-bounded observation perturbation.

- Director: a PPO policy over the adversary MDP (DirectorEnv). It observes the raw environment
  observation (through its own normalizer, like the SA-RL adversary) and its action d in [-1, 1]^act is a
  direction in the victim's action space: only its direction matters. Its reward is minus the victim's.
  It is trained and cached exactly like the `optimal` adversary (adversary.py, learned.py):
  `<stem>.paad-eps<E>.pt`, algo "paad", refused for another environment, eps or policy.
- Actor (`actor_step`): PGD (pgd.py) over z' in the l_inf ball around the victim's normalized
  observation z, maximizing the change of the victim's mean action along d,

      < mu(z') - mu(z), d / ||d|| >,

  i.e. turn the policy towards d, as far as possible. Default (as the reference implementation): one
  sign step of size eps from z itself (FGSM): the step is sign(J^T d), J the Jacobian of the mean action,
  the first-order targeted step towards d, landing on a corner of the ball. The paper's objective is
  cos(delta, d) + ||delta||; from z its FGSM step is the same sign(J^T d), but under PGD from a random
  start it can get stuck moving the action *away* from d (cos has no gradient where it is -1, and the
  norm term pays for any change), which the projection cannot. `actor_steps` n > 1 runs the suite's
  PGD (n sign steps of eps/10 from a uniform random start): it reaches the objective better but costs n
  gradients per environment step, which makes the director's training n times slower (one 10-step PGD
  per step: ~200 director steps/s against ~1000 with FGSM on Hopper, measured quiet). The actor's
  settings are part of the attack: recorded in the director's config at training, replayed.

Why it can beat the SA-RL adversary: the director searches the act-dimensional space of policy changes
(3 on Hopper) instead of the obs-dimensional space of perturbations (11), and the actor finds, for the
chosen direction, the perturbation that realizes it best -- the optimal attack is reachable this way
(the paper's theorem) with a much smaller search problem.

At evaluation the attack is batched like every other: the director's mean action for all K x E
observations in one call, then one batched PGD over them. For K parameter vectors of a landscape probe
(a scan's points) the director (trained against the checkpoint's policy) picks the direction and the
actor attacks each parameter vector's own policy. Both run the batch-invariant forward (rowwise.py) and
a random start is keyed by episode and step (crn.py): a point's attacked return does not depend on its
batch (tests/test_batch_invariance.py).
"""

import gymnasium as gym
import numpy as np
import torch

from ..core.errors import LandscapeError
from ..model.agent import Agent
from ..model.flat import batched_mean, batched_net
from ..rl.pgd import pgd, project
from .adversary import LearnedAttack
from .adversary_env import AdversaryEnv
from .base import register

ACTOR_STEPS = 1  # the actor: 1 = FGSM (one sign step of eps from z); n > 1 = PGD, n steps of eps/10, random start


def alignment(delta: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """The actor's objective per sample: the mean-action change `delta` projected on the unit direction."""
    return (delta * direction).sum(-1) / (direction.pow(2).sum(-1).sqrt() + 1e-8)


def actor_step(
    space,
    thetas: torch.Tensor,
    z: torch.Tensor,
    direction: torch.Tensor,
    eps: float,
    steps: int = ACTOR_STEPS,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """PA-AD's actor: z [K, E, obs], direction [K, E, act] -> z' in the eps-ball maximizing `alignment`
    of the mean-action change mu_theta(z') - mu_theta(z) of each of the K policies with the direction.
    steps 1 without a step size: FGSM from z (step eps, no random start); else pgd.py's PGD (start: its
    uniform [-1, 1) noise, else drawn from `generator`)."""
    net = batched_net(space, thetas)
    with torch.no_grad():
        mu, hidden = net.forward(z.detach())
    unit = direction / (direction.pow(2).sum(-1, keepdim=True).sqrt() + 1e-8)
    if steps == 1 and step_size is None:  # FGSM: one sign step of eps from z, whose forward pass is mu's
        eps_t = torch.as_tensor(eps, dtype=z.dtype)
        return project(z.detach() + eps_t * net.input_grad(hidden, unit).sign(), z.detach(), eps_t)

    def objective(x):
        return alignment(net(x) - mu, direction)

    # its input gradient J^T d / ||d|| in closed form (input_grad.py): no autograd graph per step
    objective.grad = lambda x: net.input_grad(net.forward(x)[1], unit)
    return pgd(objective, z, eps, steps, step_size, random_start, generator, start)


def reference_actor_step(
    space,
    thetas: torch.Tensor,
    z: torch.Tensor,
    direction: torch.Tensor,
    eps: float,
    start_steps: int = 10,
    generator: torch.Generator | None = None,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """The actor of PA-AD's released MuJoCo code (`perturb_obs_fgsm`), for directors trained with it: a
    uniform start within eps / start_steps (start: its uniform [-1, 1) noise, else drawn from `generator`),
    one gradient of loss = -(cos(diff, d) + ||diff||) with diff the mean-action change there, and
    z' = z + eps * sign(d loss / d start). Its sign is the code's, not the paper's: a director learned
    against this actor is only replayed faithfully by it."""
    z = z.detach()
    with torch.no_grad():
        mu = batched_mean(space, thetas, z)
    if start is None:
        start = torch.rand(z.shape, generator=generator) * 2 - 1
    noise = (start * (eps / start_steps)).requires_grad_(True)
    with torch.enable_grad():  # evaluation runs under no_grad
        diff = batched_mean(space, thetas, z + noise) - mu
        loss = -(torch.nn.functional.cosine_similarity(diff, direction, dim=-1) + diff.norm(dim=-1)).sum()
        (grad,) = torch.autograd.grad(loss, noise)
    return z + eps * grad.sign()


class DirectorEnv(AdversaryEnv):
    """The director's MDP: action = a direction in the victim's action space; the actor makes z'."""

    def __init__(self, victim: Agent, eps: float, actor_steps: int = ACTOR_STEPS):
        super().__init__(victim, eps)
        self.actor_steps = actor_steps
        self.action_space = gym.spaces.Box(-1.0, 1.0, (victim.actor.act_dim,), np.float32)
        self.space = victim.space  # built once: a ParamSpace per step cost a third of the step
        self.theta = self.space.flatten(victim.actor)[None]
        self.gen = torch.Generator().manual_seed(0)

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.gen.manual_seed(int(seed))
        return super().reset(seed=seed, options=options)

    def perturb(self, obs: np.ndarray, action: np.ndarray) -> torch.Tensor:
        d = torch.as_tensor(np.clip(action, -1.0, 1.0), dtype=torch.float32)
        z = self.victim.normalize(obs)
        return actor_step(
            self.space, self.theta, z[None, None], d[None, None], self.eps, self.actor_steps, generator=self.gen
        )[0, 0]


@register
class PAADAttack(LearnedAttack):
    """PA-AD: the cached director picks d, the actor (PGD with the director's recorded settings) makes z'."""

    name, algo = "paad", "paad"

    def __init__(self, agent, eps, adversary=None, ckpt=None, **opts):
        super().__init__(agent, eps, adversary=adversary, ckpt=ckpt, **opts)
        self.actor_steps = int(self.adversary.config.get("actor_steps", ACTOR_STEPS))
        self.start_steps = self.adversary.config.get("start_steps")  # set for PA-AD's own directors only
        self.reference = self.adversary.config.get("actor") == "paad-reference"

    def act(self, z):
        """PA-AD's own directors give their mean unclipped (clipping would turn the direction)."""
        return self.mean_action(z) if self.reference else super().act(z)

    @classmethod
    def action_dim(cls, victim):
        return victim.actor.act_dim

    @classmethod
    def settings(cls, actor_steps: int = ACTOR_STEPS) -> dict:
        if actor_steps < 1:
            raise LandscapeError("paad: the actor needs at least one PGD step")
        return {"actor_steps": int(actor_steps)}

    @classmethod
    def make_env(cls, victim, eps, config):
        return DirectorEnv(victim, eps, int(config.get("actor_steps", ACTOR_STEPS)))

    def perturb(self, z, thetas, action):
        start = self.start(z)  # keyed by episode and step in the evaluator, else drawn from the generator
        if self.reference:
            return reference_actor_step(
                self.space, thetas, z, action, self.eps, int(self.start_steps), self.gen, start=start
            )
        return actor_step(self.space, thetas, z, action, self.eps, self.actor_steps, generator=self.gen, start=start)
