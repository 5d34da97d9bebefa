import numpy as np
import torch

from landscape.core.normalizer import RunningNorm


def test_running_norm_merge_equals_full_batch():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(1000, 4))
    norm = RunningNorm(4)
    for chunk in np.array_split(x, [1, 7, 300, 301]):
        norm.update(chunk)
    assert np.allclose(norm.mean, x.mean(0)) and np.allclose(norm.var, x.var(0))
    z = norm(x)
    assert np.allclose(z, np.clip((x - x.mean(0)) / (x.std(0) + 1e-8), -10, 10))


def test_clip_grad_norm_is_torchs_arithmetic_exactly():
    from landscape.model.policy import Actor
    from landscape.rl.ppo import clip_grad_norm

    torch.manual_seed(0)
    a, b = Actor(11, 3), Actor(11, 3)
    b.load_state_dict(a.state_dict())
    for limit in (0.5, 1e6, float("inf")):
        for pa, pb in zip(a.parameters(), b.parameters()):
            pa.grad = torch.randn_like(pa)
            pb.grad = pa.grad.clone()
        n1 = clip_grad_norm(a.parameters(), limit)
        n2 = torch.nn.utils.clip_grad_norm_(b.parameters(), limit)
        assert torch.equal(n1, n2)
        assert all(torch.equal(pa.grad, pb.grad) for pa, pb in zip(a.parameters(), b.parameters()))


def test_ppo_update_equals_the_textbook_loss_bit_for_bit():
    """A PPO update on a fixed batch through the numerics core (autograd path) equals the same update with the
    loss written out with torch.distributions.Normal (the code before the core existed), to the bit. The
    closed-form path is checked against the autograd one in test_closed_form.py."""
    import copy

    from landscape.model.agent import Agent
    from landscape.rl.ppo import PPO, Batch, PolicyLoss, PPOConfig

    class Textbook(PolicyLoss):
        def __call__(self, actor, mb):
            dist = torch.distributions.Normal(actor(mb.z), actor.log_std.exp().expand(mb.actions.shape))
            ratio = torch.exp(dist.log_prob(mb.actions).sum(-1) - mb.logp)
            adv = mb.advantages
            return -torch.min(ratio * adv, ratio.clamp(1 - self.clip, 1 + self.clip) * adv).mean(), {}

    g = torch.Generator().manual_seed(0)
    batch = Batch(
        torch.randn(256, 5, generator=g),
        torch.randn(256, 2, generator=g),
        -torch.rand(256, generator=g) - 2.0,
        torch.randn(256, generator=g),
        torch.randn(256, generator=g),
        torch.randn(256, generator=g),
    )
    torch.manual_seed(0)
    a = Agent.new("Hopper-v5", 5, 2)
    b, theta0 = copy.deepcopy(a), a.space.flatten(a.actor)
    cfg = PPOConfig(epochs=2, minibatches=4)
    PPO(a, cfg, seed=0, closed_form=False).update(copy.deepcopy(batch))
    PPO(b, cfg, Textbook(cfg.clip), seed=0).update(copy.deepcopy(batch))
    assert torch.equal(a.space.flatten(a.actor), b.space.flatten(b.actor))
    assert not torch.equal(a.space.flatten(a.actor), theta0)  # the update moved the policy
    assert all(torch.equal(p, q) for p, q in zip(a.critic.parameters(), b.critic.parameters()))


def test_lean_adam_step_equals_optimizer_step_bit_for_bit():
    """ppo.adam_step (torch's functional fused Adam on the optimizer's own state) gives the parameters and
    optimizer state that Adam.step() gives, over several steps with a changing learning rate."""
    from landscape.model.policy import Actor
    from landscape.rl.ppo import adam_step

    torch.manual_seed(0)
    a, b = Actor(7, 2), Actor(7, 2)
    b.load_state_dict(a.state_dict())
    pa, pb = list(a.parameters()), list(b.parameters())
    oa = torch.optim.Adam(pa, lr=3e-4, fused=True)
    ob = torch.optim.Adam(pb, lr=3e-4, fused=True)
    g = torch.Generator().manual_seed(1)
    for k in range(5):
        for opt in (oa, ob):
            opt.param_groups[0]["lr"] = 3e-4 * (1 - k / 5)
        for p, q in zip(pa, pb):
            p.grad = torch.randn(p.shape, generator=g)
            q.grad = p.grad.clone()
        adam_step(oa, pa)
        ob.step()
        assert all(torch.equal(p, q) for p, q in zip(pa, pb))
    sa, sb = oa.state_dict()["state"], ob.state_dict()["state"]
    assert all(torch.equal(sa[i][k], sb[i][k]) for i in sb for k in sb[i])
    assert float(sa[0]["step"]) == 5.0  # the step count advanced every time


def test_adam_eps_reaches_both_optimizers_and_changes_the_update():
    """PPOConfig.adam_eps (SA-PPO / CAR-PPO use 1e-5, torch 1e-8) is the eps of the policy and value Adam."""
    import copy

    from landscape.model.agent import Agent
    from landscape.rl.collect import Collector
    from landscape.rl.ppo import PPO, PPOConfig

    torch.manual_seed(0)
    agent = Agent.new("ToyTarget-v0", 2, 2)
    batch = Collector(agent, PPOConfig(steps_per_iter=64), seed=0).collect()
    moved = {}
    for eps in (1e-8, 1.0):  # an eps far above the gradients damps the Adam steps
        cfg = PPOConfig(steps_per_iter=64, epochs=1, minibatches=2, adam_eps=eps)
        a = copy.deepcopy(agent)
        ppo = PPO(a, cfg, seed=0)
        assert ppo.opt_pi.param_groups[0]["eps"] == eps and ppo.opt_v.param_groups[0]["eps"] == eps
        ppo.update(copy.deepcopy(batch))
        moved[eps] = float((a.space.flatten(a.actor) - agent.space.flatten(agent.actor)).abs().max())
    assert moved[1.0] < 0.5 * moved[1e-8]
