"""Random numbers keyed by (episode seed, step): the same draws for an episode whatever else is batched with it.

A torch.Generator hands out numbers in call order, so what one environment of a batch receives depends on
the batch's shape and on every earlier call. The evaluator instead tells an attack, at each step, which
episode seed each environment column runs (`Keys`); the attack's random numbers for that column are then a
hash of (attack seed, episode seed, step, stream, index) -- counter-based, like Philox -- and are shared by
every parameter vector (common random numbers, as the start states are). A point's attacked returns are then
the same alone, in any chunk, beside any other points, and with any number of episodes.
"""

from dataclasses import dataclass

import numpy as np
import torch

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class Keys:
    """Episode seeds [E] of the environment columns, and the step within the episode."""

    episodes: np.ndarray
    step: int


def _mix(x: np.ndarray) -> np.ndarray:  # splitmix64's finalizer (uint64 arithmetic wraps)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def uniform(keys: Keys, seed: int, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform [0, 1) float32 numbers [E, *shape], a function of (seed, episode seed, step, stream, index)."""
    n = int(np.prod(shape, dtype=np.int64))
    seed_, step_, stream_ = (np.array([v], dtype=np.int64).astype(np.uint64) for v in (seed, keys.step, stream))
    h = _mix(_mix(_mix(seed_ + _GOLD) ^ step_) ^ stream_)  # arrays: uint64 wraps without warnings
    h = _mix(h ^ np.asarray(keys.episodes, dtype=np.int64).astype(np.uint64))  # [E]
    x = _mix(h[:, None] + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * _GOLD)
    u = (x >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)  # 24 bits: exact in float32
    return torch.from_numpy(u.reshape(len(h), *shape))


def normal(keys: Keys, seed: int, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Standard normal float32 numbers [E, *shape] by the inverse CDF of `uniform` (elementwise, so per column)."""
    u = uniform(keys, seed, stream, shape)
    return 2**0.5 * torch.erfinv((2 * u - 1).clamp(-1 + 1e-6, 1 - 1e-6))
