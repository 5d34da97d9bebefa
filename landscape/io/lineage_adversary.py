"""The SA-PPO lineage's learned adversaries as `--adversary` files, read as data (lineage.read_lineage).

ATLA's `attack-*.model` and PA-AD's director files (`get_best_pickle.py`'s dump of an `adv_ppo` or
`adv_pa_ppo` run; ATLA's own `model-atla-*.model` too) are one dict: the victim the adversary was trained
against -- `policy_model`, `val_model` and `envs` with its observation filter, frozen during an attack
run (ppo_lr_adam 0) -- and `adversary_policy_model`, a lineage MLP on the victim's *normalized*
observation z. Its output size says what it is:

- obs_dim outputs: ATLA's optimal adversary, replayed as ATLA's `advpolicy` attack does:
  z' = z + eps * hardtanh(mean), which is our `optimal` attack;
- act_dim outputs: a PA-AD director, whose mean (not clipped) is the direction PA-AD's own actor
  (paad.reference_actor_step) turns into z'.

The adversary becomes an Agent that sees z exactly: its observation filter is its victim's, so the
attacks' raw -> normalize round trip gives z back. Its config records the fingerprint of the file's own
victim, so check_adversary refuses it for any other policy, environment or observation statistics.
The files do not record eps; the released ones were trained at the environment's standard eps (ATLA /
PA-AD configs: robust_ppo_eps, Hopper 0.075, Walker2d 0.05, HalfCheetah 0.15, Ant 0.15), so that is the
eps they are taken to serve and any other is refused.
"""

from pathlib import Path

from ..core.errors import LandscapeError
from ..core.normalizer import RunningNorm
from ..model.agent import Agent, fingerprint
from ..sim.envs import ENV_SPECS
from .lineage import agent_from_data, env_hint, policy_net, read_lineage, value_net

PAAD_START_STEPS = 10  # PA-AD's configs: attack_steps 10, so its actor starts uniformly within eps / 10


def _adversary_state(data: dict, path):
    state = data.get("adversary_policy_model")
    if state is None:
        raise LandscapeError(f"{path}: a lineage file without adversary_policy_model, not a learned adversary")
    return state


def _kind(n_out: int, victim: Agent, path) -> str:
    if n_out == victim.actor.obs_dim:
        return "optimal"
    if n_out == victim.actor.act_dim:
        return "paad"
    raise LandscapeError(
        f"{path}: the adversary gives {n_out} outputs, neither the victim's {victim.actor.obs_dim} "
        f"observations (ATLA) nor its {victim.actor.act_dim} actions (PA-AD)"
    )


def served(path: str | Path) -> str:
    """The attack a lineage adversary file serves: optimal (ATLA) or paad (PA-AD director)."""
    data = read_lineage(path)
    actor = policy_net(_adversary_state(data, path), path, "adversary")
    victim = policy_net(data["policy_model"], path)
    if actor.obs_dim != victim.obs_dim:
        raise LandscapeError(f"{path}: the adversary takes {actor.obs_dim} observations, its victim {victim.obs_dim}")
    return "optimal" if actor.act_dim == victim.obs_dim else "paad"


def load_adversary(path: str | Path, env_id: str | None = None) -> Agent:
    """The adversary of a lineage file as an Agent for attacks/ (env_id: used only when the file does not
    name its environment)."""
    data = read_lineage(path)
    state = _adversary_state(data, path)
    victim = agent_from_data(data, path, env_hint(data) or env_id)
    actor = policy_net(state, path, "adversary")
    if actor.obs_dim != victim.actor.obs_dim:
        raise LandscapeError(
            f"{path}: the adversary takes {actor.obs_dim} observations, its victim {victim.actor.obs_dim}"
        )
    kind = _kind(actor.act_dim, victim, path)
    critic = value_net(data.get("adversary_val_model"), actor.obs_dim, path)
    norm = RunningNorm.from_state(victim.obs_norm.state_dict())  # the adversary sees the victim's z
    norm.frozen = True
    config = {
        "source": str(path),
        "victim_env": victim.env_id,
        "victim_fingerprint": fingerprint(victim),
        "eps_assumed": "the environment's standard (lineage files do not record eps)",
    }
    if kind == "paad":
        config.update(actor="paad-reference", start_steps=PAAD_START_STEPS)
    return Agent(
        actor,
        critic,
        norm,
        victim.env_id,
        algo="adversary" if kind == "optimal" else "paad",
        eps=ENV_SPECS[victim.env_id].eps,
        config=config,
        step=0,
    )
