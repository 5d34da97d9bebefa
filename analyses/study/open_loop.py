"""How much a policy looks at its observations: input sensitivity and an open-loop replay.

    python analyses/study/open_loop.py analyses/study/halfcheetah/runs/HalfCheetah-v5_*_s?.pt \
        > analyses/study/halfcheetah/open_loop.md

An observation attack can only act through the observations, so a policy whose actions barely depend on them is
robust by construction. Per checkpoint (its own environment, frozen normalizer, actions clipped to [-1, 1]):
- closed loop: one deterministic episode from reset seed 0, and its action sequence;
- open loop: that action sequence replayed, ignoring the state, from reset seeds 1-3 (a gait that survives this
  needs no feedback);
- sensitivity: over the closed-loop episode's states z (normalized), the mean Frobenius norm of the mean action's
  Jacobian d mu / d z, and eps x sum_j |d mu_i / d z_j| averaged over action dimensions (to first order, the
  largest change of an action an l_inf attack of budget eps can make; eps: the environment's standard);
- constant inputs: the share of that attack reach that lies on inputs whose variance over training was exactly 0
  (on Ant-v5, the contact forces of the four upper legs, which never touch anything): the policy never saw them
  move, and the l_inf threat model lets an attacker move them anyway;
- output layer: its weights' Frobenius norm, and 2 max_i sum_j |W_ij|, a bound on how far any action can move
  between any two observations at all (the last hidden layer is a tanh, so each of its units lies in [-1, 1]).
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from landscape.io.checkpoint import load
from landscape.sim.envs import env_spec, make_env


def episode(env, act, seed: int) -> tuple[float, list]:
    obs, _ = env.reset(seed=seed)
    total, actions = 0.0, []
    for _ in range(1000):
        a = np.clip(act(obs, len(actions)), -1.0, 1.0)
        actions.append(a)
        obs, reward, term, trunc, _ = env.step(a)
        total += reward
        if term or trunc:
            break
    return total, actions


def action_range(actor) -> float:
    """2 max_i sum_j |W_ij| of the output layer: no two observations move any action further apart, since the
    last hidden layer is a tanh (each unit in [-1, 1]); reached when every unit can take either sign."""
    return float(2 * actor.net[-1].weight.detach().abs().sum(1).max())


def measure(path: str) -> dict:
    agent = load(path)
    env, eps = make_env(agent.env_id), env_spec(agent.env_id).eps
    states = []

    def closed(obs, t):
        states.append(agent.normalize(obs))
        return agent.act(obs)

    ret, actions = episode(env, closed, 0)
    replay = [episode(env, lambda obs, t: actions[min(t, len(actions) - 1)], s)[0] for s in (1, 2, 3)]
    with torch.no_grad():
        jac = torch.func.vmap(torch.func.jacrev(agent.actor))(torch.stack(states))
    reach = eps * jac.abs()  # (states, actions, inputs)
    constant = torch.as_tensor(agent.obs_norm.var == 0)
    return {
        "closed": ret,
        "open": replay,
        "jac": float(jac.flatten(1).norm(dim=1).mean()),
        "reach": float(reach.sum(-1).mean()),
        "constant": float(reach[..., constant].sum() / reach.sum()),
        "w_out": float(agent.actor.net[-1].weight.detach().norm()),
        "span": action_range(agent.actor),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ckpts", nargs="+")
    args = p.parse_args()
    print(
        "| checkpoint | closed loop (seed 0) | open-loop replay (seeds 1-3) | mean ‖dμ/dz‖_F | eps · Σ_j abs(dμ/dz_j) "
        "| of it on constant inputs | output ‖W‖_F | max action range |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for path in args.ckpts:
        m = measure(path)
        replay = " / ".join(f"{r:.0f}" for r in m["open"])
        numbers = f"{m['jac']:.2f} | {m['reach']:.3f} | {m['constant']:.0%} | {m['w_out']:.3f} | {m['span']:.3f}"
        print(f"| {Path(path).stem} | {m['closed']:.0f} | {replay} | {numbers} |")


if __name__ == "__main__":
    main()
