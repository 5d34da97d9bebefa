"""Import SA-PPO / CAR-PPO lineage checkpoints (`*.model`) as data, never as code.

Those files are torch pickles of a dict with `policy_model`, `val_model`, optimizer states and the
training environments (`envs[0].state_filter.rs` holds the observation statistics). They reference
classes that do not exist here (`policy_gradients.*`, old gym wrappers). We read them with
`landscape.io.torchfile` (never `torch.load`, which would hand a TorchScript archive to `torch.jit.load`):

- tensors, ordered dicts, numeric numpy arrays and dtypes are rebuilt after size checks (an allowlist);
- any global from the lineage's own namespaces becomes an inert stand-in that only stores its state;
- anything else (os.system, builtins.eval, subprocess, ...) is refused before it can be called.
"""

import re
from pathlib import Path

import numpy as np
import torch

from ..core.errors import LandscapeError
from ..core.normalizer import RunningNorm
from ..model.agent import Agent
from ..model.policy import Actor, Critic
from ..sim.envs import ENV_SPECS, env_of_size, layout
from . import torchfile
from .file_checks import check_finite, check_fits

# Namespaces whose classes we replace by stand-ins: the lineage's code, old gym, and numpy RNG state.
STUB_PREFIXES = ("policy_gradients", "robust_ppo", "cox", "custom_env", "gym", "numpy.random", "__main__")


class StandIn:
    """An inert replacement for a class the file names but we do not have: it only keeps its state."""

    def __init__(self, *args, **kwargs):
        self.__dict__["_args"] = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state

    def __getattr__(self, name):
        raise AttributeError(f"{type(self).__qualname__} stand-in has no attribute {name!r}")


_stand_ins: dict[tuple[str, str], type] = {}


def _stand_in(module: str, name: str) -> type:
    key = (module, name)
    if key not in _stand_ins:
        _stand_ins[key] = type(name, (StandIn,), {"__module__": f"stand_in.{module}"})
    return _stand_ins[key]


def _stand_in_for(module: str, name: str) -> type | None:
    if any(module == p or module.startswith(p + ".") for p in STUB_PREFIXES):
        return _stand_in(module, name)
    return None


def read_lineage(path: str | Path) -> dict:
    """Unpickle a lineage file into plain data + stand-ins; a one-line error for anything else."""
    data = torchfile.read(path, "lineage checkpoint", numpy=True, stand_in=_stand_in_for)
    if not isinstance(data, dict) or "policy_model" not in data:
        raise LandscapeError(f"{path}: not an SA-PPO/CAR-PPO checkpoint (no 'policy_model' entry)")
    return data


def _state_dict(obj, prefix="") -> dict:
    """A state dict from either a saved state dict or a stand-in of a pickled nn.Module."""
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    out = {}
    for k, v in (getattr(obj, "__dict__", {}).get("_parameters") or {}).items():
        if v is not None:
            out[prefix + k] = v
    for k, v in (getattr(obj, "__dict__", {}).get("_modules") or {}).items():
        out.update(_state_dict(v, f"{prefix}{k}."))
    return out


def _layers(sd: dict, final: str, path) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) per layer, checked to chain into one MLP (a bad shape is one line, not a traceback)."""
    n = len({k.split(".")[1] for k in sd if k.startswith("affine_layers.")})
    layers = [(sd[f"affine_layers.{i}.weight"], sd[f"affine_layers.{i}.bias"]) for i in range(n)]
    layers.append((sd[f"{final}.weight"], sd[f"{final}.bias"]))
    return check_chain(layers, path, "lineage")


def check_chain(layers: list, path, what: str) -> list:
    """(weight, bias) pairs must be tensors that chain into one MLP and hold finite numbers (one line if not)."""
    width = None
    for i, (w, b) in enumerate(layers):
        if (
            not isinstance(w, torch.Tensor)
            or not isinstance(b, torch.Tensor)
            or w.dim() != 2
            or width not in (None, w.shape[1])
            or tuple(b.shape) != (w.shape[0],)
            or min(w.shape) == 0
        ):
            shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in (w, b)]
            raise LandscapeError(
                f"{path}: {what} layer {i} has weight {shapes[0]} and bias {shapes[1]}, which do not chain into an MLP"
            )
        width = w.shape[0]
    check_finite(path, {f"{what} layer {i}": torch.cat([w.reshape(-1), b]) for i, (w, b) in enumerate(layers)})
    return layers


def env_for(path, env_id: str | None, obs_dim: int, act_dim: int) -> str:
    """The environment of an imported policy: env_id (--env), else what its input size alone names; Ant's
    layout by the input size; one line when it cannot be told or does not fit."""
    env_id = env_id or env_of_size(obs_dim)
    if env_id not in ENV_SPECS:
        raise LandscapeError(f"{path}: cannot tell the environment of this checkpoint; pass --env")
    env_id = layout(env_id, obs_dim, path)
    check_fits(path, env_id, obs_dim, act_dim)
    return env_id


def load_net(net: torch.nn.Sequential, layers) -> None:
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, (w, b) in zip(linears, layers):
            lin.weight.copy_(w.float())
            lin.bias.copy_(b.float())


def _find(obj, attr_path: list[str]):
    for a in attr_path:
        obj = obj.get(a) if isinstance(obj, dict) else getattr(obj, "__dict__", {}).get(a)
        if obj is None:
            return None
    return obj


def env_hint(data) -> str | None:
    """Search the stand-ins' state for a gym id such as 'Hopper-v2' and map it to our v5 id."""
    seen, stack = set(), [data]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            m = re.fullmatch(r"(Hopper|Walker2d|HalfCheetah|Ant)-v\d", obj)
            if m:
                return f"{m.group(1)}-v5"
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif isinstance(obj, StandIn):
            stack.extend(obj.__dict__.values())
    return None


