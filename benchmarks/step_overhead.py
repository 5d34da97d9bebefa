"""Per-call overhead of two inner loops, the lean path against the naive one in the same process.

    python benchmarks/step_overhead.py [--reps 5]

1. A PPO update (Hopper shapes, one 2048-step batch, 10 epochs x 32 minibatches), three ways: the
   gradients in closed form (closed_form.py, the default), by autograd with the lean step (gradients set to
   None, torch's functional fused Adam on the optimizers' own state, ppo.adam_step), and by autograd
   through `Optimizer.zero_grad()` / `Optimizer.step()`. The two autograd paths must end at the same
   parameters bit for bit; the closed form's largest parameter difference from them is reported.
   The same for an ARPO update (CAR-PPO's Hopper loss, eps 0.075; the inner attack is the same call on
   both paths): closed form against autograd.
2. The PA-AD director's MDP (`DirectorEnv.step`, bundled SPO Hopper, 2000 steps): as it is (the victim's
   ParamSpace built once, FGSM reusing the forward pass at z) against the previous path (a ParamSpace per
   step, FGSM through pgd.py, which runs the forward at z a second time). Both must give the same
   observations bit for bit.

Times are process CPU seconds, median over reps, the two paths alternating. Writes
benchmarks/results/step_overhead.json.
"""

import argparse
import copy
import hashlib
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from landscape.attacks import paad
from landscape.io.bundled import resolve
from landscape.io import checkpoint
from landscape.model.agent import Agent
from landscape.rl import ppo as P
from landscape.rl.pgd import pgd
from landscape.robust.robust_loss import arpo_loss
from landscape.core.threads import single_thread

RESULTS = Path(__file__).parent / "results" / "step_overhead.json"


class OptimizerStepPPO(P.PPO):
    """The naive step: the optimizers' own zero_grad / step (what PPO._step did before adam_step)."""

    def _step(self, policy_loss, value_loss):
        self.opt_pi.zero_grad()
        self.opt_v.zero_grad()
        (policy_loss + value_loss).backward()
        limit = self.cfg.max_grad_norm if self.cfg.max_grad_norm > 0 else float("inf")
        norm = P.clip_grad_norm(self.agent.actor.parameters(), limit)
        P.clip_grad_norm(self.agent.critic.parameters(), limit)
        self.opt_pi.step()
        self.opt_v.step()
        return float(norm)


def _params(agent) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in [*agent.actor.parameters(), *agent.critic.parameters()]])


def _timed_updates(runs: dict, batch, reps: int) -> dict:
    """Median process CPU time per env step of each run's update, the runs alternating; global seed fixed
    before each update so inner attacks draw the same numbers on every path."""
    times = {k: [] for k in runs}
    for _ in range(reps):
        for k, r in runs.items():
            torch.manual_seed(0)
            t = time.process_time()
            r.update(copy.copy(batch))
            times[k].append(time.process_time() - t)
    return {k: statistics.median(t) / len(batch) * 1e6 for k, t in times.items()}


def ppo_update(reps: int) -> dict:
    torch.manual_seed(0)
    agent = Agent.new("Hopper-v5", 11, 3)
    n = 2048
    z, a = torch.randn(n, 11), torch.randn(n, 3)
    with torch.no_grad():
        logp, v = agent.actor.log_prob(z, a), agent.critic(z)
    batch = P.Batch(z, a, logp, v, torch.randn(n), torch.randn(n))
    cfg = P.PPOConfig()
    runs = {
        "optimizer_step": OptimizerStepPPO(copy.deepcopy(agent), cfg, closed_form=False),
        "autograd": P.PPO(copy.deepcopy(agent), cfg, closed_form=False),
        "closed_form": P.PPO(copy.deepcopy(agent), cfg),
    }
    us = _timed_updates(runs, batch, reps)
    ends = {k: _params(r.agent) for k, r in runs.items()}
    out = {
        "us_per_env_step": us,
        "speedup_lean_step": us["optimizer_step"] / us["autograd"],
        "speedup_closed_form": us["autograd"] / us["closed_form"],
        "autograd_paths_identical": bool(torch.equal(ends["optimizer_step"], ends["autograd"])),
        "closed_form_max_abs_diff": float((ends["closed_form"] - ends["autograd"]).abs().max()),
    }
    robust = {
        "autograd": P.PPO(copy.deepcopy(agent), cfg, arpo_loss(cfg.clip, 0.075), closed_form=False),
        "closed_form": P.PPO(copy.deepcopy(agent), cfg, arpo_loss(cfg.clip, 0.075)),
    }
    us = _timed_updates(robust, batch, reps)
    diff = (_params(robust["closed_form"].agent) - _params(robust["autograd"].agent)).abs().max()
    out["arpo"] = {
        "us_per_env_step": us,
        "speedup_closed_form": us["autograd"] / us["closed_form"],
        "closed_form_max_abs_diff": float(diff),
    }
    return out


class NaiveDirectorEnv(paad.DirectorEnv):
    """The previous step: victim.space rebuilt every step, FGSM through pgd (a second forward at z)."""

    def perturb(self, obs, action):
        d = torch.as_tensor(np.clip(action, -1.0, 1.0), dtype=torch.float32)
        z = self.victim.normalize(obs)[None, None]
        space = self.victim.space
        net = paad.batched_net(space, self.theta)
        with torch.no_grad():
            mu = net(z)
        unit = d[None, None] / (d.pow(2).sum(-1).sqrt() + 1e-8)

        def objective(x):
            return paad.alignment(net(x) - mu, d[None, None])

        objective.grad = lambda x: net.input_grad(net.forward(x)[1], unit)
        return pgd(objective, z, self.eps, 1, self.eps, False, self.gen)[0, 0]


def director_steps(reps: int, steps: int = 2000) -> dict:
    victim = checkpoint.load(resolve("hopper_spo.pt"))
    times, digests = {"naive": [], "lean": []}, {}
    for _ in range(reps):
        for name, cls in (("naive", NaiveDirectorEnv), ("lean", paad.DirectorEnv)):
            env, rng, obs = cls(victim, 0.075), np.random.default_rng(0), []
            env.reset(seed=0)
            t = time.process_time()
            for _ in range(steps):
                o, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 3).astype(np.float32))
                obs.append(o)
                if term or trunc:
                    env.reset()
            times[name].append(time.process_time() - t)
            digests[name] = hashlib.sha256(np.asarray(obs).tobytes()).hexdigest()
    us = {k: statistics.median(t) / steps * 1e6 for k, t in times.items()}
    return {"us_per_step": us, "speedup": us["naive"] / us["lean"], "identical": digests["naive"] == digests["lean"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    single_thread()
    result = {"ppo_update": ppo_update(args.reps), "paad_director_env": director_steps(max(args.reps // 2, 1))}
    for k, r in result.items():
        print(k, json.dumps(r))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
