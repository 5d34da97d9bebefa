"""Environment steps per second of the evaluation backends, against the naive loop, in one run.

    python benchmarks/physics_rate.py [--env Hopper-v5] [--steps 200] [--rounds 3]

Rows: (a) one Gymnasium environment stepped alone; (b) GymVec, 64 Gymnasium environments in a Python
loop (the reference backend); (c) MujocoVec with 64 and 256 environments (the fast backend: one
MuJoCo batch call per step, then observation/reward/termination in numpy); (d) the raw physics with
no observation or reward work: `mujoco.rollout` (nstep = frame_skip, control held, 2 threads) and
`mujoco.batch.Batch.step`, which MujocoVec uses because it keeps each solver warmstart (see physics.py).

Every row steps all its environments `--steps` times with uniform random actions in [-1, 1] from the
same reset states and ignores termination (fallen robots keep simulating), so every row does the same
kind of physics. Rows are timed round-robin, `--rounds` times, so they share the machine's conditions;
the table reports the median round. Writes benchmarks/results/physics_rate.json.
"""

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import mujoco
import numpy as np
from mujoco import rollout
from mujoco.batch import Batch

from landscape.sim.envs import make_env
from landscape.sim.physics import NTHREAD, MujocoVec
from landscape.sim.vecenv import GymVec

RESULTS = Path(__file__).parent / "results" / "physics_rate.json"


def single_gym(env_id, steps, acts):
    env = make_env(env_id)
    env.reset(seed=0)

    def run():
        for t in range(steps):
            env.step(acts[t, 0])
        return steps

    return run


def vec_backend(cls, env_id, n, steps, acts):
    vec = cls(env_id, n)
    live = np.ones(n, bool)

    def run():
        vec.reset(range(n))
        for t in range(steps):
            vec.step(acts[t, :n], live)
        return n * steps

    return run


def raw_rollout(env_id, n, steps, acts):
    """Chained mujoco.rollout calls, one env step each: the physics alone (warmstart not carried)."""
    env = make_env(env_id)
    env.reset(seed=0)
    model, data, fs = env.unwrapped.model, env.unwrapped.data, env.unwrapped.frame_skip
    full = mujoco.mjtState.mjSTATE_FULLPHYSICS
    s0 = np.empty(mujoco.mj_stateSize(model, full))
    mujoco.mj_getState(model, data, s0, full)
    datas = [mujoco.MjData(model) for _ in range(NTHREAD)]
    pool = rollout.Rollout(nthread=NTHREAD)
    ctrl = np.repeat(acts[:, :n, None, :], fs, axis=2).astype(np.float64)  # [T, n, fs, nu]
    out = np.empty((n, fs, s0.size))

    def run():
        state = np.tile(s0, (n, 1))
        for t in range(steps):
            pool.rollout(model, datas, state, ctrl[t], state=out)
            state = np.ascontiguousarray(out[:, -1])
        return n * steps

    return run


def raw_batch(env_id, n, steps, acts):
    env = make_env(env_id)
    env.reset(seed=0)
    u = env.unwrapped
    batch = Batch(u.model, nsim=n, nthread=NTHREAD)
    row = np.empty(batch.nstate)
    mujoco.mj_getState(u.model, u.data, row, mujoco.mjtState.mjSTATE_INTEGRATION)
    ctrl = batch.bind("ctrl")

    def run():
        batch.state[:] = row
        for t in range(steps):
            ctrl[:] = acts[t, :n]
            batch.step(nstep=u.frame_skip)
        return n * steps

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="Hopper-v5")
    ap.add_argument("--steps", type=int, default=200, help="steps per environment per round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    act_dim = make_env(args.env).action_space.shape[0]
    acts = np.random.default_rng(0).uniform(-1, 1, (args.steps, 256, act_dim)).astype(np.float32)
    rows = {
        "(a) Gymnasium, 1 env": single_gym(args.env, args.steps, acts),
        "(b) GymVec, 64 envs": vec_backend(GymVec, args.env, 64, args.steps, acts),
        "(c) MujocoVec, 64 envs": vec_backend(MujocoVec, args.env, 64, args.steps, acts),
        "(c) MujocoVec, 256 envs": vec_backend(MujocoVec, args.env, 256, args.steps, acts),
        "(d) raw mujoco.rollout, 64": raw_rollout(args.env, 64, args.steps, acts),
        "(d) raw mujoco.rollout, 256": raw_rollout(args.env, 256, args.steps, acts),
        "(d) raw Batch.step, 64": raw_batch(args.env, 64, args.steps, acts),
        "(d) raw Batch.step, 256": raw_batch(args.env, 256, args.steps, acts),
    }
    for run in rows.values():  # warm-up: thread pools, caches
        run()
    rates = {name: [] for name in rows}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for name, run in rows.items():
            t0 = time.perf_counter()
            n = run()
            rates[name].append(n / (time.perf_counter() - t0))
    base = statistics.median(rates["(a) Gymnasium, 1 env"])
    print(f"{args.env}, {args.steps} steps/env/round, median of {args.rounds} rounds, {NTHREAD} threads")
    print(f"{'backend':30s} {'steps/s':>10s} {'vs (a)':>7s}")
    table = {}
    for name, r in rates.items():
        med = statistics.median(r)
        table[name] = {"steps_per_s": round(med), "rounds": [round(x) for x in r], "vs_single_gym": med / base}
        print(f"{name:30s} {med:10.0f} {med / base:6.2f}x")
    result = {
        "env": args.env,
        "steps_per_env_per_round": args.steps,
        "rounds": args.rounds,
        "nthread": NTHREAD,
        "measured_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "mujoco": mujoco.__version__,
        },
        "rates": table,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
