"""Why the literal robust loss inflates the std, and why CAR-PPO's weights do not: one PPO update, measured.

From a checkpoint, collect one iteration of experience (2048 steps, the checkpoint's normalizer frozen), then
apply one PPO update (10 epochs x 32 minibatches, the PPO core's defaults) with each policy loss below to a
copy of the policy, and record how far the mean log-std moved. Repeated over several collected batches.
Also split the robust term's log-std gradient at the start by the sign of the advantage.

    python analyses/std_mechanism/run.py [--ckpt landscape/checkpoints/hopper_spo.pt] [--batches 4]

Writes analyses/std_mechanism/results_<ckpt stem>.json and prints a table (mean +- se over batches).
"""

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from landscape.core.numerics import gaussian_log_prob, mean_se
from landscape.io import checkpoint
from landscape.model.agent import Agent
from landscape.rl.collect import Collector
from landscape.rl.ppo import PPO, PPOConfig, normalized, surrogate_of_logp
from landscape.robust.robust_loss import RobustPolicyLoss, arpo_loss
from landscape.sim.envs import env_dims

HERE = Path(__file__).parent

VARIANTS = {  # name: robust-loss keywords (None = SPO's loss)
    "spo": None,
    "old default: robust term alone, T=1": dict(guidance=0.0, reg=1.0, temperature=1.0),
    "vanilla: robust term alone, T=1000": dict(guidance=0.0, reg=1.0, temperature=1000.0),
    "car with T=1": dict(guidance=1.0, reg=0.3, temperature=1.0),
    "car (CAR-PPO Hopper)": dict(guidance=1.0, reg=0.3, temperature=1000.0),
}


def one_update(agent, batch, loss, seed) -> float:
    """Mean log-std change of one PPO update of a copy of agent on batch."""
    agent = copy.deepcopy(agent)
    before = agent.actor.log_std.detach().clone()
    torch.manual_seed(seed)
    PPO(agent, PPOConfig(), loss, seed=seed).update(copy.deepcopy(batch))
    return float((agent.actor.log_std.detach() - before).mean())


def split_gradient(agent, batch, eps) -> dict:
    """d(robust term)/d(mean log-std) on the first minibatch, summed over samples with A > 0 and A < 0."""
    mb = batch.select(torch.arange(64))
    mb.advantages = normalized(mb.advantages)
    loss = arpo_loss(0.2, eps, guidance=0.0, reg=1.0, temperature=float("inf"))
    torch.manual_seed(0)
    z_adv = loss.relaxation(agent.actor, mb, eps, 1.0, 0.2)
    out = {}
    for name, sel in (("A>0", mb.advantages > 0), ("A<0", mb.advantages < 0)):
        actor = copy.deepcopy(agent.actor)
        per = surrogate_of_logp(gaussian_log_prob(actor(z_adv), actor.log_std, mb.actions), mb, 0.2)
        (g,) = torch.autograd.grad(per[sel].sum() / len(mb), actor.log_std)
        out[name] = float(g.mean())
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ckpt", default="landscape/checkpoints/hopper_spo.pt", help="a checkpoint, or init")
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--eps", type=float, default=0.075)
    args = p.parse_args()
    torch.set_num_threads(1)
    t0, c0 = time.time(), time.process_time()
    if args.ckpt == "init":  # a freshly initialized Hopper policy (std 1), its normalizer learning as in training
        torch.manual_seed(0)
        agent = Agent.new("Hopper-v5", *env_dims("Hopper-v5"))
    else:
        agent = checkpoint.load(args.ckpt)
        agent.obs_norm.frozen = True
    collector = Collector(agent, PPOConfig(), seed=0)
    moves = {k: [] for k in VARIANTS}
    splits = []
    for b in range(args.batches):
        batch = collector.collect()
        for name, kw in VARIANTS.items():
            loss = None if kw is None else RobustPolicyLoss(0.2, args.eps, **kw)
            moves[name].append(one_update(agent, batch, loss, seed=b))
        splits.append(split_gradient(agent, batch, args.eps))
    rows = {k: mean_se(np.array(v)) for k, v in moves.items()}
    result = {
        "ckpt": args.ckpt,
        "eps": args.eps,
        "batches": args.batches,
        "start_log_std": float(agent.actor.log_std.detach().mean()),
        "delta_log_std_per_update": {k: {"mean": m, "se": s} for k, (m, s) in rows.items()},
        "robust_term_dlogstd_by_advantage_sign": {k: float(np.mean([s[k] for s in splits])) for k in ("A>0", "A<0")},
        "wall_s": time.time() - t0,
        "cpu_s": time.process_time() - c0,
    }
    (HERE / f"results_{Path(args.ckpt).stem}.json").write_text(json.dumps(result, indent=1))
    print(f"start mean log-std {result['start_log_std']:.3f}; change of mean log-std after one PPO update:")
    for k, (m, s) in rows.items():
        print(f"  {k:40s} {m:+.4f} +- {s:.4f}")
    print(
        "robust term's d loss / d log-std (negative = pushes the std up):",
        result["robust_term_dlogstd_by_advantage_sign"],
    )
    print(f"wall {result['wall_s']:.0f} s, cpu {result['cpu_s']:.0f} s")


if __name__ == "__main__":
    main()
