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
    return -((mu - Y) ** 2).sum(-1) - H * sigma ** 2


def exact_gradient(w: np.ndarray, b: float, log_std: float) -> np.ndarray:
    """Gradient of the stochastic policy's expected return w.r.t. (log_std, w1, w2, b) -- flat.ParamSpace order."""
    z = X / NORM
    err = z @ w + b - Y
    return np.array([-2 * H * np.exp(2 * log_std), *(-2 * err @ z), -2 * err.sum()])
