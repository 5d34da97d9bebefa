"""Import a Stable-Baselines3 PPO (`model.zip`) as data: MLP Gaussian policies only.

The zip holds `data` (JSON: spaces, policy_kwargs, use_sde, ...; entries SB3 could not write as JSON are
cloudpickled and are ignored here -- only the plain JSON fields beside them are read) and `policy.pth`
(the policy's state dict, read by torchfile). What can be represented: `MlpPolicy` / ActorCriticPolicy
with separate policy and value MLPs (`mlp_extractor.policy_net.*`, `action_net`, `mlp_extractor.value_net.*`,
`value_net`), tanh activations (SB3's default for PPO), a state-independent log-std, a Box action space.
Refused in one line: another activation, gSDE (use_sde), squashed outputs, shared layers, CNN / dict
feature extractors, discrete actions.

Observation statistics: SB3 saves VecNormalize separately (`VecNormalize.save`, a pickle); it is read
from beside the zip (`<stem>_vecnormalize.pkl`, `<stem>.vecnormalize.pkl` or rl-zoo's `vecnormalize.pkl`)
through imported.read_stats. SB3 does not record the environment: pass --env unless the observation size
names it (imported from lineage.env_for).
"""

import json
import re
import zipfile
from pathlib import Path

from ..core.errors import LandscapeError, describe
from ..model.agent import Agent
from . import torchfile
from .imported import mlp_agent, set_stats, stats_beside

MAX_ENTRY = 256 << 20  # a PPO MLP's policy.pth is kilobytes to megabytes: refuse entries that inflate past this
TANH = "<class 'torch.nn.modules.activation.Tanh'>"


def _entry(zf: zipfile.ZipFile, name: str, path) -> bytes:
    if name not in zf.namelist():
        raise LandscapeError(f"{path}: not a Stable-Baselines3 model (no {name} in the zip)")
    with zf.open(name) as f:
        raw = f.read(MAX_ENTRY + 1)
    if len(raw) > MAX_ENTRY:
        raise LandscapeError(f"{path}: {name} inflates past {MAX_ENTRY >> 20} MiB; refusing it")
    return raw


def _read(path) -> tuple[dict, dict]:
    try:
        with zipfile.ZipFile(path) as zf:
            data, policy = _entry(zf, "data", path), _entry(zf, "policy.pth", path)
        data = json.loads(data)
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise LandscapeError(f"{path}: cannot read as a Stable-Baselines3 model ({describe(err)})")
    sd = torchfile.read_bytes(policy, f"{path}:policy.pth", "Stable-Baselines3 policy")
    if not isinstance(data, dict) or not isinstance(sd, dict):
        raise LandscapeError(f"{path}: not a Stable-Baselines3 model (data or policy.pth is not a dict)")
    return data, sd


def _check_settings(data: dict, path) -> None:
    """The plain-JSON settings that decide whether the policy is one of ours (cloudpickled blobs unread)."""
    kwargs = data.get("policy_kwargs") or {}
    act = kwargs.get("activation_fn", TANH) if isinstance(kwargs, dict) else TANH
    if act != TANH:
        name = re.sub(r"^<class '(?:[\w.]+\.)?(\w+)'>$", r"\1", str(act))
        raise LandscapeError(f"{path}: activation {name} cannot be represented (landscape policies are tanh MLPs)")
    if data.get("use_sde") or (isinstance(kwargs, dict) and kwargs.get("squash_output")):
        raise LandscapeError(
            f"{path}: gSDE / squashed-output policies cannot be represented (only a Gaussian with "
            "a state-independent std)"
        )
    space = data.get("action_space")
    if not isinstance(space, dict) or "Box" not in str(space.get(":type:")):
        raise LandscapeError(f"{path}: only continuous (Box) action spaces can be represented")


def _layers(sd: dict, prefix: str, head: str, path) -> list:
    idx = sorted({int(m.group(1)) for k in sd for m in [re.fullmatch(rf"{re.escape(prefix)}\.(\d+)\.weight", k)] if m})
    if idx != list(range(0, 2 * len(idx), 2)):  # Linear at even indices, the activation between
        raise LandscapeError(f"{path}: {prefix} is not an MLP of Linear layers and activations")
    try:
        return [(sd[f"{prefix}.{i}.weight"], sd[f"{prefix}.{i}.bias"]) for i in idx] + [
            (sd[f"{head}.weight"], sd[f"{head}.bias"])
        ]
    except KeyError as err:
        raise LandscapeError(f"{path}: Stable-Baselines3 policy lacks parameter {err}")


def _check_keys(sd: dict, path) -> None:
    known = re.compile(
        r"(mlp_extractor\.(policy|value)_net\.\d+\.(weight|bias)|(action|value)_net\.(weight|bias)|log_std)"
    )
    other = sorted(k for k in sd if not known.fullmatch(k))
    if other:
        what = "shared layers" if any("shared" in k for k in other) else "parameters"
        raise LandscapeError(
            f"{path}: not an MLP Gaussian policy that fits ({what} {', '.join(other[:3])}"
            f"{', ...' if len(other) > 3 else ''} cannot be represented)"
        )
    if "log_std" not in sd:
        raise LandscapeError(f"{path}: no log_std: not a Gaussian policy with a state-independent std")


def load_sb3(path: str | Path, env_id: str | None = None) -> Agent:
    path = Path(path)
    data, sd = _read(path)
    _check_settings(data, path)
    _check_keys(sd, path)
    policy = _layers(sd, "mlp_extractor.policy_net", "action_net", path)
    value = _layers(sd, "mlp_extractor.value_net", "value_net", path) if "value_net.weight" in sd else None
    agent = mlp_agent(path, env_id, policy, sd["log_std"], value, "sb3")
    names = [f"{path.stem}_vecnormalize.pkl", f"{path.stem}.vecnormalize.pkl", "vecnormalize.pkl"]
    return set_stats(agent, stats_beside(path, names), path)
