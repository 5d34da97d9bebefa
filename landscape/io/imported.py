"""What the Stable-Baselines3 and CleanRL importers share: an MLP Gaussian policy from (weight, bias)
layers, and observation statistics read from a pickle as data.

Both libraries normalize observations as z = clip((s - mean) / sqrt(var + epsilon), -clip, clip)
(SB3's VecNormalize; gymnasium's NormalizeObservation then CleanRL's clip to +-10), where ours (and
SA-PPO's) is (s - mean) / (sqrt(var) + 1e-8): we store var' = (sqrt(var + epsilon) - 1e-8)^2, which
gives the same z to float rounding.

The statistics pickle is read by torchfile.read_pickle: numeric numpy arrays and dtypes are rebuilt,
SB3's / gymnasium's own classes (VecNormalize, RunningMeanStd, Box) become inert stand-ins that only
keep their state, and any other global (os.system, ...) is refused before it can be called.
"""

import sys
from pathlib import Path

import numpy as np

from ..core.errors import LandscapeError
from ..core.normalizer import RunningNorm
from ..model.agent import Agent
from ..sim.envs import ENV_SPECS
from . import torchfile
from .lineage import StandIn, build_actor, build_critic, check_chain, env_for

STATS_PREFIXES = ("stable_baselines3", "gymnasium", "gym", "numpy.random")


def _stand_in_for(module: str, name: str):
    from .lineage import _stand_in

    if any(module == p or module.startswith(p + ".") for p in STATS_PREFIXES):
        return _stand_in(module, name)
    return None


def _get(obj, name: str, default=None):
    if isinstance(obj, dict):
        return obj.get(name, default)
    return obj.__dict__.get(name, default) if isinstance(obj, StandIn) else default


def read_stats(path) -> RunningNorm | None:
    """Observation statistics from a pickled VecNormalize, RunningMeanStd (SB3's or gymnasium's) or a dict
    with mean / var (and optionally epsilon, clip_obs); None when the VecNormalize did not normalize them."""
    obj = torchfile.read_pickle(path, "observation statistics file", stand_in=_stand_in_for)
    if _get(obj, "norm_obs", True) is False:
        return None
    rms = _get(obj, "obs_rms", obj)
    if isinstance(rms, dict) and "mean" not in rms:
        raise LandscapeError(f"{path}: statistics of dict observations cannot be represented")
    try:
        mean, var = (np.asarray(_get(rms, k), dtype=np.float64) for k in ("mean", "var"))
        eps, clip = float(_get(obj, "epsilon", 1e-8)), float(_get(obj, "clip_obs", 10.0))
    except (TypeError, ValueError):
        raise LandscapeError(f"{path}: not observation statistics (no numeric mean / var)")
    if (
        mean.ndim != 1
        or mean.shape != var.shape
        or not np.all(np.isfinite(var))
        or np.any(var < 0)
        or not np.all(np.isfinite(mean))
        or not eps > 0
        or not clip > 0
    ):
        raise LandscapeError(
            f"{path}: observation statistics are malformed (shapes {mean.shape} / {var.shape}, "
            "or negative, NaN or Inf entries)"
        )
    norm = RunningNorm(len(mean), clip=clip)
    norm.mean, norm.var = mean, (np.sqrt(var + eps) - 1e-8) ** 2  # sqrt(var') + 1e-8 == sqrt(var + eps)
    norm.count = float(_get(rms, "count", 0.0) or 0.0)
    return norm


def stats_beside(ckpt: Path, names: list[str]) -> RunningNorm | None:
    """The statistics in the first of `names` (in the checkpoint's directory) that exists, said on stderr;
    None (and said) when there is none: the policy then sees raw observations."""
    for name in names:
        f = ckpt.with_name(name)
        if f.is_file():
            norm = read_stats(f)
            print(f"using the observation statistics {f}", file=sys.stderr)
            return norm
    print(
        f"no observation statistics beside {ckpt} ({', '.join(names)}): observations are not normalized",
        file=sys.stderr,
    )
    return None


def mlp_agent(path, env_id: str | None, policy: list, log_std, value: list | None, algo: str) -> Agent:
    """An Agent from checked layers: policy (weight, bias) pairs to the mean action, its log-std and the
    value network's layers (or None); observations unnormalized until set_stats."""
    check_chain(policy, path, "policy")
    actor = build_actor(policy, log_std, path)
    env_id = env_for(path, env_id, actor.obs_dim, actor.act_dim)
    critic = build_critic(check_chain(value, path, "value"), actor.obs_dim, path) if value else None
    norm = RunningNorm(actor.obs_dim, clip=np.inf)
    norm.var = np.full(actor.obs_dim, (1 - 1e-8) ** 2)  # identity: sqrt(var) + 1e-8 == 1
    norm.frozen = True
    return Agent(
        actor, critic, norm, env_id, algo=algo, eps=ENV_SPECS[env_id].eps, config={"source": str(path)}, step=0
    )


def set_stats(agent: Agent, norm: RunningNorm | None, path) -> Agent:
    """Give the agent its observation statistics (None: keep raw observations), checked against its input."""
    if norm is not None:
        if norm.mean.shape != (agent.actor.obs_dim,):
            raise LandscapeError(
                f"{path}: the observation statistics have {norm.mean.shape[0]} entries, the "
                f"policy takes {agent.actor.obs_dim}"
            )
        norm.frozen = True
        agent.obs_norm = norm
    return agent
