"""Cost of the robust trainers' inner attack: closed-form input gradients (input_grad.py) against autograd.

    python benchmarks/robust_update.py [--reps 3]

One Hopper batch (2048 steps, a freshly initialized policy) is collected (then --reps more collections are
timed with the default lockstep collector); SPO's, ARPO's and BARPO's
PPO updates (10 epochs x 32 minibatches, the defaults: ARPO = PGD on the surrogate, BARPO = the trainer's default relaxation)
run on copies of the same agent, each with the inner attack's gradient in closed form (new) and by autograd
(old, the objective's `grad` hidden), alternating rep by rep so both see the same machine. Times are process
CPU seconds (steadier than wall time on a shared machine). Reported per env step: collection, each update,
and whole iterations relative to SPO's; `*_epoch` is the `--perturb epoch` option (one inner attack per
epoch on the whole batch instead of one per minibatch; changes the update). Writes
benchmarks/results/robust_update.json.
"""

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from landscape.model.agent import Agent
from landscape.rl.collect import Collector
from landscape.rl.ppo import PPO, PPOConfig
from landscape.robust import relaxations
from landscape.robust.relaxations import make_relaxation
from landscape.robust.robust_loss import RobustPolicyLoss, arpo_loss
from landscape.robust.robust_trainer import BARPO_DEFAULTS
from landscape.sim.envs import env_dims
from landscape.core.threads import single_thread

RESULTS = Path(__file__).parent / "results" / "robust_update.json"


class _Autograd:
    """The objective with its closed-form gradient hidden: pgd falls back to autograd (the old path)."""

    def __init__(self, objective):
        self.objective = objective

    def __call__(self, z_adv):
        return self.objective(z_adv)


def losses():
    """name -> (loss, code paths timed): the defaults with closed-form (new) and autograd (old) inner
    gradients, and the --perturb epoch option (one inner attack per epoch on the whole batch)."""

    def barpo(perturb):
        d = BARPO_DEFAULTS  # the trainer's default relaxation and strength
        return RobustPolicyLoss(0.2, 0.075, make_relaxation(d["relaxation"]), strength=d["strength"], perturb=perturb)

    return {
        "spo": (None, ("",)),
        "arpo": (arpo_loss(0.2, 0.075), ("new", "old")),
        "barpo": (barpo("minibatch"), ("new", "old")),
        "arpo_epoch": (arpo_loss(0.2, 0.075, perturb="epoch"), ("new",)),
        "barpo_epoch": (barpo("epoch"), ("new",)),
    }


def timed_update(agent, batch, loss, autograd: bool) -> float:
    agent = copy.deepcopy(agent)
    real_s, real_kl = relaxations.surrogate_objective, relaxations.kl_objective
    if autograd:
        relaxations.surrogate_objective = lambda *a: _Autograd(real_s(*a))
        relaxations.kl_objective = lambda *a: _Autograd(real_kl(*a))
    try:
        t = time.process_time()
        PPO(agent, PPOConfig(), loss, seed=0).update(copy.deepcopy(batch))
        return time.process_time() - t
    finally:
        relaxations.surrogate_objective, relaxations.kl_objective = real_s, real_kl


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    single_thread()
    torch.manual_seed(0)
    agent = Agent.new("Hopper-v5", *env_dims("Hopper-v5"))
    collector = Collector(agent, PPOConfig(), seed=0)
    batch = collector.collect()  # warm-up; the batch every update uses
    collect = []
    for _ in range(args.reps):
        t = time.process_time()
        collector.collect()
        collect.append(time.process_time() - t)
    collect_s = float(np.median(collect))
    times = {}
    for _ in range(args.reps):
        for name, (loss, paths) in losses().items():
            for path in paths:
                key = f"{name}_{path}" if path else name
                times.setdefault(key, []).append(timed_update(agent, batch, loss, autograd=path == "old"))
    n = len(batch)
    med = {k: float(np.median(v)) for k, v in times.items()}
    per_step = {k: v / n * 1e6 for k, v in med.items()}  # microseconds per env step
    iteration = {k: (collect_s + v) / (collect_s + med["spo"]) for k, v in med.items()}
    result = {
        "collect_us_per_step": collect_s / n * 1e6,
        "update_us_per_step": per_step,
        "iteration_vs_spo": iteration,
        "inner_attack_speedup": {a: med[f"{a}_old"] / med[f"{a}_new"] for a in ("arpo", "barpo")},
        "reps": args.reps,
        "clock": "process CPU",
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(f"collection {result['collect_us_per_step']:.0f} us/step")
    for k in med:
        print(f"{k:10s} update {per_step[k]:7.0f} us/step   iteration / SPO's {iteration[k]:.2f}")
    print(
        "update speed-up from closed-form gradients:",
        {k: round(v, 2) for k, v in result["inner_attack_speedup"].items()},
    )


if __name__ == "__main__":
    main()
