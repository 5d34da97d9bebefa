"""Our robust loss against CAR-PPO's, written out by hand from the reference's formulas.

Reference: RyanHaoranLi/CAR-RL, src/policy_gradients/steps.py (`robust_ppo_step` with `car_pgd` / `car_sgld`,
`get_car_loss_pgd`, `get_car_loss_sgld`, `surrogate_reward`). Per minibatch:

    nA       = (A - mean A) / (std A + 1e-8)                               (unbiased std)
    r_i(z)   = exp(log N(a_i; mu(z_i), sigma) - logp_old_i)                (sigma = exp(log_std), not detached)
    l_i(z)   = -min(r_i nA_i, clip(r_i, 1 - c, 1 + c) nA_i)
    z'       = PGD: z + U(-eps, eps), then `steps` times z' += eps/steps * sign(grad mean l(z')), clamp to the ball
               SGLD: z + eps/steps * sign(N(0,1)), then z' += eps/steps * sign(grad + N(0, 2 eps/steps 1e-5)/(k+2))
    car_i    = l_i(z') - entropy_coef * H
    p        = exp(car / lambda) / sum exp(car / lambda), detached
    loss     = mean l(z) + reg * sum p car                                  (robust_add_clean_loss)

Value and every parameter's gradient must agree to 1e-6.
"""

import copy
import math

import pytest
import torch

from landscape.model.agent import Agent
from landscape.rl.ppo import PPO, Batch, PPOConfig
from landscape.robust.robust_loss import RobustPolicyLoss, arpo_loss

OBS, ACT, B, CLIP = 5, 2, 64, 0.2


def _setup(seed=0):
    torch.manual_seed(seed)
    agent = Agent.new("Hopper-v5", OBS, ACT)
    with torch.no_grad():
        for p in agent.actor.parameters():
            p.add_(0.3 * torch.randn_like(p))
    g = torch.Generator().manual_seed(seed + 1)
    mb = Batch(
        torch.randn(B, OBS, generator=g),
        torch.randn(B, ACT, generator=g),
        -torch.rand(B, generator=g) - 2.0,
        torch.randn(B, generator=g),
        3.0 + 2.0 * torch.randn(B, generator=g),
        torch.randn(B, generator=g),
    )
    return agent, mb


def _hand_per_sample(actor, z, mb, adv):
    mean, sigma = actor.net(z), actor.log_std.exp()
    logp = (-((mb.actions - mean) ** 2) / (2 * sigma**2) - torch.log(sigma) - 0.5 * math.log(2 * math.pi)).sum(-1)
    r = torch.exp(logp - mb.logp)
    return -torch.min(r * adv, torch.clamp(r, 1 - CLIP, 1 + CLIP) * adv)


def _hand_attack(actor, mb, adv, eps, steps, solver):
    step = eps / steps
    lo, hi = mb.z - eps, mb.z + eps
    if solver == "pgd":
        z = torch.max(torch.min(mb.z + torch.rand_like(mb.z) * 2 * eps - eps, hi), lo)
    else:
        z = mb.z + torch.randn_like(mb.z).sign() * step
    for k in range(steps):
        z = z.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(_hand_per_sample(actor, z, mb, adv).mean(), z)
        if solver == "sgld":
            g = g + math.sqrt(2 * step * 1e-5) / (k + 2) * torch.randn_like(z)
        z = torch.max(torch.min(z.detach() + g.sign() * step, hi), lo)
    return z.detach()


def _hand_loss(actor, mb, eps, steps, solver, lam, reg, guidance, entropy_coef):
    adv = (mb.advantages - mb.advantages.mean()) / (mb.advantages.std() + 1e-8)
    z_adv = _hand_attack(actor, mb, adv, eps, steps, solver)
    entropy = (0.5 + 0.5 * math.log(2 * math.pi) + actor.log_std).sum()
    car = _hand_per_sample(actor, z_adv, mb, adv) - entropy_coef * entropy
    p = torch.exp(car / lam).detach()
    p = p / p.sum()
    return guidance * _hand_per_sample(actor, mb.z, mb, adv).mean() + reg * (car * p).sum()


def _normalized(mb):
    mb = copy.deepcopy(mb)
    mb.advantages = (mb.advantages - mb.advantages.mean()) / (mb.advantages.std() + 1e-8)
    return mb


@pytest.mark.parametrize("solver", ["pgd", "sgld"])
@pytest.mark.parametrize(
    "lam,reg,guidance,entropy_coef",
    [(1000.0, 0.3, 1.0, 0.0), (100.0, 1.0, 1.0, 0.01), (0.5, 1.0, 0.0, 0.0), (3.0, 0.1, 2.0, 0.001)],
)
def test_loss_and_gradient_equal_car_ppo_by_hand(solver, lam, reg, guidance, entropy_coef):
    agent, mb = _setup()
    eps, steps = 0.3, 7  # steps != 10: the step is eps / steps, as in the reference
    ours = arpo_loss(
        CLIP, eps, steps, temperature=lam, guidance=guidance, reg=reg, entropy_coef=entropy_coef, solver=solver
    )
    actor_a, actor_b = copy.deepcopy(agent.actor), copy.deepcopy(agent.actor)
    torch.manual_seed(11)
    loss_a, _ = ours(actor_a, _normalized(mb))
    torch.manual_seed(11)
    loss_b = _hand_loss(actor_b, mb, eps, steps, solver, lam, reg, guidance, entropy_coef)
    assert float(loss_a.detach()) == pytest.approx(float(loss_b.detach()), abs=1e-6)
    loss_a.backward()
    loss_b.backward()
    for (name, pa), pb in zip(actor_a.named_parameters(), actor_b.parameters()):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-6), name
    assert actor_a.log_std.grad.abs().max() > 0  # the std learns from the literal loss (CAR-PPO's joint std)


