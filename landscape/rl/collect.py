"""Experience collection for the PPO core: vectorized environments, one batched policy call per step.

Where the direct-MuJoCo backend supports the environment (physics.py: Hopper, Walker2d, HalfCheetah), the
n environments advance as one MuJoCo batch (`LockstepEnvs`); elsewhere, and for the learned adversary's
MDP, through Gymnasium's SyncVectorEnv. Both give the same batch bit for bit (tests/test_collect.py): same
physics, same same-step autoreset, resets drawn by n real Gymnasium environments from the same seeds.
"""

from collections import deque

import gymnasium as gym
import numpy as np
import torch

from ..core.normalizer import RewardScaler
from ..core.numerics import advantages
from ..model.agent import Agent
from ..sim.envs import make_env
from .ppo import Batch, PPOConfig


class LockstepEnvs:
    """n environments as one MuJoCo batch with SyncVectorEnv's same-step autoreset, its interface's subset
    used here. Resets come from n Gymnasium environments seeded seed + i (as SyncVectorEnv seeds them)
    and are copied into the batch, whose stepping is bit-identical to Gymnasium's (physics.py)."""

    def __init__(self, env_id: str, n: int):
        from ..sim.physics import MujocoVec

        self.vec, self.resetters = MujocoVec(env_id, n), [make_env(env_id) for _ in range(n)]
        self.single_action_space = self.resetters[0].action_space
        self.all = np.ones(n, dtype=bool)

    def _reset(self, i: int, seed: int | None = None) -> np.ndarray:
        obs = self.resetters[i].reset(seed=seed)[0]
        self.vec.load(i, self.resetters[i])
        return obs

    def reset(self, seed: int):
        return np.stack([self._reset(i, seed + i) for i in range(self.vec.n)]), {}

    def step(self, actions: np.ndarray):
        obs, reward, term, trunc = self.vec.step(actions, self.all)
        done, info = term | trunc, {}
        if done.any():
            info["final_obs"] = obs.copy()
            for i in np.flatnonzero(done):
                obs[i] = self._reset(i)
        return obs, reward, term, trunc, info

    def close(self) -> None:
        for env in self.resetters:
            env.close()


def make_envs(env_id: str, n: int, env_fn=None, backend: str = "auto"):
    """The collector's n environments: the MuJoCo batch where supported (backend 'auto'), else -- or with
    backend 'gym', or an env_fn such as the adversary's MDP -- Gymnasium's SyncVectorEnv."""
    from ..sim.physics import supported

    if env_fn is None and backend == "auto" and supported(env_id):
        return LockstepEnvs(env_id, n)
    env_fn = env_fn or (lambda: make_env(env_id))
    return gym.vector.SyncVectorEnv([env_fn] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


class Collector:
    def __init__(self, agent: Agent, cfg: PPOConfig, seed: int, env_fn=None, backend: str = "auto"):
        """env_fn builds one environment (default: the agent's MuJoCo env); the learned adversary
        passes its adversary MDP here and reuses everything else. backend: see make_envs."""
        self.agent, self.cfg = agent, cfg
        self.envs = make_envs(agent.env_id, cfg.n_envs, env_fn, backend)
        self.low, self.high = self.envs.single_action_space.low, self.envs.single_action_space.high
        self.obs, _ = self.envs.reset(seed=seed)
        self.scaler = RewardScaler(cfg.n_envs, cfg.gamma) if cfg.reward_scaling else None
        self.ep_ret = np.zeros(cfg.n_envs)
        self.ep_len = np.zeros(cfg.n_envs, dtype=int)
        self.episodes: deque = deque(maxlen=100)  # (return, length) of recently finished episodes

    @torch.no_grad()
    def _value(self, obs: np.ndarray) -> np.ndarray:
        return self.agent.critic(self.agent.normalize(obs)).numpy().astype(np.float64)

    @torch.no_grad()
    def collect(self) -> Batch:
        """One iteration of experience. The networks do not change while collecting, so only the action
        is computed per step; log pi_old(a|z) and V_old(z) come from one batched call at the end."""
        agent, cfg, n = self.agent, self.cfg, self.cfg.n_envs
        T = max(cfg.steps_per_iter // n, 1)
        # Actor.dist(z) is N(actor(z), exp(log_std)); sampling with torch.normal directly draws the same
        # numbers from the same generator without building a Distribution object every step.
        std = agent.actor.log_std.exp().expand(n, -1)
        zs, acts = [], []
        rewards, dones = np.zeros((T, n)), np.zeros((T, n))
        for t in range(T):
            agent.obs_norm.update(self.obs)
            z = agent.normalize(self.obs)
            a = torch.normal(agent.actor(z), std)
            zs.append(z), acts.append(a)
            self.obs, r, term, trunc, info = self.envs.step(np.clip(a.numpy(), self.low, self.high))
            done = term | trunc
            self.ep_ret += r
            self.ep_len += 1
            rewards[t] = self.scaler(r, done) if self.scaler else r
            dones[t] = done
            if done.any():
                cut = trunc & ~term
                if cut.any():  # a time limit is not a terminal state: bootstrap through it
                    final = np.stack([info["final_obs"][i] for i in np.flatnonzero(cut)])
                    rewards[t, cut] += cfg.gamma * self._value(final)
                for i in np.flatnonzero(done):
                    self.episodes.append((self.ep_ret[i], self.ep_len[i]))
                self.ep_ret[done], self.ep_len[done] = 0.0, 0
        z, actions = torch.cat(zs), torch.cat(acts)
        logp, v = agent.actor.log_prob(z, actions), agent.critic(z)
        values = v.numpy().astype(np.float64).reshape(T, n)
        # rewards were scaled by the scaler the critic learns from: one scale
        adv, ret = advantages(
            rewards, values, dones, cfg.gamma, cfg.lam, same_scale=True, last_values=self._value(self.obs)
        )
        f32 = lambda x: torch.as_tensor(x.reshape(-1), dtype=torch.float32)  # noqa: E731
        return Batch(z, actions, logp, v, f32(adv), f32(ret))

    def close(self) -> None:
        self.envs.close()
