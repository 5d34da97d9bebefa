"""Import a CleanRL PPO (`ppo_continuous_action.py`'s `<exp>.cleanrl_model`) as data.

The file is `torch.save(agent.state_dict())` of CleanRL's Agent: `actor_mean` and `critic`, each
Sequential(Linear, Tanh, Linear, Tanh, Linear) at indices 0, 2, 4, and `actor_logstd` of shape
(1, act): a tanh MLP Gaussian with a state-independent std, exactly ours. Read by torchfile (never
torch.load); any other parameter (a changed network, a state-dependent std) is refused in one line.
Tanh cannot be checked from a state dict: the script hard-codes it.

Observation statistics: the script keeps them in gymnasium's NormalizeObservation wrapper and does not
save them. If you pickled them (`pickle.dump(envs.envs[0].obs_rms, f)`, a RunningMeanStd, or a dict
with mean and var) beside the model as `<stem>.obs_rms.pkl`, they are used (imported.read_stats; the
script clips normalized observations to +-10). CleanRL does not record the environment either: pass
--env unless the observation size names it.
"""

import re
from pathlib import Path

from ..core.errors import LandscapeError
from ..model.agent import Agent
from . import torchfile
from .imported import mlp_agent, set_stats, stats_beside

KEYS = re.compile(r"(actor_mean|critic)\.\d+\.(weight|bias)|actor_logstd")


def _layers(sd: dict, net: str, path) -> list:
    idx = sorted({int(k.split(".")[1]) for k in sd if k.startswith(f"{net}.") and k.endswith(".weight")})
    if not idx or idx != list(range(0, 2 * len(idx), 2)):
        raise LandscapeError(f"{path}: CleanRL {net} is not an MLP of Linear layers and activations")
    try:
        return [(sd[f"{net}.{i}.weight"], sd[f"{net}.{i}.bias"]) for i in idx]
    except KeyError as err:
        raise LandscapeError(f"{path}: CleanRL agent lacks parameter {err}")


def load_cleanrl(path: str | Path, env_id: str | None = None) -> Agent:
    path = Path(path)
    sd = torchfile.read(path, "CleanRL model")
    if not isinstance(sd, dict) or "actor_mean.0.weight" not in sd or "actor_logstd" not in sd:
        raise LandscapeError(
            f"{path}: not a CleanRL PPO agent (no actor_mean / actor_logstd): only "
            "ppo_continuous_action.py's MLP Gaussian can be represented"
        )
    other = sorted(k for k in sd if not KEYS.fullmatch(k))
    if other:
        raise LandscapeError(
            f"{path}: parameters {', '.join(other[:3])} cannot be represented (an MLP Gaussian "
            "with a state-independent std only)"
        )
    value = _layers(sd, "critic", path) if "critic.0.weight" in sd else None
    agent = mlp_agent(path, env_id, _layers(sd, "actor_mean", path), sd["actor_logstd"], value, "cleanrl")
    return set_stats(agent, stats_beside(path, [f"{path.stem}.obs_rms.pkl"]), path)
