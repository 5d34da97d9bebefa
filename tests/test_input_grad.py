"""The closed-form input gradients under every PGD / SGLD equal autograd's."""

import numpy as np
import pytest
import torch

from landscape.model.agent import Agent
from landscape.rl.input_grad import KLObjective, SurrogateObjective, TanhMLP
from landscape.rl.pgd import pgd
from landscape.rl.ppo import Batch

OBS, ACT, B = 11, 3, 256


def _setup(seed=0):
    torch.manual_seed(seed)
    agent = Agent.new("Hopper-v5", OBS, ACT)
    with torch.no_grad():
        for p in agent.actor.net.parameters():
            p.add_(0.3 * torch.randn_like(p))
        agent.actor.log_std.fill_(-0.5)
    z, actions = torch.randn(B, OBS), torch.randn(B, ACT)
    with torch.no_grad():  # old log-probabilities near the current ones: ratios on both sides of the clip
        logp = agent.actor.log_prob(z, actions) + 0.3 * torch.randn(B)
    return agent, Batch(z, actions, logp, torch.randn(B), torch.randn(B), torch.randn(B))


def _autograd(objective, z):
    z = z.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(objective(z).sum(), z)
    return g


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_surrogate_gradient_matches_autograd_on_both_sides_of_the_clip(seed):
    agent, mb = _setup(seed)
    obj = SurrogateObjective(agent.actor, mb, 0.2)
    z = mb.z + 0.2 * torch.randn_like(mb.z)
    ratio = torch.exp(agent.actor.log_prob(z, mb.actions) - mb.logp)
    clipped = (ratio < 0.8) | (ratio > 1.2)
    assert 0 < int(clipped.sum()) < B  # both branches are exercised
    ref = _autograd(obj, z)
    assert torch.allclose(obj.grad(z), ref, atol=1e-5 * float(ref.abs().max()), rtol=1e-4)


def test_kl_gradient_matches_autograd():
    agent, mb = _setup()
    obj = KLObjective(agent.actor, mb.z)
    z = mb.z + 0.2 * torch.randn_like(mb.z)
    assert torch.allclose(obj.grad(z), _autograd(obj, z), atol=1e-5, rtol=1e-4)
    assert obj.grad(mb.z).abs().max() < 1e-5  # no gradient at the clean point


def test_batched_weights_k_parameter_vectors():
    """Weights with a leading K axis: each parameter vector's gradient is its own network's."""
    nets = [_setup(s)[0].actor for s in range(3)]
    stacked = TanhMLP(
        [
            (
                torch.stack([TanhMLP.of(n.net).layers[i][0] for n in nets]),
                torch.stack([TanhMLP.of(n.net).layers[i][1].squeeze(-2) for n in nets]),
            )
            for i in range(3)
        ]
    )
    z = torch.randn(3, 17, OBS)
    g_out = torch.randn(3, 17, ACT)
    out, hidden = stacked.forward(z)
    g = stacked.input_grad(hidden, g_out)
    for k, net in enumerate(nets):
        zk = z[k].clone().requires_grad_(True)
        (ref,) = torch.autograd.grad((net(zk) * g_out[k]).sum(), zk)
        assert torch.allclose(out[k], net(z[k]), atol=1e-6)
        assert torch.allclose(g[k], ref, atol=1e-5)


def test_pgd_with_closed_form_gradient_equals_pgd_by_autograd():
    agent, mb = _setup()
    obj = SurrogateObjective(agent.actor, mb, 0.2)
    a = pgd(obj, mb.z, 0.1, random_start=False)
    b = pgd(lambda z: obj(z), mb.z, 0.1, random_start=False)  # no .grad: autograd
    assert float((a == b).float().mean()) > 0.99  # identical but where a gradient entry is ~0 (sign ties)
    assert float(obj(a).mean()) == pytest.approx(float(obj(b).mean()), rel=1e-3)
    assert float(obj(a).mean()) > float(obj(mb.z).mean()) + 0.1  # and the attack works


@pytest.mark.parametrize("name", ["mad", "critic", "surrogate"])
def test_evaluation_attack_gradients_match_autograd(name):
    """The evaluation attacks' closed-form input gradient (K parameter vectors x E observations) equals
    autograd's of the same objective, and PGD with it lands on the same perturbation."""
    from test_attacks import THETAS, build

    from landscape.rl.pgd import autograd

    z = torch.randn(2, 6, 11, generator=torch.Generator().manual_seed(3))
    attack = build(name, 0.075)
    ctx = attack.prepare(z, THETAS)
    z_adv = z + 0.05 * torch.randn(z.shape, generator=torch.Generator().manual_seed(4))
    closed = attack.input_grad(z_adv, z, THETAS, ctx)
    ref = autograd(lambda x: attack.objective(x, z, THETAS, ctx), z_adv)
    assert ref.abs().max() > 1e-3  # a gradient that matters
    assert torch.allclose(closed, ref, atol=1e-6, rtol=1e-4)
    fast, slow = build(name, 0.075, seed=5), build(name, 0.075, seed=5, closed_form=False)
    assert fast.closed_form and not slow.closed_form
    agree = (fast(z, THETAS) == slow(z, THETAS)).float().mean()
    assert agree > 0.99  # sign steps: a coordinate may only differ where a gradient is ~0


def test_surrogate_values_in_closed_form_equal_the_torch_loss_over_a_stacked_path():
    agent, mb = _setup()
    obj = SurrogateObjective(agent.actor, mb, 0.2)
    path = torch.stack(
        [mb.z + 0.05 * k * torch.randn(mb.z.shape, generator=torch.Generator().manual_seed(k)) for k in range(4)]
    )
    with torch.no_grad():
        want = torch.stack([obj(p) for p in path])
    got = obj.values(path)
    assert got.shape == tuple(want.shape)
    assert np.allclose(got, want.numpy(), atol=1e-5, rtol=1e-4)  # float32, exp of a sum: ratios reach 1e3
    assert want.std() > 1e-3  # the points differ, so the comparison means something
