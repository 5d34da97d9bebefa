"""Closed-form PPO gradients (landscape/rl/closed_form.py) against autograd: every loss, every parameter."""

import copy

import pytest
import torch

from landscape.model.agent import Agent
from landscape.rl import closed_form as cf
from landscape.rl.ppo import PPO, Batch, PolicyLoss, PPOConfig, normalized
from landscape.robust.relaxations import RELAXATIONS, make_relaxation
from landscape.robust.robust_loss import RobustPolicyLoss, arpo_loss

OBS, ACT, N, CLIP, EPS = 7, 3, 64, 0.2, 0.3


def _setup(seed: int = 0) -> tuple[Agent, Batch]:
    """A perturbed policy and a minibatch whose ratios fall on both sides of the clip range and whose value
    predictions sit inside and outside the value clip."""
    torch.manual_seed(seed)
    agent = Agent.new("Hopper-v5", OBS, ACT)
    g = torch.Generator().manual_seed(seed)
    z, a = torch.randn(N, OBS, generator=g), torch.randn(N, ACT, generator=g)
    with torch.no_grad():
        logp = agent.actor.log_prob(z, a) + 0.3 * torch.randn(N, generator=g)  # ratios spread around 1
        values = agent.critic(z) + 0.3 * torch.randn(N, generator=g)
        for p in agent.actor.parameters():
            p.add_(0.03 * torch.randn_like(p))
    mb = Batch(z, a, logp, values, normalized(torch.randn(N, generator=g)), torch.randn(N, generator=g))
    return agent, mb


def _autograd(loss_fn, params) -> list[torch.Tensor]:
    for p in params:
        p.grad = None
    loss_fn().backward()
    return [p.grad.clone() for p in params]


