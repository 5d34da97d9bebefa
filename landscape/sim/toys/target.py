"""ToyTarget-v0: a fixed sequence of observations and quadratic rewards, for exact landscape tests.

At step t = 0..H-1 the observation is X[t] (no randomness) and the reward is -(a_t - Y[t])^2 for the
scalar action a_t. A linear policy mu(z) = w.z + b on z = X[t] / (1 + 1e-8) (identity normalizer)
therefore has the closed-form deterministic return

    J(w, b) = -sum_t (w.z_t + b - Y[t])^2,

and with Gaussian exploration of std sigma the expected return J - H sigma^2. `exact_return` and
`exact_gradient` give both, so scans and gradient estimates can be checked against the formula.
"""

import gymnasium as gym
import numpy as np

X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]])
Y = np.array([0.5, -1.0, 0.0, 2.0])
H = len(Y)
NORM = 1.0 + 1e-8  # the identity normalizer's divisor (std + 1e-8)


class TargetEnv(gym.Env):
    observation_space = gym.spaces.Box(-10.0, 10.0, shape=(2,), dtype=np.float64)
    action_space = gym.spaces.Box(-10.0, 10.0, shape=(1,), dtype=np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return X[0].copy(), {}

    def step(self, action):
        r = -float((np.asarray(action, dtype=np.float64).reshape(-1)[0] - Y[self.t]) ** 2)
        self.t += 1
        done = self.t == H
        return (X[self.t] if not done else np.zeros(2)).copy(), r, done, False, {}


def exact_return(w: np.ndarray, b: np.ndarray, sigma: float = 0.0) -> np.ndarray:
    """J for linear policies; w [..., 2], b [...]; sigma > 0 gives the stochastic policy's expectation."""
    mu = np.einsum("...i,ti->...t", w, X / NORM) + np.asarray(b)[..., None]
    return -((mu - Y) ** 2).sum(-1) - H * sigma**2


def exact_gradient(w: np.ndarray, b: float, log_std: float) -> np.ndarray:
    """Gradient of the stochastic policy's expected return w.r.t. (log_std, w1, w2, b) -- flat.ParamSpace order."""
    z = X / NORM
    err = z @ w + b - Y
    return np.array([-2 * H * np.exp(2 * log_std), *(-2 * err @ z), -2 * err.sum()])


def optimum() -> tuple[np.ndarray, float]:
    """(w, b) maximizing J: least squares of Y on (X / NORM, 1) -- the only stationary point in (w, b)."""
    A = np.concatenate([X / NORM, np.ones((H, 1))], 1)
    sol, *_ = np.linalg.lstsq(A, Y, rcond=None)
    return sol[:2], float(sol[2])


def make_agent(w=(0.0, 0.0), b: float = 0.0, log_std: float = float(np.log(0.5))):
    """An Agent for ToyTarget-v0: identity normalizer, linear policy mu = w.z + b; flat layout
    (log_std, w1, w2, b)."""
    from ...model.agent import Agent

    agent = Agent.new("ToyTarget-v0", 2, 1, hidden=())
    agent.obs_norm.count = 1.0  # identity statistics: mean 0, var 1
    agent.obs_norm.frozen = True
    agent.space.assign(agent.actor, to_theta(w, b, log_std))
    return agent


def to_theta(w, b, log_std: float = float(np.log(0.5))):
    import torch

    w = np.asarray(w, dtype=np.float64)
    single = w.ndim == 1
    w = w.reshape(-1, 2)
    n = w.shape[0]
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), (n,))
    out = np.concatenate([np.full((n, 1), float(log_std)), w, b[:, None]], 1)
    out = torch.tensor(out, dtype=torch.float32)
    return out[0] if single else out


def sample_trajectories(thetas, episodes: int, rng: np.random.Generator) -> dict:
    """Episodes of the stochastic linear policies thetas [K, 4] drawn directly from the closed-form MDP (no
    Gymnasium: fast, for repeated-sampling tests), in the layout of evaluator.Rollouts.trajectories;
    independent noise for every (point, episode)."""
    th = np.asarray(thetas, dtype=np.float64).reshape(-1, 4)
    K, E = th.shape[0], episodes
    z = np.broadcast_to((X / NORM)[:, None, None, :], (H, K, E, 2)).copy()
    mu = np.einsum("tkei,ki->tke", z, th[:, 1:3]) + th[None, :, None, 3]
    a = mu + np.exp(th[None, :, None, 0]) * rng.standard_normal((H, K, E))
    r = -((a - Y[:, None, None]) ** 2)
    return {
        "z": z.astype(np.float32),
        "actions": a.reshape(H, K * E, 1),
        "rewards": r.reshape(H, K * E),
        "live": np.ones((H, K * E), bool),
    }
