"""Training throughput of our SPO (PPO core) against Stable-Baselines3's PPO, in the same run.

    pip install -e ".[bench]"
    python benchmarks/train_throughput.py [--steps 100000] [--seeds 0] [--env Hopper-v5] [--n-envs 1]
        [--ours lr_value=3e-4 value_clip=0] [--libs ours] [--curve-every 20 --thresholds 1000 2000 3000]

--ours overrides fields of our PPOConfig (an ablation of where the two differ; the default is our trainer
as shipped); --libs runs one library only (its returns per seed; the ratios need both).
--curve-every K evaluates both libraries every K iterations with the same loop (its time is kept out of every
phase), so the result also says how much training CPU each needed to first reach each of --thresholds: the
comparison at equal return, which steps/s alone cannot make when the two learn at different rates.

Both libraries train on the same environment with the same hyperparameters and step budget, --n-envs
environments (2048 steps per iteration split over them; ours step them as one MuJoCo batch, collect.py,
SB3 through its DummyVecEnv), one torch thread, and alternate seed by seed so they share the machine's conditions. Reported
per library: collection steps/s (env steps / time in collection, GAE included), update steps/s (env steps
in the batch / time in the gradient epochs), overall steps/s (budget / wall time of the whole training call,
logging and checkpoints included) and the final deterministic return (the same loop for both: 10 episodes,
seeds disjoint from training). Ratios are ours / SB3 (> 1: we are faster). Every phase is timed on two
clocks: wall clock (what a user waits) and process CPU time (what the process itself spent; on a machine
shared with other jobs it is the steadier basis for the ratio). Writes benchmarks/results/train_throughput.json
(after every finished run, so an interrupted benchmark keeps what it measured).

How the phases are timed, identically for both: the bound method that does the phase is wrapped on the
instance (ours: Collector.collect and PPO.update; SB3: PPO.collect_rollouts and PPO.train), so no
library code changes and no callback runs per step.

Shared hyperparameters: 2048 steps/iteration, 10 epochs, 32 minibatches (batch 64), gamma 0.99, GAE lambda
0.95, clip 0.2, no entropy bonus, grad-norm clip 0.5, 64-64 tanh actor and critic with orthogonal init,
state-independent log-std starting at 0, linear learning-rate annealing to 0, running observation
normalization (clip 10) and reward scaling by the running std of the discounted return (SB3: VecNormalize).
Unavoidable differences: SB3 has one optimizer and one learning rate (3e-4) for actor and critic and clips
the joint gradient norm; ours has two (policy 3e-4, value 2.5e-4, the SA-PPO defaults) and clips each.
Both normalize advantages per minibatch; SB3's Adam uses eps 1e-5, ours 1e-8. SB3's value
clipping is off by default (ours clips at 0.2, SA-PPO style); we keep SB3's defaults: what a user would run.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from landscape.model.agent import Agent
from landscape.rl.ppo import PPOConfig
from landscape.rl.trainer import EVAL_SEED, RunConfig, Trainer
from landscape.sim.envs import env_dims, env_spec
from landscape.core.threads import single_thread

RESULTS = Path(__file__).parent / "results" / "train_throughput.json"


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


class PhaseTimer:
    """Accumulates wall and CPU time spent in wrapped bound methods (and in `with timer.phase(name)`)."""

    def __init__(self):
        self.seconds: dict[str, dict[str, float]] = {}

    @contextmanager
    def phase(self, name: str):
        acc = self.seconds.setdefault(name, dict.fromkeys(CLOCKS, 0.0))
        start = {c: f() for c, f in CLOCKS.items()}
        try:
            yield
        finally:
            for c, f in CLOCKS.items():
                acc[c] += f() - start[c]

    def wrap(self, obj, method: str, name: str) -> None:
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            with self.phase(name):
                return inner(*args, **kwargs)

        setattr(obj, method, timed)


class Curve:
    """Evaluates the policy after every `every`-th update, recording (steps, training wall and CPU seconds, return).

    The evaluations' own time is subtracted, so the seconds are those of training alone."""

    def __init__(self, every: int, act, env_id: str, episodes: int):
        self.every, self.act, self.env_id, self.episodes = every, act, env_id, episodes
        self.points: list[dict] = []
        self.updates = 0
        self.start = {c: f() for c, f in CLOCKS.items()}
        self.spent = dict.fromkeys(CLOCKS, 0.0)

    def after_update(self) -> None:
        self.updates += 1
        if not self.every or self.updates % self.every:
            return
        steps = self.updates * PPOConfig.steps_per_iter  # both libraries update once per 2048 collected steps
        now = {c: f() for c, f in CLOCKS.items()}
        ret = evaluate(self.act, self.env_id, self.episodes)
        train = {c: now[c] - self.start[c] - self.spent[c] for c in CLOCKS}
        self.points.append({"steps": steps, "seconds": train, "return": ret})
        for c, f in CLOCKS.items():
            self.spent[c] += f() - now[c]

    def wrap(self, obj, method: str) -> None:
        """Run `after_update()` after every call of the bound method (the library's update)."""
        inner = getattr(obj, method)

        def wrapped(*args, **kwargs):
            out = inner(*args, **kwargs)
            self.after_update()
            return out

        setattr(obj, method, wrapped)


