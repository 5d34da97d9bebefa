"""The training loop shared by every algorithm: collect, update, log, evaluate, checkpoint, resume."""

import csv
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core.errors import LandscapeError, describe
from ..core.normalizer import RunningNorm
from ..io import checkpoint
from ..model.agent import Agent
from .collect import Collector
from .evaluator import BatchedEvaluator
from .ppo import PPO, PolicyLoss, PPOConfig

EVAL_SEED = 1_000_000  # evaluation episodes use seeds disjoint from training


@dataclass
class RunConfig:
    steps: int
    seed: int = 0
    out: str = "run.pt"
    checkpoint_every: int = 10  # iterations
    eval_every: int = 10  # iterations; 0 disables periodic evaluation
    eval_episodes: int = 5


def _log_path(out: Path) -> Path:
    return out.with_suffix(".csv")


def _best_path(out: Path) -> Path:
    return out.with_name(out.stem + ".best.pt")


def _trim_log(path: Path, iteration: int) -> None:
    """On resume, drop log rows written after the checkpoint we resume from. Atomic (temp file + rename):
    a kill while rewriting in place would leave the log empty."""
    if not path.exists():
        return
    with open(path) as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0].keys()) if rows else []
    try:
        rows = [r for r in rows if int(r["iteration"]) <= iteration]
    except (KeyError, TypeError, ValueError):
        raise LandscapeError(f"{path}: the training log is corrupt (a row without an iteration number)")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def check_resumable(data: dict, agent: Agent, out: Path) -> None:
    """Resuming continues the same run: another algorithm, environment or network would relabel it."""
    for key, want in (("algo", agent.algo), ("env_id", agent.env_id), ("hidden", list(agent.actor.hidden))):
        if data.get(key) != want:
            raise LandscapeError(
                f"cannot resume: {out} is a {key} {data.get(key)!r} run, this command asks for {want!r}"
            )
    saved = (data.get("config") or {}).get("ppo") or {}
    for key in ("lr_policy", "lr_value"):  # the annealing schedule would silently restart from another rate
        want = agent.config.get("ppo", {}).get(key)
        if key in saved and want is not None and saved[key] != want:
            raise LandscapeError(
                f"cannot resume: {out} was trained with {key} {saved[key]}, this command asks for {want}"
            )