def test_core_normalizes_advantages_per_minibatch():
    agent, mb = _setup()
    seen = []

    class Spy(RobustPolicyLoss):
        def __call__(self, actor, b):
            seen.append((float(b.advantages.mean()), float(b.advantages.std())))
            return super().__call__(actor, b)

    PPO(agent, PPOConfig(epochs=1, minibatches=4), Spy(CLIP, 0.1), seed=0).update(copy.deepcopy(mb))
    assert len(seen) == 4
    for m, s in seen:
        assert abs(m) < 1e-6 and s == pytest.approx(1.0, abs=1e-5)


def test_strength_one_is_arpo_with_the_same_guidance_and_strength_zero_is_spo():
    from landscape.robust.relaxations import make_relaxation

    agent, mb = _setup()
    mb = _normalized(mb)
    for guidance in (0.0, 1.0):
        torch.manual_seed(3)
        a, _ = arpo_loss(CLIP, 0.2, guidance=guidance)(copy.deepcopy(agent.actor), mb)
        torch.manual_seed(3)
        b, _ = RobustPolicyLoss(CLIP, 0.2, make_relaxation("objective"), strength=1.0, guidance=guidance)(
            copy.deepcopy(agent.actor), mb
        )
        assert float(a.detach()) == float(b.detach())
    spo = _hand_per_sample(agent.actor, mb.z, mb, mb.advantages).mean()
    zero, _ = RobustPolicyLoss(CLIP, 0.2, make_relaxation("objective"), strength=0.0, guidance=1.0)(agent.actor, mb)
    assert float(zero.detach()) == pytest.approx(float(spo), abs=1e-7)


def test_at_eps_zero_the_update_direction_is_spos():
    """eps -> 0 (start of the warm-up): the loss is (guidance + reg x near-uniform weights) x SPO's, so with
    T = inf its gradient is exactly (guidance + reg) times SPO's."""
    agent, mb = _setup()
    mb = _normalized(mb)
    a1, a2 = copy.deepcopy(agent.actor), copy.deepcopy(agent.actor)
    loss, _ = arpo_loss(CLIP, 0.0, temperature=math.inf, guidance=1.0, reg=0.3)(a1, mb)
    loss.backward()
    _hand_per_sample(a2, mb.z, mb, mb.advantages).mean().backward()
    for p1, p2 in zip(a1.parameters(), a2.parameters()):
        assert torch.allclose(p1.grad, 1.3 * p2.grad, atol=1e-6)


@pytest.mark.parametrize("perturb,calls,rows", [("minibatch", 8, B // 4), ("epoch", 2, B)])
def test_perturb_epoch_attacks_the_whole_batch_once_per_epoch_with_the_epoch_start_actor(perturb, calls, rows):
    """--perturb epoch: one inner attack per epoch on all rows (advantages normalized over the batch), with the
    actor as it is at the epoch's start; each minibatch then uses its own rows of that z'."""
    agent, mb = _setup()
    seen, starts = [], []

    def relax(actor, b, eps, strength, clip):
        seen.append((len(b), float(b.advantages.mean()), float(b.advantages.std())))
        starts.append(copy.deepcopy(actor.state_dict()))
        return b.z + 0.5 * eps

    class Spy(RobustPolicyLoss):
        def __call__(self, actor, b):
            if perturb == "epoch":  # the minibatch's own rows of the epoch's z'
                assert torch.equal(b.z_adv, b.z + 0.5 * self.eps)
            return super().__call__(actor, b)

    ppo = PPO(agent, PPOConfig(epochs=2, minibatches=4), Spy(CLIP, 0.1, relax, perturb=perturb), seed=0)
    epoch_start = []
    real_start = ppo.policy_loss.epoch_start

    def record(actor, batch):
        epoch_start.append(copy.deepcopy(actor.state_dict()))
        return real_start(actor, batch)

    ppo.policy_loss.epoch_start = record
    ppo.update(copy.deepcopy(mb))
    assert len(seen) == calls and all(n == rows for n, _, _ in seen)
    assert all(abs(m) < 1e-6 and s == pytest.approx(1.0, abs=1e-5) for _, m, s in seen)
    if perturb == "epoch":
        for attacked, start in zip(starts, epoch_start):
            assert all(torch.equal(attacked[k], start[k]) for k in start)
        assert not torch.equal(epoch_start[0]["net.0.weight"], epoch_start[1]["net.0.weight"])


def test_unknown_perturb_is_one_line_error():
    from landscape.core.specs import SpecError
    from landscape.robust.robust_trainer import RobustSpec

    with pytest.raises(SpecError, match="perturb"):
        RobustSpec(perturb="sometimes")
