"""Does the closed-form update train as the autograd one does? SPO on Hopper-v5, the same seeds both ways.

    python analyses/closed_form/check_training.py [--steps 196608] [--seeds 0,1,2]

Each seed trains twice from the same initialization and random streams, once with the update's gradients in
closed form (the default, landscape/rl/closed_form.py) and once by autograd; the two differ by float32
rounding per step, so their trajectories part after a while and the comparison is between two samples of
the same algorithm. Reported per run: the deterministic return of the final policy (10 episodes, the
benchmark's evaluation) and the CPU seconds. Writes analyses/closed_form/check_training.json.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from train_throughput import evaluate  # noqa: E402  the benchmark's evaluation loop, reused

import torch  # noqa: E402

from landscape.core.threads import single_thread  # noqa: E402
from landscape.model.agent import Agent  # noqa: E402
from landscape.rl import ppo  # noqa: E402
from landscape.rl.trainer import RunConfig, Trainer  # noqa: E402
from landscape.sim.envs import env_dims  # noqa: E402

OUT = Path(__file__).with_name("check_training.json")


def train(seed: int, steps: int, closed: bool) -> dict:
    real = ppo.PPO.__init__

    def init(self, *a, **k):  # the trainer builds its own PPO: choose the gradient path there
        real(self, *a, **{**k, "closed_form": closed})

    ppo.PPO.__init__ = init
    try:
        torch.manual_seed(seed)  # the same initial networks on both paths
        agent = Agent.new("Hopper-v5", *env_dims("Hopper-v5"))
        with tempfile.TemporaryDirectory() as tmp:
            t = time.process_time()
            Trainer(agent, ppo.PPOConfig(), RunConfig(steps=steps, seed=seed, out=f"{tmp}/r.pt", eval_every=0)).train()
            cpu = time.process_time() - t
    finally:
        ppo.PPO.__init__ = real
    ret = evaluate(lambda o: agent.act(o[None])[0], "Hopper-v5", 10)
    return {"seed": seed, "closed_form": closed, "return": ret, "train_cpu_s": cpu}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=196_608)
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()
    single_thread()
    rows = json.loads(OUT.read_text())["runs"] if OUT.exists() else []
    done = {(r["seed"], r["closed_form"]) for r in rows if r["steps"] == args.steps}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for closed in (True, False):
            if (seed, closed) in done:
                continue
            rows.append({**train(seed, args.steps, closed), "steps": args.steps})
            print(json.dumps(rows[-1]), flush=True)
            OUT.write_text(json.dumps({"runs": rows}, indent=1))  # after every run: resumable


if __name__ == "__main__":
    main()
