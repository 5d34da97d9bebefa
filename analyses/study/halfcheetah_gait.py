"""Which HalfCheetah checkpoints run upright and which run on their backs.

    python analyses/study/halfcheetah_gait.py analyses/study/halfcheetah/runs/HalfCheetah-v5_*_s?.pt \
        --json analyses/study/halfcheetah/gait.json > analyses/study/halfcheetah/gait.md

HalfCheetah never terminates, so a policy that flips over can go on running on its back; in our study those
runs end near 2000, the upright ones at 3500-6000 (gait.md). The torso's pitch is qpos[2]: cos(pitch)
near +1 is upright, near -1 upside down. Per checkpoint, deterministic episodes from reset seeds 0..n-1 with
the frozen normalizer; the mean of cos(pitch) over steps 200-999 (after any flip) and the forward velocity.
--json writes the same per run name (the checkpoint's stem), which report.py reads to split the medians.
"""

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np

from landscape.io.checkpoint import load


def gait(path: str, episodes: int) -> dict:
    agent = load(path)
    env = gym.make("HalfCheetah-v5")
    returns, cos_pitch, speed = [], [], []
    for seed in range(episodes):
        obs, _ = env.reset(seed=seed)
        total, pitch, vx = 0.0, [], []
        for _ in range(1000):
            obs, reward, term, trunc, _ = env.step(np.clip(agent.act(obs), -1.0, 1.0))
            total += reward
            pitch.append(env.unwrapped.data.qpos[2])
            vx.append(env.unwrapped.data.qvel[0])
            if term or trunc:
                break
        returns.append(total)
        cos_pitch.append(float(np.cos(pitch[200:]).mean()))
        speed.append(float(np.mean(vx)))
    cos = float(np.mean(cos_pitch))
    kind = "upright" if cos > 0.5 else "on its back" if cos < -0.5 else "mixed"
    return {
        "return": float(np.mean(returns)),
        "cos": cos,
        "cos_min": min(cos_pitch),
        "vx": float(np.mean(speed)),
        "gait": kind,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ckpts", nargs="+")
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--json", help="also write {run name: gait record} here (read by report.py)")
    args = p.parse_args()
    print(
        f"| checkpoint | deterministic return ({args.episodes} ep.) | mean cos(pitch), steps 200+ | lowest episode's | forward velocity | gait |"
    )
    print("|---|---:|---:|---:|---:|---|")
    records = {}
    for path in args.ckpts:
        g = gait(path, args.episodes)
        label = f"{Path(path).parents[1].name}/{Path(path).stem}"  # the sweep directory tells KL runs apart
        print(f"| {label} | {g['return']:.0f} | {g['cos']:+.2f} | {g['cos_min']:+.2f} | {g['vx']:.2f} | {g['gait']} |")
        records[Path(path).stem] = g
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1) + "\n")


if __name__ == "__main__":
    main()
