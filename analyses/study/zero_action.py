"""Which environments a policy that ignores its state can survive: the zero action, held for a whole episode.

    python analyses/study/zero_action.py > analyses/study/zero_action.md

A constant action is what the robust Ant runs converged to (open_loop.py); this asks where that keeps the
episode alive, and so collects the healthy reward of 1 per step, without any feedback.
"""

import numpy as np

from landscape.sim.envs import make_env

ENVS = ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Ant-v5")
RESETS = range(5)


def hold_zero(env_id: str, seed: int) -> tuple[int, float]:
    env = make_env(env_id)
    env.reset(seed=seed)
    action, total = np.zeros(env.action_space.shape), 0.0
    for t in range(1, 1001):
        _, reward, term, trunc, _ = env.step(action)
        total += reward
        if term or trunc:
            return t, total
    return 1000, total


def main() -> None:
    print(f"The zero action from reset seeds {RESETS.start}..{RESETS.stop - 1}: episode length and return.\n")
    print("| environment | lengths | returns |")
    print("|---|---|---|")
    for env_id in ENVS:
        runs = [hold_zero(env_id, seed) for seed in RESETS]
        lengths = " / ".join(str(n) for n, _ in runs)
        returns = " / ".join(f"{r:.0f}" for _, r in runs)
        print(f"| {env_id} | {lengths} | {returns} |")


if __name__ == "__main__":
    main()