def normalizer(data: dict, obs_dim: int, path) -> RunningNorm:
    envs = data.get("envs")
    filt = _find(envs[0], ["state_filter"]) if isinstance(envs, (list, tuple)) and envs else None
    rs = _find(filt, ["rs"]) if filt is not None else None
    norm = RunningNorm(obs_dim)
    if rs is None:  # no statistics saved: identity normalization
        norm.mean, norm.var, norm.count = np.zeros(obs_dim), np.ones(obs_dim), 0.0
        return norm
    try:
        M, S, n = (np.asarray(_find(rs, [k]), dtype=np.float64) for k in ("_M", "_S", "_n"))
    except (TypeError, ValueError):
        raise LandscapeError(f"{path}: lineage observation filter holds non-numeric statistics")
    if M.shape != (obs_dim,) or S.shape != (obs_dim,) or n.shape != ():
        raise LandscapeError(
            f"{path}: lineage observation filter has shapes {M.shape}/{S.shape}, "
            f"the policy takes {obs_dim} observations"
        )
    check_finite(path, {"observation filter": np.concatenate([M, S, n[None]])})
    n = float(n)
    norm.mean = M
    norm.var = S / (n - 1) if n > 1 else np.square(M)  # RunningStat.var of the lineage
    norm.count = n
    clip = _find(filt, ["clip"])
    norm.clip = float(clip) if isinstance(clip, (int, float)) and clip else 10.0
    return norm


def policy_net(state, path, what: str = "policy") -> Actor:
    """An Actor from a lineage CtsPolicy's state (MLP layers, final_mean, log_stdev); recurrent policies
    and layers that do not chain are one-line errors."""
    sd = _state_dict(state)
    if any(k.startswith(("lstm.", "embedding_layer.")) for k in sd):
        raise LandscapeError(f"{path}: the lineage {what} is an LSTM policy; only MLP Gaussian policies can be loaded")
    try:
        return build_actor(_layers(sd, "final_mean", path), sd["log_stdev"], path, f"lineage {what}")
    except KeyError as err:
        raise LandscapeError(f"{path}: lineage {what} lacks parameter {err}")


def value_net(state, obs_dim: int, path) -> Critic | None:
    if state is None:
        return None
    try:
        return build_critic(_layers(_state_dict(state), "final", path), obs_dim, path)
    except KeyError as err:
        raise LandscapeError(f"{path}: lineage value network lacks parameter {err}")


def build_actor(layers: list, log_std, path, what: str = "policy") -> Actor:
    """Our Actor (tanh MLP, state-independent log-std) from checked (weight, bias) layers."""
    obs_dim, out = layers[0][0].shape[1], layers[-1][0].shape[0]
    if not isinstance(log_std, torch.Tensor) or log_std.numel() != out:
        raise LandscapeError(f"{path}: {what} log-std does not have the network's {out} entries")
    check_finite(path, {f"{what} log-std": log_std})
    actor = Actor(obs_dim, out, tuple(w.shape[0] for w, _ in layers[:-1]))
    load_net(actor.net, layers)
    with torch.no_grad():
        actor.log_std.copy_(log_std.float().reshape(-1))
    return actor


def build_critic(layers: list, obs_dim: int, path) -> Critic:
    if (layers[0][0].shape[1], layers[-1][0].shape[0]) != (obs_dim, 1):
        raise LandscapeError(f"{path}: the value network does not fit the policy's {obs_dim} observations")
    critic = Critic(obs_dim, tuple(w.shape[0] for w, _ in layers[:-1]))
    load_net(critic.net, layers)
    return critic


def load_lineage(path: str | Path, env_id: str | None = None) -> Agent:
    return agent_from_data(read_lineage(path), path, env_id)


def agent_from_data(data: dict, path, env_id: str | None = None) -> Agent:
    """The agent of an unpickled lineage file: its policy, value network and observation filter."""
    actor = policy_net(data["policy_model"], path)
    obs_dim, act_dim = actor.obs_dim, actor.act_dim
    env_id = env_for(path, env_id or env_hint(data), obs_dim, act_dim)
    critic = value_net(data.get("val_model"), obs_dim, path)
    norm = normalizer(data, obs_dim, path)
    norm.frozen = True
    return Agent(
        actor, critic, norm, env_id, algo="imported", eps=ENV_SPECS[env_id].eps, config={"source": str(path)}, step=0
    )