def _close(got: list[torch.Tensor], want: list[torch.Tensor]) -> None:
    """Equal to float32 rounding, per tensor: |g - w|_max <= 3e-5 |w|_max + 1e-6. With a sharp soft-max
    (T = 0.5) both float32 paths sit up to 7e-6 from the float64 gradient in tensors whose largest entry is
    about 1, in opposite directions (measured); a wrong term moves a gradient by orders of magnitude more."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        assert (g - w).abs().max() <= 3e-5 * w.abs().max() + 1e-6, (g - w).abs().max()


def test_the_batch_exercises_both_sides_of_both_clips():
    agent, mb = _setup()
    with torch.no_grad():
        r = torch.exp(agent.actor.log_prob(mb.z, mb.actions) - mb.logp)
        delta = agent.critic(mb.z) - mb.values
    assert ((r < 1 - CLIP) | (r > 1 + CLIP)).sum() > 10 and ((r > 1 - CLIP) & (r < 1 + CLIP)).sum() > 10
    assert (delta.abs() > 0.2).sum() > 10 and (delta.abs() < 0.2).sum() > 10


@pytest.mark.parametrize("entropy_coef", [0.0, 0.01])
def test_spo_policy_gradient_equals_autograd(entropy_coef):
    agent, mb = _setup()
    actor = agent.actor

    def loss():
        return PolicyLoss(CLIP)(actor, mb)[0] - entropy_coef * actor.dist(mb.z).entropy().sum(-1).mean()

    want = _autograd(loss, list(actor.parameters()))
    value, got, _ = cf.spo_grads(actor, mb, CLIP, entropy_coef)
    assert value == pytest.approx(float(loss().detach()), abs=1e-6)
    _close(got, want)


@pytest.mark.parametrize("value_clip", [0.0, 0.2])
def test_value_gradient_equals_autograd(value_clip):
    agent, mb = _setup()
    ppo = PPO(agent, PPOConfig(value_clip=value_clip))
    want = _autograd(lambda: ppo.value_loss(mb), list(agent.critic.parameters()))
    value, got = cf.value_grads(agent.critic, mb, value_clip)
    assert value == pytest.approx(float(ppo.value_loss(mb).detach()), abs=1e-6)
    _close(got, want)


@pytest.mark.parametrize("relaxation", sorted(RELAXATIONS))
@pytest.mark.parametrize(
    "strength,guidance,temperature,entropy_coef",
    [(0.5, 1.0, 1000.0, 0.0), (0.5, 0.0, 1.0, 0.01), (1.0, 0.3, 0.5, 0.0), (0.0, 1.0, 1000.0, 0.01)],
)
def test_robust_policy_gradient_equals_autograd(relaxation, strength, guidance, temperature, entropy_coef):
    """BARPO for every relaxation and ARPO (strength 1), soft-max weights sharp and flat, with and without
    the clean term and the entropy bonus, and strength 0 (no adversary). The inner attack draws from the
    global generator: both paths are seeded alike, so they see the same perturbed observations."""
    agent, mb = _setup()
    loss = RobustPolicyLoss(
        CLIP, EPS, make_relaxation(relaxation), strength, temperature, guidance, 0.3, entropy_coef=entropy_coef
    )
    torch.manual_seed(5)
    value, info, got = loss.closed_form(agent.actor, mb)
    torch.manual_seed(5)
    ref_value, ref_info = loss(agent.actor, mb)
    want = _autograd(lambda: ref_value, list(agent.actor.parameters()))
    assert value == pytest.approx(float(ref_value.detach()), abs=1e-6)
    assert info == pytest.approx(ref_info, abs=1e-6)
    _close(got, want)


def test_arpo_loss_has_a_closed_form_and_the_std_from_clean_ablation_does_not():
    agent, mb = _setup()
    assert arpo_loss(CLIP, EPS).closed_form(agent.actor, mb) is not None
    assert arpo_loss(CLIP, EPS, std_from="clean").closed_form(agent.actor, mb) is None


def test_a_subclass_with_its_own_loss_goes_through_autograd():
    class Doubled(PolicyLoss):
        def __call__(self, actor, mb):
            loss, info = super().__call__(actor, mb)
            return 2 * loss, info

    agent, mb = _setup()
    assert Doubled(CLIP).closed_form(agent.actor, mb) is None
    assert PolicyLoss(CLIP).closed_form(agent.actor, mb) is not None


def test_networks_that_are_not_tanh_mlps_are_not_claimed():
    from landscape.model.policy import Actor, Critic

    relu = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    tanh = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    assert not cf.is_tanh_mlp(relu) and cf.is_tanh_mlp(tanh) and not cf.is_tanh_mlp(torch.nn.Linear(3, 1))
    actor, critic = Actor(3, 2), Critic(3)
    assert cf.actor_supported(actor) and cf.critic_supported(critic)
    actor.extra = torch.nn.Parameter(torch.zeros(1))  # a parameter the closed form knows nothing about
    critic.net = relu
    assert not cf.actor_supported(actor) and not cf.critic_supported(critic)
    assert PPO(Agent(actor, critic, None, "Hopper-v5"), PPOConfig()).cf is None


@pytest.mark.parametrize("loss", ["spo", "arpo"])
def test_a_whole_update_matches_the_autograd_update(loss):
    """10 epochs x 32 minibatches: the closed-form and the autograd path end at the same parameters to float
    rounding (the paths differ only in summation order) and the same optimizer step counts."""
    agent, _ = _setup()
    g = torch.Generator().manual_seed(1)
    n = 512
    z, a = torch.randn(n, OBS, generator=g), torch.randn(n, ACT, generator=g)
    with torch.no_grad():
        logp, v = agent.actor.log_prob(z, a), agent.critic(z)
    batch = Batch(z, a, logp, v, torch.randn(n, generator=g), torch.randn(n, generator=g))
    make = (lambda: None) if loss == "spo" else (lambda: arpo_loss(CLIP, 0.05))
    ends = []
    for closed in (True, False):
        b = copy.deepcopy(agent)
        torch.manual_seed(9)
        ppo = PPO(b, PPOConfig(minibatches=8), make(), seed=0, closed_form=closed)
        assert (ppo.cf is not None) == closed
        ppo.update(copy.copy(batch))
        ends.append(torch.cat([p.detach().flatten() for p in [*b.actor.parameters(), *b.critic.parameters()]]))
    start = torch.cat([p.detach().flatten() for p in [*agent.actor.parameters(), *agent.critic.parameters()]])
    moved = (ends[1] - start).abs().max()
    assert moved > 1e-2  # the update did move the networks
    assert (ends[0] - ends[1]).abs().max() < 1e-4 * float(moved)
