"""How Ant checkpoints move: episode length, falls, distance and the reward's terms.

    python analyses/study/ant_gait.py analyses/study/ant/runs/Ant-v5_*_s?.pt \
        --json analyses/study/ant/gait.json > analyses/study/ant/gait.md

An Ant that survives 1000 steps collects 1000 in healthy reward whether it walks or stands, so the return alone
does not say which; an episode ends early when the torso leaves the healthy height range (a fall). Per
checkpoint, deterministic episodes from reset seeds 0..n-1 with the frozen normalizer: mean length, falls, the
torso's forward displacement (m), and the sums of Ant-v5's reward terms (forward, healthy, control, contact).
The gait (--json, read by report.py): falls if any episode ends in a fall, stands if the torso moves less than
5 m forward per episode on average (0.1 m/s over Ant's 50 s; the walking runs measured so far cover 44-48 m),
else walks.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from landscape.io.checkpoint import load
from landscape.sim.envs import make_env

TERMS = ("reward_forward", "reward_survive", "reward_ctrl", "reward_contact")
STANDING_M = 5.0  # mean forward displacement per episode below which the Ant is taken to stand still


def gait(path: str, episodes: int) -> dict:
    agent, env = load(path), make_env("Ant-v5")
    rows = []
    for seed in range(episodes):
        obs, _ = env.reset(seed=seed)
        x0, sums, fell, steps = env.unwrapped.data.qpos[0], dict.fromkeys(TERMS, 0.0), False, 0
        for steps in range(1, 1001):
            obs, _, term, trunc, info = env.step(agent.act(obs))
            for k in TERMS:
                sums[k] += info[k]
            if term or trunc:
                fell = bool(term)
                break
        rows.append({"length": steps, "fell": fell, "dx": env.unwrapped.data.qpos[0] - x0, **sums})
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out["gait"] = "falls" if out["fell"] > 0 else "stands" if out["dx"] < STANDING_M else "walks"
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ckpts", nargs="+")
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--json", help="also write {run name: measures and gait} here (report.py reads it)")
    args = p.parse_args()
    print(f"Deterministic episodes per checkpoint: {args.episodes} (reset seeds 0..{args.episodes - 1}).\n")
    print("| checkpoint | gait | length | falls | forward (m) | forward | healthy | control | contact |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    gaits = {}
    for path in args.ckpts:
        g = gaits[Path(path).stem] = gait(path, args.episodes)
        terms = " | ".join(f"{g[k]:.0f}" for k in TERMS)
        name = f"{Path(path).parent.parent.name}/{Path(path).stem}"
        print(f"| {name} | {g['gait']} | {g['length']:.0f} | {g['fell']:.0%} | {g['dx']:.1f} | {terms} |")
    if args.json:
        Path(args.json).write_text(json.dumps(gaits, indent=1))


if __name__ == "__main__":
    main()
