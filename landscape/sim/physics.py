"""Direct-MuJoCo batch of environments: the fast backend of vecenv.make_vec.

All live environments advance in one call to MuJoCo's thread-pooled batch (`mujoco.batch.Batch`,
MuJoCo >= 4.0); observation, reward, termination and the TimeLimit truncation of the Gymnasium v5
environment are then rebuilt in numpy, vectorized over environments. Resets go through one real
Gymnasium environment (so every seed gives exactly Gymnasium's start state) and are checked against
its observation.

Why Batch and not `mujoco.rollout`: a rollout starts every call from a zero (or given) qacc_warmstart
and does not return the warmstart it ends with, so chaining env steps through it cannot reproduce
Gymnasium's solver warmstart; the drift reaches 1e-10 on Walker2d and O(1) on HalfCheetah within 300
steps. Batch keeps each simulation's whole integration state (warmstart included) and is bit-identical
to stepping one MjData per environment.

Reward/termination parameters are read from the Gymnasium instance; the formulas are Gymnasium v5's
(hopper_v5.py, walker2d_v5.py, half_cheetah_v5.py).
"""

import mujoco
import numpy as np
from mujoco.batch import Batch  # ImportError on MuJoCo < 4.0: make_vec then falls back to GymVec

from .envs import make_env

NTHREAD = 2  # the machine's cores; Batch results do not depend on it (set_threads changes it)
INTEGRATION = mujoco.mjtState.mjSTATE_INTEGRATION

# Per environment: the Gymnasium class whose formulas are rebuilt here, the velocity clip in its
# observation (None: no clip) and its health test ("z_angle_state", "z_angle" or None: never unhealthy).
_RULES = {
    "Hopper-v5": ("HopperEnv", 10.0, "z_angle_state"),
    "Walker2d-v5": ("Walker2dEnv", 10.0, "z_angle"),
    "HalfCheetah-v5": ("HalfCheetahEnv", None, None),
}


def set_threads(n: int) -> None:
    """MuJoCo batch threads for the batches built from now on in this process (a Ray task holding one CPU
    asks for 1), process-wide like torch.set_num_threads; results do not depend on it."""
    global NTHREAD
    NTHREAD = n


def supported(env_id: str) -> bool:
    return env_id in _RULES


class MujocoVec:
    """n environments of one id stepped as a MuJoCo batch; the interface of vecenv.GymVec."""

    def __init__(self, env_id: str, n: int):
        if not supported(env_id):
            raise ValueError(f"no direct-MuJoCo backend for {env_id}")
        self.env_id, self.n = env_id, n
        self._env = make_env(env_id)  # resets, parameters, spaces
        u = self._env.unwrapped
        cls, self._vel_clip, self._health = _RULES[env_id]
        if type(u).__name__ != cls:
            raise ValueError(f"{env_id} is {type(u).__name__}, expected {cls}")
        space = self._env.action_space
        self.low, self.high = space.low, space.high
        self.obs_dim = self._env.observation_space.shape[0]
        self.act_dim = space.shape[0]
        self.max_steps = self._env.spec.max_episode_steps or 1000
        # Python scalars as Gymnasium holds them, so numpy promotes dtypes exactly as Gymnasium does
        self._frame_skip, self._dt = u.frame_skip, u.dt
        self._w_forward, self._w_ctrl = u._forward_reward_weight, u._ctrl_cost_weight
        self._exclude_x = u._exclude_current_positions_from_observation
        if self._health is not None:
            self._healthy_reward, self._terminate = u._healthy_reward, u._terminate_when_unhealthy
            self._z_range, self._angle_range = u._healthy_z_range, u._healthy_angle_range
            if self._health == "z_angle_state":
                self._state_range = u._healthy_state_range
        self._batch = Batch(u.model, nsim=n, nthread=NTHREAD)
        self._qpos, self._qvel = self._batch.bind("qpos"), self._batch.bind("qvel")
        self._ctrl = self._batch.bind("ctrl")
        self._t = np.zeros(n, dtype=int)  # steps since reset, for the TimeLimit

    def reset(self, seeds) -> np.ndarray:
        """Gymnasium's reset for each seed, copied (whole integration state) into the batch."""
        seeds = list(seeds)
        if len(seeds) != self.n:
            raise ValueError(f"reset needs {self.n} seeds, got {len(seeds)}")
        obs = np.empty((self.n, self.obs_dim))
        for i, seed in enumerate(seeds):
            obs[i] = self._env.reset(seed=int(seed))[0]
            self.load(i, self._env)
        mine = self._obs(self._qpos, self._qvel)
        if not np.array_equal(mine, obs):  # guards the observation rebuild against Gymnasium changes
            raise RuntimeError(f"{self.env_id}: rebuilt observation differs from Gymnasium's at reset")
        return obs

    def step(self, actions: np.ndarray, live: np.ndarray):
        """Step the live environments; dead ones keep obs 0 and reward 0. Actions are clipped here."""
        actions = np.clip(actions, self.low, self.high)
        ids = np.flatnonzero(live)
        obs = np.zeros((self.n, self.obs_dim))
        reward, term, trunc = np.zeros(self.n), np.zeros(self.n, bool), np.zeros(self.n, bool)
        if ids.size == 0:
            return obs, reward, term, trunc
        act = actions[ids]
        x_before = self._qpos[ids, 0].copy()
        self._ctrl[ids] = act
        self._batch.step(None if ids.size == self.n else ids, nstep=self._frame_skip)
        qpos, qvel = self._qpos[ids], self._qvel[ids]
        x_velocity = (qpos[:, 0] - x_before) / self._dt
        ctrl_cost = self._w_ctrl * np.sum(np.square(act), axis=1)
        if self._health is None:
            reward[ids] = self._w_forward * x_velocity - ctrl_cost
        else:
            healthy = self._healthy(qpos, qvel)
            reward[ids] = self._w_forward * x_velocity + healthy * self._healthy_reward - ctrl_cost
            term[ids] = ~healthy & self._terminate
        obs[ids] = self._obs(qpos, qvel)
        self._t[ids] += 1
        trunc[ids] = self._t[ids] >= self.max_steps
        return obs, reward, term, trunc

    def load(self, i: int, env) -> None:
        """Copy a Gymnasium environment's whole integration state into simulation i (an autoreset) and
        restart its TimeLimit count."""
        u, row = env.unwrapped, np.empty(self._batch.nstate)
        mujoco.mj_getState(u.model, u.data, row, INTEGRATION)
        self._batch.state[i] = row
        self._t[i] = 0

    def _obs(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        position = qpos[:, 1:] if self._exclude_x else qpos
        velocity = qvel if self._vel_clip is None else np.clip(qvel, -self._vel_clip, self._vel_clip)
        return np.concatenate([position, velocity], axis=1)

    def _healthy(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """Gymnasium's is_healthy (strict inequalities), per environment."""
        z, angle = qpos[:, 1], qpos[:, 2]
        ok = (self._z_range[0] < z) & (z < self._z_range[1])
        ok &= (self._angle_range[0] < angle) & (angle < self._angle_range[1])
        if self._health == "z_angle_state":  # state_vector()[2:]
            state = np.concatenate([qpos, qvel], axis=1)[:, 2:]
            lo, hi = self._state_range
            ok &= np.all((lo < state) & (state < hi), axis=1)
        return ok

    def close(self) -> None:
        self._env.close()
        self._batch = None
