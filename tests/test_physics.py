"""MujocoVec (direct MuJoCo batch) must reproduce GymVec (Gymnasium itself) step for step."""

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco.batch", reason="MujocoVec needs MuJoCo >= 4.0 (mujoco.batch)")

from landscape.model.agent import Agent  # noqa: E402 (after the skip)
from landscape.rl.evaluator import BatchedEvaluator
from landscape.sim.physics import MujocoVec, supported
from landscape.sim.vecenv import GymVec, make_vec

ENVS = ["Hopper-v5", "Walker2d-v5", "HalfCheetah-v5"]
TOL = 1e-9  # bit-exact in practice; anything near this bound means a modelling bug


@pytest.fixture(autouse=True)
def _mujoco_log_elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo logs its runtime warnings to ./MUJOCO_LOG.TXT


def _lockstep(env_id, n=6, steps=300, max_steps=None):
    """Run both backends on the same seeds, actions (some out of range, float32 and float64) and live
    mask; return the largest gap per output and which envs ever ended."""
    fast, ref = MujocoVec(env_id, n), GymVec(env_id, n)
    if max_steps is not None:  # a short TimeLimit for the truncation test (GymVec's wrapper is patched alike)
        fast.max_steps = max_steps
        for env in ref.envs:
            env._max_episode_steps = max_steps
    rng = np.random.default_rng(0)
    seeds = [11, 12, 13, 11, 14, 15]  # a repeated seed too
    gap = {"obs": np.abs(fast.reset(seeds) - ref.reset(seeds)).max()}
    live = np.ones(n, bool)
    live[5] = False  # dead from the start: never stepped
    ended = np.zeros(n, bool)
    for t in range(steps):
        if t == 40:
            live[4] = False  # killed mid-episode
        act = rng.uniform(-1.5, 1.5, (n, fast.act_dim)).astype(np.float32 if t % 2 else np.float64)
        out_f, out_r = fast.step(act, live), ref.step(act, live)
        for key, a, b in zip(("obs", "reward", "terminated", "truncated"), out_f, out_r):
            diff = np.abs(a.astype(float) - b.astype(float)).max()
            gap[key] = max(gap.get(key, 0.0), diff)
        ended |= out_r[2] | out_r[3]
        live &= ~out_r[3]  # keep stepping fallen envs (Gymnasium allows it): long contact-rich physics
        if not live.any():
            break
    fast.close(), ref.close()
    return gap, ended


@pytest.mark.parametrize("env_id", ENVS)
def test_matches_gymnasium(env_id):
    gap, ended = _lockstep(env_id)
    assert all(v <= TOL for v in gap.values()), gap
    if env_id != "HalfCheetah-v5":  # random actions topple Hopper and Walker: termination is exercised
        assert ended[:4].any()


def test_truncation_at_time_limit():
    gap, ended = _lockstep("HalfCheetah-v5", steps=30, max_steps=25)  # never terminates: only truncation
    assert all(v <= TOL for v in gap.values()), gap
    assert ended[:4].all()


def test_dead_envs_and_backend_choice():
    vec = make_vec("Hopper-v5", 3)
    assert isinstance(vec, MujocoVec)
    assert (vec.obs_dim, vec.act_dim, vec.max_steps) == (11, 3, 1000)
    vec.reset([0, 1, 2])
    obs, rew, term, trunc = vec.step(np.zeros((3, 3)), np.array([True, False, True]))
    assert (obs[1] == 0).all() and rew[1] == 0 and not term[1] and not trunc[1]
    assert (obs[0] != 0).any()
    vec.close()
    assert supported("Hopper-v5") and not supported("Ant-v5")
    assert isinstance(make_vec("Ant-v5", 1), GymVec)
    with pytest.raises(ValueError):
        make_vec("Ant-v5", 1, backend="mujoco")


@pytest.mark.parametrize("env_id", ["Hopper-v5", "Walker2d-v5"])
def test_health_rule_on_edge_states(env_id):
    """States random actions rarely reach: range edges (strict inequalities) and huge velocities."""
    vec = MujocoVec(env_id, 1)
    u = vec._env.unwrapped
    u.reset(seed=0)
    (z_lo, _), (a_lo, a_hi) = u._healthy_z_range, u._healthy_angle_range
    cases = [(1, z_lo), (1, z_lo + 1e-9), (2, a_lo), (2, a_hi - 1e-9), (2, a_hi), (None, None)]
    for k, (idx, value) in enumerate(cases):
        for vel in (0.0, 150.0):  # 150 leaves Hopper's healthy_state_range
            qpos, qvel = u.init_qpos.copy(), np.full(u.model.nv, vel)
            if idx is not None:
                qpos[idx] = value
            u.set_state(qpos, qvel)
            assert vec._healthy(qpos[None], qvel[None])[0] == u.is_healthy, (k, vel)
    vec.close()


def test_evaluator_returns_equal_on_both_backends():
    torch.manual_seed(0)
    agent = Agent.new("Walker2d-v5", 17, 6)
    theta = agent.space.flatten(agent.actor)
    thetas = torch.stack([theta, theta + 0.3 * torch.randn(agent.space.size)])
    runs = [
        BatchedEvaluator("Walker2d-v5", agent.space, agent.obs_norm, backend=b).run(
            thetas, episodes=3, seed=2, deterministic=False, max_steps=200
        )
        for b in ("gym", "auto")
    ]
    assert np.array_equal(runs[0].returns, runs[1].returns)
    assert np.array_equal(runs[0].lengths, runs[1].lengths)


def test_halfcheetah_keeps_the_total_mass_its_xml_asks_for(tmp_path, monkeypatch, recwarn):
    """Gymnasium's HalfCheetah XML sets its total mass by `settotalmass`, deprecated since MuJoCo 4.0: a MuJoCo
    that drops the attribute would change HalfCheetah's physics without an error. Its deprecation notice is
    neither printed nor logged to the user's directory (MuJoCo's default: ./MUJOCO_LOG.TXT)."""
    import mujoco

    from landscape.sim.envs import make_env, mujoco_warnings_in_python

    monkeypatch.chdir(tmp_path)
    env = make_env("HalfCheetah-v5")
    assert env.unwrapped.model.body_mass.sum() == pytest.approx(14.0, rel=1e-12)
    env.close()
    assert list(tmp_path.iterdir()) == [] and len(recwarn) == 0
    assert mujoco.get_mju_user_warning() is None  # MuJoCo's own handler is back
    with mujoco_warnings_in_python(), pytest.warns(RuntimeWarning, match="MuJoCo: something else"):
        mujoco.get_mju_user_warning()("something else")  # any other MuJoCo warning still reaches the user