def evaluate(act, env_id: str, episodes: int) -> float:
    """Mean natural return of the deterministic policy `act(obs [obs]) -> action` (same loop for both)."""
    returns = []
    env = gym.make(env_id)
    for e in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED + e)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(np.clip(act(obs), env.action_space.low, env.action_space.high))
            total += float(r)
            done = term or trunc
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def run_ours(
    env_id: str, steps: int, seed: int, eval_episodes: int, n_envs: int, overrides=None, curve_every=0
) -> dict:
    cfg = PPOConfig(n_envs=n_envs, **(overrides or {}))
    obs_dim, act_dim = env_dims(env_id)
    agent = Agent.new(env_id, obs_dim, act_dim, eps=env_spec(env_id).eps)
    timer = PhaseTimer()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(agent, cfg, RunConfig(steps=steps, seed=seed, out=str(Path(tmp) / "run.pt"), eval_every=0))
        act = lambda o: agent.act(o[None])[0]  # noqa: E731
        timer.wrap(trainer.collector, "collect", "collect")
        timer.wrap(trainer.ppo, "update", "update")
        curve = Curve(curve_every, act, env_id, eval_episodes)
        curve.wrap(trainer.ppo, "update")
        with timer.phase("total"):
            trainer.train()
    return _row(agent.step, timer, evaluate(act, env_id, eval_episodes), curve)


def run_sb3(env_id: str, steps: int, seed: int, eval_episodes: int, n_envs: int, curve_every=0) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    cfg = PPOConfig()
    n_iters = steps // cfg.steps_per_iter
    venv = VecNormalize(
        DummyVecEnv([lambda: Monitor(gym.make(env_id))] * n_envs),
        norm_obs=True,
        norm_reward=True,
        clip_obs=10.0,
        clip_reward=10.0,
        gamma=cfg.gamma,
    )
    # SB3 anneals with the progress *after* the rollout; shift by one iteration so the i-th update uses
    # lr * (1 - i / n_iters), exactly as ours does.
    lr = lambda remaining: cfg.lr_policy * min(remaining + 1.0 / n_iters, 1.0)  # noqa: E731
    model = PPO(
        "MlpPolicy",
        venv,
        learning_rate=lr,
        n_steps=cfg.steps_per_iter // n_envs,
        batch_size=cfg.steps_per_iter // cfg.minibatches,
        n_epochs=cfg.epochs,
        gamma=cfg.gamma,
        gae_lambda=cfg.lam,
        clip_range=cfg.clip,
        ent_coef=cfg.entropy_coef,
        vf_coef=0.5,
        max_grad_norm=cfg.max_grad_norm,
        seed=seed,
        device="cpu",
        policy_kwargs=dict(
            net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=torch.nn.Tanh, ortho_init=True, log_std_init=0.0
        ),
    )
    act = lambda o: model.predict(venv.normalize_obs(o), deterministic=True)[0]  # noqa: E731
    timer = PhaseTimer()
    timer.wrap(model, "collect_rollouts", "collect")
    timer.wrap(model, "train", "update")
    curve = Curve(curve_every, act, env_id, eval_episodes)
    curve.wrap(model, "train")
    with timer.phase("total"):
        model.learn(total_timesteps=steps)
    venv.training = False
    return _row(model.num_timesteps, timer, evaluate(act, env_id, eval_episodes), curve)


