"""Checks of a policy file's contents before anything is built from them: sizes against the environment,
numbers finite. Shared by our checkpoint reader and the importers of other formats (lineage.py)."""

import functools

import torch

from ..core.errors import LandscapeError
from ..sim.envs import env_dims, env_spec


@functools.lru_cache(maxsize=None)
def _env_dims(env_id: str) -> tuple[int, int]:
    return env_dims(env_id)


def expected_shapes(obs_dim: int, act_dim: int, hidden, head: int | None = None) -> dict:
    """Parameter shapes of our Actor (head=None) or Critic (head=1), computed without building one."""
    sizes, out = [obs_dim, *hidden, act_dim if head is None else head], {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        out[f"net.{2 * i}.weight"], out[f"net.{2 * i}.bias"] = (n_out, n_in), (n_out,)
    return out if head is not None else {**out, "log_std": (act_dim,)}


def check_fits(path, env_id, obs_dim: int, act_dim: int | None) -> None:
    """A policy's input/output sizes must be its environment's (else numbers would be silently wrong);
    act_dim None: a learned attacker, whose action size check_adversary compares with its victim."""
    want = _env_dims(env_spec(env_id).env_id)
    if (obs_dim, want[1] if act_dim is None else act_dim) != want:
        gives = "" if act_dim is None else f" and gives {act_dim} actions"
        raise LandscapeError(
            f"{path}: the policy takes {obs_dim} observations{gives}, "
            f"but {env_id} has {want[0]} observations and {want[1]} actions"
        )


def check_finite(path, named: dict) -> None:
    for name, t in named.items():
        try:
            finite = bool(torch.isfinite(torch.as_tensor(t, dtype=torch.float64)).all())
        except (TypeError, ValueError, RuntimeError):
            raise LandscapeError(f"{path}: {name} is not numeric")
        if not finite:
            raise LandscapeError(f"{path}: {name} holds NaN or Inf values")
