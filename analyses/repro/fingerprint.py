"""Which layer makes a checkpoint's returns differ between machines? A fingerprint of each layer.

    python analyses/repro/fingerprint.py            # prints one line per layer; compare across machines

Two runs on one machine give the same returns bit for bit; two machines need not (README, Status: the
bundled Hopper SPO's 50-episode natural return was 3121.3 on one session's machine and 3095.9 on the next's).
Each line hashes one layer alone, so the first line that differs between two machines names the layer:

- physics: MuJoCo alone, Hopper-v5 stepped 1000 times with fixed pseudo-random actions (Gymnasium env);
- actor: torch alone, the bundled SPO actor's mean action on 4096 fixed observations (plain torch forward);
- rowwise: the batch-invariant forward (core/rowwise.py) on the same observations;
- episode: one natural episode of the bundled SPO through the evaluator (all layers together), its return.
"""

import hashlib
import platform

import mujoco
import numpy as np
import torch

from landscape.io import checkpoint
from landscape.io.bundled import resolve
from landscape.model.flat import batched_mean
from landscape.rl.evaluator import BatchedEvaluator
from landscape.sim.envs import make_env


def digest(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(a)).tobytes()).hexdigest()[:16]


def physics() -> str:
    env, rng, obs = make_env("Hopper-v5"), np.random.default_rng(0), []
    env.reset(seed=0)
    for _ in range(1000):
        o, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 3))
        obs.append(o)
        if term or trunc:
            env.reset(seed=1)
    return digest(np.asarray(obs))


def main() -> None:
    torch.set_num_threads(1)
    agent = checkpoint.load(resolve("hopper_spo.pt", quiet=True))
    z = torch.randn(4096, 11, generator=torch.Generator().manual_seed(0))
    theta = agent.space.flatten(agent.actor)[None]
    with torch.no_grad():
        actor = agent.actor(z).numpy()
        rowwise = batched_mean(agent.space, theta, z[None])[0].numpy()
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    ret = float(ev.run(theta, 1, seed=0).returns[0, 0])
    ev.close()
    print(
        f"machine  {platform.processor() or platform.machine()} torch {torch.__version__} "
        f"cpu-capability {torch.backends.cpu.get_cpu_capability()} mujoco {mujoco.__version__} numpy {np.__version__}"
    )
    print(f"physics  {physics()}")
    print(f"actor    {digest(actor)}")
    print(f"rowwise  {digest(rowwise)}")
    print(f"episode  {ret!r}")


if __name__ == "__main__":
    main()