PHASES = {"collect": "collection", "update": "update", "total": "overall"}


def _row(steps: int, timer: PhaseTimer, ret: float, curve: Curve) -> dict:
    """Seconds per phase and clock (the curve's evaluations taken out), the final return and the curve of one run."""
    for c in CLOCKS:  # the curve evaluates after the timed update, inside the total
        timer.seconds["total"][c] -= curve.spent[c]
    return {"steps": int(steps), "seconds": timer.seconds, "return": ret, "curve": curve.points}


def time_to_reach(curve: list[dict], threshold: float, clock: str = "cpu") -> float | None:
    """Training seconds until the curve's first evaluation at or above `threshold` (None: never reached)."""
    return next((p["seconds"][clock] for p in curve if p["return"] >= threshold), None)


def summarize(runs: list[dict], thresholds=()) -> dict:
    """Steps/s per clock and phase from times summed over seeds; the return as mean and per-seed list; per
    threshold, each seed's training CPU seconds to first reach it (None: not within the budget)."""
    steps = sum(r["steps"] for r in runs)
    sps = {c: {p: steps / sum(r["seconds"][p][c] for r in runs) for p in PHASES} for c in CLOCKS}
    rets = [r["return"] for r in runs]
    reach = {str(t): [time_to_reach(r["curve"], t) for r in runs] for t in thresholds}
    return {"steps_per_s": sps, "return": float(np.mean(rets)), "returns": rets, "cpu_s_to_reach": reach}


def table(res: dict, clock: str) -> str:
    ours, sb3 = res["ours"]["steps_per_s"][clock], res["sb3"]["steps_per_s"][clock]
    lines = ["| | ours (SPO) | SB3 PPO | ours / SB3 |", "|---|---:|---:|---:|"]
    for p, name in PHASES.items():
        lines.append(f"| {name} steps/s | {ours[p]:,.0f} | {sb3[p]:,.0f} | {ours[p] / sb3[p]:.2f} |")
    r_ours, r_sb3 = res["ours"]["return"], res["sb3"]["return"]
    lines.append(
        f"| final return ({res['eval_episodes']} ep., deterministic) | {r_ours:.0f} | {r_sb3:.0f} "
        f"| {r_ours / r_sb3:.2f} |"
    )
    return "\n".join(lines)


def reach_table(res: dict) -> str:
    """Per threshold: each library's training CPU seconds to first reach it, per seed ('-': not reached), and
    the ratio of the medians over the seeds that reached it in both."""
    lines = ["| return | ours: CPU s per seed | SB3: CPU s per seed | SB3 / ours (medians) |", "|---:|---|---|---:|"]
    fmt = lambda xs: " / ".join("-" if x is None else f"{x:.0f}" for x in xs)  # noqa: E731
    for t, ours in res["ours"]["cpu_s_to_reach"].items():
        sb3 = res["sb3"]["cpu_s_to_reach"][t]
        both = [(a, b) for a, b in zip(ours, sb3) if a is not None and b is not None]
        ratio = f"{np.median([b for _, b in both]) / np.median([a for a, _ in both]):.2f}" if both else "-"
        lines.append(f"| {float(t):.0f} | {fmt(ours)} | {fmt(sb3)} | {ratio} |")
    return "\n".join(lines)


