"""The adversary MDP (SA-RL / ATLA): the environment seen by a learned observation adversary.

Around a frozen victim: the adversary observes the raw environment observation s, its action
a in [-1, 1]^obs perturbs the victim's normalized observation to z' = z + eps * clip(a, -1, 1), the
victim takes its deterministic (mean) action at z' -- as in evaluation -- and the adversary's reward
is minus the victim's reward. Episodes end when the victim's do.
"""

import gymnasium as gym
import numpy as np
import torch

from ..model.agent import Agent
from ..sim.envs import make_env


class AdversaryEnv(gym.Env):
    metadata: dict = {}

    def __init__(self, victim: Agent, eps: float):
        self.victim, self.eps = victim, float(eps)
        self.env = make_env(victim.env_id)
        self.observation_space = self.env.observation_space
        self.action_space = gym.spaces.Box(-1.0, 1.0, self.observation_space.shape, np.float32)
        self.low, self.high = self.env.action_space.low, self.env.action_space.high
        self.spec = self.env.spec  # time limit, for tools that read it
        self._obs = None

    def perturb(self, obs: np.ndarray, action: np.ndarray) -> torch.Tensor:
        """The victim's observation z' under the adversary's action (also used by tests)."""
        delta = torch.as_tensor(np.clip(action, -1.0, 1.0), dtype=torch.float32)
        return self.victim.normalize(obs) + self.eps * delta

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._obs, info = self.env.reset(seed=seed, options=options)
        return self._obs, info

    @torch.no_grad()
    def step(self, action):
        victim_action = self.victim.actor(self.perturb(self._obs, action)).numpy()
        self._obs, reward, term, trunc, info = self.env.step(np.clip(victim_action, self.low, self.high))
        info["victim_reward"] = reward
        return self._obs, -reward, term, trunc, info

    def close(self):
        self.env.close()