class Trainer:
    def __init__(
        self,
        agent: Agent,
        ppo_cfg: PPOConfig,
        run: RunConfig,
        policy_loss: PolicyLoss | None = None,
        resume: bool = False,
        env_fn=None,
    ):
        self.agent, self.cfg, self.run = agent, ppo_cfg, run
        self.out = Path(run.out)
        self.iteration, self.best = 0, -np.inf
        torch.manual_seed(run.seed)
        self.ppo = PPO(agent, ppo_cfg, policy_loss, seed=run.seed)
        if resume:
            self._resume()
        elif self.out.exists():
            raise LandscapeError(f"{self.out} exists; pass --resume to continue it or choose another --out")
        else:  # a log without its checkpoint is from a run killed before its first save: it is not ours
            _log_path(self.out).unlink(missing_ok=True)
        self.collector = Collector(agent, ppo_cfg, seed=run.seed + 7919 * self.iteration, env_fn=env_fn)
        if resume and self.collector.scaler is not None and self._scaler_state is not None:
            self.collector.scaler.stats = self._scaler_state
        self.n_iters = max(run.steps // ppo_cfg.steps_per_iter, 1)

    def _resume(self) -> None:
        if not self.out.exists():
            raise LandscapeError(f"cannot resume: {self.out} does not exist")
        data = checkpoint.load_raw(self.out)
        state = data.get("train_state")
        if not isinstance(state, dict):
            raise LandscapeError(f"cannot resume: {self.out} has no training state")
        check_resumable(data, self.agent, self.out)
        loaded = checkpoint.load(self.out)
        self.agent.actor.load_state_dict(loaded.actor.state_dict())
        self.agent.critic.load_state_dict(loaded.critic.state_dict())
        self.agent.obs_norm = loaded.obs_norm
        self.agent.obs_norm.frozen = False
        self.agent.step = loaded.step
        try:  # a tampered or truncated state is one line, not a traceback from torch's optimizer
            self.ppo.load_state_dict(state["ppo"])
            self.iteration, self.best = int(state["iteration"]), float(state["best"])
            torch.set_rng_state(state["torch_rng"])
            self._scaler_state = RunningNorm.from_state(state["reward_scaler"]) if state.get("reward_scaler") else None
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as err:
            raise LandscapeError(f"cannot resume: the training state in {self.out} is malformed ({describe(err)})")
        if not 0 <= self.iteration <= 10**9:
            raise LandscapeError(f"cannot resume: the training state in {self.out} has iteration {self.iteration}")
        _trim_log(_log_path(self.out), self.iteration)

    def _train_state(self) -> dict:
        scaler = self.collector.scaler
        return {
            "ppo": self.ppo.state_dict(),
            "iteration": self.iteration,
            "best": float(self.best),
            "torch_rng": torch.get_rng_state(),
            "reward_scaler": scaler.stats.state_dict() if scaler is not None else None,
        }

    def evaluate(self) -> float:
        ev = BatchedEvaluator(self.agent.env_id, self.agent.space, self.agent.obs_norm)
        theta = self.agent.space.flatten(self.agent.actor)[None]
        ret = ev.run(theta, self.run.eval_episodes, seed=EVAL_SEED).returns.mean()
        ev.close()
        return float(ret)

    def _log(self, row: dict) -> None:
        path = _log_path(self.out)
        path.parent.mkdir(parents=True, exist_ok=True)  # the log row comes before the first checkpoint
        new = not path.exists() or path.stat().st_size == 0
        if not new:  # keep the columns of the run's first rows (a run resumed by a newer version adds none)
            with open(path, newline="") as f:
                fields = next(csv.reader(f))
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row) if new else fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    def train(self) -> Agent:
        bar = tqdm(
            total=self.n_iters * self.cfg.steps_per_iter,
            initial=self.iteration * self.cfg.steps_per_iter,
            unit="step",
            desc=f"{self.agent.algo} {self.agent.env_id}",
            dynamic_ncols=True,
        )
        eval_ret = float("nan")
        while self.iteration < self.n_iters:
            self.ppo.set_progress(self.iteration / self.n_iters)
            self.before_iteration()
            t0, c0 = time.perf_counter(), time.process_time()
            batch = self.collector.collect()
            t1 = time.perf_counter()
            stats = self.ppo.update(batch)
            t2 = time.perf_counter()
            self.iteration += 1
            self.agent.step += len(batch)
            recent = [r for r, _ in self.collector.episodes]
            train_ret = float(np.mean(recent)) if recent else float("nan")
            if self.run.eval_every and (self.iteration % self.run.eval_every == 0 or self.iteration == self.n_iters):
                eval_ret = self.evaluate()
                if eval_ret > self.best:
                    self.best = eval_ret
                    checkpoint.save(self.agent, _best_path(self.out))
            self._log(
                {
                    "iteration": self.iteration,
                    "step": self.agent.step,
                    "train_return": train_ret,
                    "eval_return": eval_ret,
                    "collect_sps": len(batch) / (t1 - t0),
                    "update_sps": len(batch) / (t2 - t1),
                    "action_std": self.action_std(),
                    **self.extra_log(),
                    **stats,
                    "wall_s": time.perf_counter() - t0,
                    "cpu_s": time.process_time() - c0,
                }
            )
            if self.iteration % self.run.checkpoint_every == 0 or self.iteration == self.n_iters:
                checkpoint.save(self.agent, self.out, self._train_state())
            bar.update(len(batch))
            bar.set_postfix(ret=f"{train_ret:.0f}", eval=f"{eval_ret:.0f}", sps=f"{len(batch) / (t2 - t0):.0f}")
        bar.close()
        self.collector.close()
        return self.agent

    def action_std(self) -> float:
        """Mean std of the Gaussian policy: the exploration the next batch is collected with."""
        return float(self.agent.actor.log_std.detach().exp().mean())

    # hooks for the robust trainers (eps warm-up, strength schedules)
    def before_iteration(self) -> None:
        pass

    def extra_log(self) -> dict:
        return {}
