import numpy as np
import torch

from landscape.agent import Agent
from landscape.collect import Collector
from landscape.ppo import PPOConfig


def _collect(n_envs=2, steps=64):
    torch.manual_seed(0)
    agent = Agent.new("Hopper-v5", 11, 3)
    with torch.no_grad():
        agent.actor.log_std.copy_(torch.tensor([-0.5, 0.0, 0.3]))
    cfg = PPOConfig(steps_per_iter=steps, n_envs=n_envs)
    col = Collector(agent, cfg, seed=3)
    torch.manual_seed(42)
    batch = col.collect()
    col.close()
    return agent, batch


def test_actions_are_samples_of_the_actor_distribution():
    """The direct sampling path draws exactly what actor.dist(z).sample() draws from the same generator."""
    agent, batch = _collect()
    torch.manual_seed(42)
    with torch.no_grad():
        for t in range(len(batch) // 2):
            z = batch.z[2 * t:2 * t + 2].clone()  # fresh memory, as in collection (alignment changes rounding)
            assert torch.equal(agent.actor.dist(z).sample(), batch.actions[2 * t:2 * t + 2])


def test_batched_logp_and_values_match_per_sample_calls():
    agent, batch = _collect()
    with torch.no_grad():
        for i in range(len(batch)):
            z, a = batch.z[i:i + 1], batch.actions[i:i + 1]
            assert torch.allclose(agent.actor.log_prob(z, a), batch.logp[i:i + 1], atol=1e-5)
            assert torch.allclose(agent.critic(z), batch.values[i:i + 1], atol=1e-5)
    assert torch.allclose(batch.returns, batch.advantages + batch.values, atol=1e-5)
    assert batch.z.shape == (64, 11) and batch.logp.shape == batch.values.shape == (64,)
    assert np.isfinite(batch.advantages.numpy()).all()
