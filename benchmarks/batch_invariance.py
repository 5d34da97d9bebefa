"""Batch invariance: what the old float32 batched forward did to a point's returns, and what the
batch-invariant forward (rowwise.py, crn.py) costs, in one run.

    python benchmarks/batch_invariance.py [--episodes 8] [--steps 1000] [--reps 30] [--speed-only] [--out ...]

1. Returns: a Walker2d-v5 policy that stays up for hundreds of steps (`walker_agent`: PD control of the
   joints through near-linear tanh units plus a random part; no training) run for E episodes batched
   (K=1 x E), each episode alone (--episodes 1 --seed s), and as the 3rd of 4 points; natural and under
   `mad`; max |return difference| from alone, with the old forward (float32 batched matmul, generator noise)
   and the new one.
2. Speed: the actor forward of K x N rows (old vs new) and one `mad` attack call (10 PGD steps, closed-form
   gradient) on the bundled Hopper checkpoint's shapes, microseconds per call (median of --reps).
"""

import argparse
import json
import os
import time
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from landscape.attacks import gradient as gradient_mod
from landscape.attacks import make_attack
from landscape.io import checkpoint
from landscape.model.agent import Agent
from landscape.model.flat import batched_mean
from landscape.rl import evaluator as evaluator_mod
from landscape.rl.evaluator import BatchedEvaluator
from landscape.rl.input_grad import TanhMLP


def walker_agent(kp: float = 5.0, kd: float = 0.1, noise: float = 4.0, seed: int = 1) -> Agent:
    """Walker2d-v5 policy: a_j = -kp q_j - kd qdot_j (through tanh units run near-linear) plus a random part of
    the orthogonal init scaled by 30 * noise. With the defaults it survives 200-1000 steps and its falls are
    chaotic (returns 70-1000 over seeds 0-7): last-bit differences in actions change returns by hundreds."""
    torch.manual_seed(seed)
    agent = Agent.new("Walker2d-v5", 17, 6)
    net, c = agent.actor.net, 0.1
    with torch.no_grad():
        w1, w2, w3 = net[0].weight, net[2].weight, net[4].weight
        w3.mul_(noise * 30)
        for i in range(17):  # units 0-16 pass the observation through: tanh(tanh(c z)) ~ c z
            w1[i].zero_()
            w1[i, i] = c
            w2[:, i] = 0
            w2[i].zero_()
            w2[i, i] = 1.0
        w3[:, :17] = 0
        for j in range(6):  # joint angles are z[2:8], joint velocities z[11:17]
            w3[j, 2 + j] = -kp / c
            w3[j, 11 + j] = -kd / c
    return agent


@contextmanager
def old_forward():
    """The forward before batch invariance: float32 batched matmuls, TanhMLP, generator-drawn attack noise."""
    saved = evaluator_mod.batched_mean, gradient_mod.batched_mean, gradient_mod.batched_net

    def fast(space, thetas, z):
        return batched_mean(space, thetas, z, exact=False)

    evaluator_mod.batched_mean = gradient_mod.batched_mean = fast
    gradient_mod.batched_net = TanhMLP.batched
    try:
        yield
    finally:
        evaluator_mod.batched_mean, gradient_mod.batched_mean, gradient_mod.batched_net = saved


def unkeyed(attack):
    """The attack as the old evaluator called it: no episode keys, so its draws come from its generator."""
    return None if attack is None else (lambda z, thetas: attack(z, thetas))


def return_differences(episodes: int, steps: int, attack: str | None, old: bool) -> dict:
    agent = walker_agent()
    theta = agent.space.flatten(agent.actor)[None]
    others = theta * (1 + 0.01 * torch.randn(3, theta.shape[1], generator=torch.Generator().manual_seed(1)))
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)

    def run(thetas, e, seed):
        att = make_attack(attack, agent, 0.05) if attack else None  # a fresh attack per evaluation
        return ev.run(thetas, e, seed=seed, attack=unkeyed(att) if old else att, max_steps=steps).returns

    with old_forward() if old else nullcontext():
        batched = run(theta, episodes, 0)[0]
        alone = np.array([run(theta, 1, s)[0, 0] for s in range(episodes)])
        third = run(torch.cat([others[:2], theta, others[2:]]), episodes, 0)[2]
    ev.close()
    return {
        "batched": batched.round(2).tolist(),
        "alone": alone.round(2).tolist(),
        "third_of_4": third.round(2).tolist(),
        "max_diff_batched": float(np.abs(batched - alone).max()),
        "max_diff_third": float(np.abs(third - alone).max()),
    }


def timed(fn, reps: int) -> float:
    fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return float(np.median(out) * 1e6)


def speeds(reps: int) -> list[dict]:
    agent = checkpoint.load("landscape/checkpoints/hopper_spo.pt")
    space, theta = agent.space, agent.space.flatten(agent.actor)
    rows = []
    for K, N in [(1, 1), (1, 5), (25, 5), (128, 1), (1, 128)]:
        thetas = theta + 0.01 * torch.randn(K, theta.shape[0], generator=torch.Generator().manual_seed(0))
        z = torch.randn(K, N, agent.actor.obs_dim, generator=torch.Generator().manual_seed(1))
        row = {"K": K, "N": N}
        for label, old in (("old", True), ("new", False)):
            row[f"forward_{label}_us"] = timed(lambda: batched_mean(space, thetas, z, exact=not old), reps)
            attack = make_attack("mad", agent)
            with old_forward() if old else nullcontext():
                row[f"mad_{label}_us"] = timed(lambda: attack(z, thetas), max(3, reps // 5))
        row["forward_ratio"] = row["forward_new_us"] / row["forward_old_us"]
        row["mad_ratio"] = row["mad_new_us"] / row["mad_old_us"]
        rows.append(row)
        print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--mad-steps", type=int, default=300, help="episode cap under mad (PGD is the slow part)")
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--speed-only", action="store_true", help="skip part 1 (the Walker returns)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "batch_invariance.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "load": os.getloadavg()[0],
        "returns": {},
    }
    for attack, steps in () if args.speed_only else ((None, args.steps), ("mad", args.mad_steps)):
        for label, old in (("old", True), ("new", False)):
            key = f"{attack or 'natural'}_{label}"
            result["returns"][key] = r = return_differences(args.episodes, steps, attack, old)
            print(
                f"{key} ({steps} steps): max |dR| batched vs alone {r['max_diff_batched']:.3g}, "
                f"3rd of 4 vs alone {r['max_diff_third']:.3g}; batched {r['batched']}",
                flush=True,
            )
    result["speed"] = speeds(args.reps)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
