"""Running observation / reward statistics in the SA-PPO convention.

z = clip((s - mean) / (std + 1e-8), -clip, clip) with std = sqrt(var) -- the same formula as the
SA-PPO ZFilter, so imported lineage checkpoints act identically.
"""

import numpy as np


class RunningNorm:
    def __init__(self, dim: int, clip: float = 10.0, center: bool = True):
        self.mean = np.zeros(dim)
        self.var = np.ones(dim)
        self.count = 0.0
        self.clip = clip
        self.center = center
        self.frozen = False

    def update(self, batch: np.ndarray) -> None:
        """Merge a batch [n, dim] into the statistics (parallel Welford, exact for any split)."""
        if self.frozen:
            return
        batch = np.asarray(batch, dtype=np.float64).reshape(-1, self.mean.shape[0])
        n = batch.shape[0]
        if n == 0:
            return
        if n == 1:  # the collector's per-step call: mean and variance of one row need no reductions
            b_mean, b_var = batch[0].copy(), np.zeros(batch.shape[1])
        else:
            b_mean, b_var = batch.mean(0), batch.var(0)
        if self.count == 0:
            self.mean, self.var, self.count = b_mean, b_var, float(n)
            return
        total = self.count + n
        delta = b_mean - self.mean
        m2 = self.var * self.count + b_var * n + delta**2 * self.count * n / total
        self.mean = self.mean + delta * n / total
        self.var = m2 / total
        self.count = total

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.center:
            x = x - self.mean
        return np.clip(x / (np.sqrt(self.var) + 1e-8), -self.clip, self.clip)

    def state_dict(self) -> dict:
        return {
            "mean": self.mean.tolist(),
            "var": self.var.tolist(),
            "count": float(self.count),
            "clip": float(self.clip),
            "center": bool(self.center),
        }

    @classmethod
    def from_state(cls, state: dict) -> "RunningNorm":
        norm = cls(len(state["mean"]), clip=state.get("clip", 10.0), center=state.get("center", True))
        norm.mean = np.asarray(state["mean"], dtype=np.float64)
        norm.var = np.asarray(state["var"], dtype=np.float64)
        norm.count = float(state["count"])
        return norm


class RewardScaler:
    """SA-PPO reward scaling: divide rewards by the running std of the discounted return."""

    def __init__(self, n_envs: int, gamma: float, clip: float = 10.0):
        self.stats = RunningNorm(1, clip=clip, center=False)
        self.ret = np.zeros(n_envs)
        self.gamma = gamma

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        self.ret = self.ret * self.gamma + reward
        self.stats.update(self.ret[:, None])
        scaled = self.stats(reward[:, None])[:, 0]
        self.ret[done] = 0.0
        return scaled