def parse_overrides(items: list[str]) -> dict:
    """FIELD=VALUE pairs for PPOConfig, each value converted to the field's type; a bad one is one line."""
    fields = PPOConfig.__dataclass_fields__
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            sys.exit(f"error: --ours takes FIELD=VALUE with a PPOConfig field ({', '.join(fields)}), not {item!r}")
        kind = type(getattr(PPOConfig(), key))
        try:
            overrides[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        except ValueError:
            sys.exit(f"error: --ours {key} must be a {kind.__name__}, not {value!r}")
    return overrides


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="Hopper-v5")
    p.add_argument(
        "--steps", type=int, default=100_000, help="env steps per run (rounded down to whole 2048-step iterations)"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--n-envs", type=int, default=1, help="environments per library (a divisor of 2048)")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--ours", nargs="*", default=[], metavar="FIELD=VALUE", help="override our PPOConfig's fields")
    p.add_argument("--libs", default="ours,sb3", help="which libraries to run (ours, sb3 or both)")
    p.add_argument("--curve-every", type=int, default=0, help="evaluate every K iterations (0: only at the end)")
    p.add_argument("--thresholds", type=float, nargs="*", default=[], help="returns whose time-to-reach to report")
    args = p.parse_args(argv)
    if args.curve_every < 0 or (args.thresholds and not args.curve_every):
        sys.exit("error: --curve-every must be >= 0, and --thresholds needs --curve-every")
    overrides = parse_overrides(args.ours)
    libs = [x for x in args.libs.split(",") if x]
    if not libs or set(libs) - {"ours", "sb3"}:
        sys.exit(f"error: --libs takes ours, sb3 or ours,sb3, not {args.libs!r}")
    single_thread()
    steps = (args.steps // PPOConfig.steps_per_iter) * PPOConfig.steps_per_iter
    if steps <= 0:
        sys.exit(f"error: --steps must be at least {PPOConfig.steps_per_iter}")
    try:
        import stable_baselines3
    except ImportError:
        sys.exit('error: Stable-Baselines3 is not installed; run pip install -e ".[bench]"')
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.n_envs < 1 or PPOConfig.steps_per_iter % args.n_envs:
        sys.exit(f"error: --n-envs must divide {PPOConfig.steps_per_iter}")
    meta = {
        "env": args.env,
        "steps": steps,
        "n_envs": args.n_envs,
        "seeds": args.seeds,
        "eval_episodes": args.eval_episodes,
        "versions": {
            "torch": torch.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "gymnasium": gym.__version__,
            "python": platform.python_version(),
        },
        "ours_overrides": overrides,
        "curve_every": args.curve_every,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    runs: dict[str, list] = {name: [] for name in libs}
    for seed in args.seeds:  # alternate libraries so both see the same machine conditions
        for name in libs:
            fn = partial(run_ours, overrides=overrides) if name == "ours" else run_sb3
            runs[name].append(fn(args.env, steps, seed, args.eval_episodes, args.n_envs, curve_every=args.curve_every))
            r = summarize(runs[name][-1:])
            print(
                f"{name} seed {seed}: "
                + ", ".join(f"{p} {v:.0f}/s" for p, v in r["steps_per_s"]["wall"].items())
                + f" (wall clock), return {r['return']:.0f}",
                flush=True,
            )
            out.write_text(json.dumps({**meta, "runs": runs}, indent=2))  # incremental: keep finished runs
    res = {**meta, **{name: summarize(runs[name], args.thresholds) for name in libs}, "runs": runs}
    if len(libs) == 2:
        res["ratio"] = {
            c: {p: res["ours"]["steps_per_s"][c][p] / res["sb3"]["steps_per_s"][c][p] for p in PHASES} for c in CLOCKS
        }
        for clock in CLOCKS:
            print(f"\n{clock} clock:\n" + table(res, clock))
        if args.thresholds:
            print("\n" + reach_table(res))
    else:
        print(f"{libs[0]}: returns {[round(r) for r in res[libs[0]]['returns']]}")
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
