import numpy as np
import pytest
import torch

from landscape.model.agent import Agent
from landscape.rl.collect import Collector
from landscape.rl.ppo import PPOConfig


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
            z = batch.z[2 * t : 2 * t + 2].clone()  # fresh memory, as in collection (alignment changes rounding)
            assert torch.equal(agent.actor.dist(z).sample(), batch.actions[2 * t : 2 * t + 2])


def test_batched_logp_and_values_match_per_sample_calls():
    agent, batch = _collect()
    with torch.no_grad():
        for i in range(len(batch)):
            z, a = batch.z[i : i + 1], batch.actions[i : i + 1]
            assert torch.allclose(agent.actor.log_prob(z, a), batch.logp[i : i + 1], atol=1e-5)
            assert torch.allclose(agent.critic(z), batch.values[i : i + 1], atol=1e-5)
    assert torch.allclose(batch.returns, batch.advantages + batch.values, atol=1e-5)
    assert batch.z.shape == (64, 11) and batch.logp.shape == batch.values.shape == (64,)
    assert np.isfinite(batch.advantages.numpy()).all()


def _batches(env_id, obs, act, backend, n_envs, steps, iters):
    torch.manual_seed(0)
    agent = Agent.new(env_id, obs, act)
    col = Collector(agent, PPOConfig(steps_per_iter=steps, n_envs=n_envs), seed=5, backend=backend)
    torch.manual_seed(1)
    out = [col.collect() for _ in range(iters)]
    episodes = list(col.episodes)
    col.close()
    return out, episodes, agent.obs_norm


@pytest.mark.parametrize(
    "env_id,obs,act,n_envs,steps,iters",
    [
        ("Hopper-v5", 11, 3, 1, 512, 2),  # falls every few dozen steps: many autoresets
        ("Hopper-v5", 11, 3, 4, 512, 2),
        ("HalfCheetah-v5", 17, 6, 2, 2200, 1),  # never falls: the 1000-step truncation and its bootstrap
    ],
)
def test_mujoco_batch_collection_equals_gymnasium_bit_for_bit(env_id, obs, act, n_envs, steps, iters):
    """The lockstep MuJoCo collection (default where supported) gives Gymnasium SyncVectorEnv's batches."""
    from landscape.rl.collect import LockstepEnvs, make_envs

    assert isinstance(make_envs(env_id, n_envs), LockstepEnvs)
    fast, ep_fast, norm_fast = _batches(env_id, obs, act, "auto", n_envs, steps, iters)
    ref, ep_ref, norm_ref = _batches(env_id, obs, act, "gym", n_envs, steps, iters)
    assert len(ep_ref) > (0 if env_id.startswith("Half") else 5)  # the runs did reset
    assert ep_fast == ep_ref
    assert np.array_equal(norm_fast.mean, norm_ref.mean) and np.array_equal(norm_fast.var, norm_ref.var)
    for a, b in zip(fast, ref):
        for field in ("z", "actions", "logp", "values", "advantages", "returns"):
            assert torch.equal(getattr(a, field), getattr(b, field)), field
