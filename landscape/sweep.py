"""python -m landscape.sweep CONFIG [--backend local|ray] [--address ADDR] [--only RUNS] [--train-only]

Trains and evaluates every run of a sweep -- algorithms x environments x seeds -- and tabulates medians.
CONFIG is a TOML or JSON file (relative paths in it are relative to the file):

    out = "hopper_small"                  # output directory
    algos = ["spo", "arpo", "barpo"]
    envs = ["Hopper-v5"]
    seeds = [0, 1, 2]
    steps = 204800                         # environment steps per run
    train_flags = ["--n-envs", "8"]        # optional: extra `python -m landscape.train` flags for every run
    [algo_flags]                           # optional: extra flags per algorithm
    arpo = ["--pgd-steps", "10"]
    [evaluation]                           # optional
    episodes = 10                          # deterministic episodes per checkpoint (default 10)
    seed = 0
    attacks = ["random", "mad"]            # optional: attacks of `python -m landscape.evaluate`
    eps = 0.075                            # optional: attack budget (default: the environment's standard)

Written into `out`: runs/<env>_<algo>_s<seed>.pt (+ .csv log, .best.pt, .log with the trainer's output),
results/<run>.json (natural return, each attack's and the worst-case return, mean +- se) as each run
finishes, and summary.csv: per algorithm and environment, the medians over seeds.

Rerunning the same command skips finished runs and resumes unfinished ones from their checkpoint (the
trainer's --resume); a run whose settings changed is redone (training resumes, evaluation repeats).
--only NAME,NAME runs just those runs, in that order; --train-only trains them and stops, so the training of
every run can finish before the (slow) evaluations. A process holds a lock on runs/<name>.lock while it works on
a run, and another process of the same sweep skips that run and goes on to the next: start the same command
twice to use two cores (the lock goes with the process, so a killed one frees its run).
With --backend ray every run is one Ray task (a lost worker is retried, resuming from the last
checkpoint); `out` must then be on a filesystem that every node sees.
"""

import argparse
import contextlib
import csv
import fcntl
import json
import os
import statistics
import time
import tomllib
from pathlib import Path

import torch
from tqdm import tqdm

from .core.errors import LandscapeError, cli_main, describe
from .exec.executor import make_executor
from .core.threads import single_thread

TRAIN_ALGOS = ("spo", "arpo", "barpo")
MAX_RETRIES = 2  # re-runs of a run whose worker died; each resumes from the run's last checkpoint


# ----------------------------------------------------------------------------------- configuration
def load_config(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"sweep config not found: {path}")
    try:
        cfg = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LandscapeError(f"{path}: cannot parse ({describe(err)})")
    if not isinstance(cfg, dict):
        raise LandscapeError(f"{path}: the config must be a table/object")
    return check_config(cfg, path.parent)


def _list(cfg: dict, key: str, kind) -> list:
    value = cfg.get(key)
    ok = isinstance(value, list) and value and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
    if not ok:
        raise LandscapeError(f"config: {key!r} must be a non-empty list of {kind.__name__}")
    return value


def check_config(cfg: dict, base: Path) -> dict:
    """Validate and fill defaults; one-line errors naming the bad key."""
    from .evaluate import parse_attacks
    from .sim.envs import env_spec

    unknown = set(cfg) - {"out", "algos", "envs", "seeds", "steps", "train_flags", "algo_flags", "evaluation"}
    if unknown:
        raise LandscapeError(f"config: unknown key {sorted(unknown)[0]!r}")
    algos, envs, seeds = _list(cfg, "algos", str), _list(cfg, "envs", str), _list(cfg, "seeds", int)
    for a in algos:
        if a not in TRAIN_ALGOS:
            raise LandscapeError(f"config: unknown algo {a!r}; choose from {', '.join(TRAIN_ALGOS)}")
    for e in envs:
        env_spec(e)
    steps = cfg.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
        raise LandscapeError("config: 'steps' must be a positive integer")
    if not isinstance(cfg.get("out"), str):
        raise LandscapeError("config: 'out' (the output directory) must be given as a string")
    flags = cfg.get("train_flags", [])
    algo_flags = cfg.get("algo_flags", {})
    if not (isinstance(flags, list) and all(isinstance(f, str) for f in flags)):
        raise LandscapeError("config: 'train_flags' must be a list of strings")
    if not isinstance(algo_flags, dict) or not all(
        isinstance(v, list) and all(isinstance(f, str) for f in v) for v in algo_flags.values()
    ):
        raise LandscapeError("config: 'algo_flags' must map algorithms to lists of strings")
    ev = dict(cfg.get("evaluation", {}))
    bad = set(ev) - {"episodes", "seed", "attacks", "eps"}
    if bad:
        raise LandscapeError(f"config: unknown evaluation key {sorted(bad)[0]!r}")
    attacks = ev.get("attacks", [])
    ev["attacks"] = parse_attacks(",".join(attacks) if isinstance(attacks, list) else str(attacks))
    ev.setdefault("episodes", 10)
    ev.setdefault("seed", 0)
    ev.setdefault("eps", None)
    if not isinstance(ev["episodes"], int) or ev["episodes"] < 1:
        raise LandscapeError("config: evaluation 'episodes' must be a positive integer")
    if ev["eps"] is not None:  # checked now, not after hours of training
        from .attacks import check_eps

        ev["eps"] = check_eps(ev["eps"])
    out = Path(cfg["out"])
    return {
        "out": str(out if out.is_absolute() else base.resolve() / out),  # workers may run elsewhere
        "algos": algos,
        "envs": envs,
        "seeds": seeds,
        "steps": steps,
        "train_flags": flags,
        "algo_flags": algo_flags,
        "evaluation": ev,
    }


def run_specs(cfg: dict) -> list[dict]:
    """One plain-data spec per run: everything a worker needs, and what identifies the run's result."""
    out = Path(cfg["out"])
    specs = []
    for env in cfg["envs"]:
        for algo in cfg["algos"]:
            for seed in cfg["seeds"]:
                name = f"{env}_{algo}_s{seed}"
                specs.append(
                    {
                        "name": name,
                        "env": env,
                        "algo": algo,
                        "seed": seed,
                        "steps": cfg["steps"],
                        "ckpt": str(out / "runs" / f"{name}.pt"),
                        "train_flags": [*cfg["train_flags"], *cfg["algo_flags"].get(algo, [])],
                        "evaluation": cfg["evaluation"],
                    }
                )
    return specs


def train_argv(spec: dict) -> list[str]:
    """The run's training as `python -m landscape.train` flags: the config speaks in flags (train_flags)."""
    argv = [
        "--algo",
        spec["algo"],
        "--env",
        spec["env"],
        "--steps",
        str(spec["steps"]),
        "--seed",
        str(spec["seed"]),
        "--out",
        spec["ckpt"],
        *spec["train_flags"],
    ]
    return argv + ["--resume"] if Path(spec["ckpt"]).exists() else argv


def train_spec(spec: dict):
    """The run's train.TrainSpec (resuming when its checkpoint exists); flags the trainer would reject are
    one line naming the algorithm."""
    from . import train

    try:
        return train.spec_from_flags(train_argv(spec))
    except LandscapeError as err:
        raise LandscapeError(f"config: flags of {spec['algo']}: {err}")


def eval_spec(spec: dict):
    """The run's evaluate.EvalSpec: the config's episodes, seed, attacks and eps; evaluate's own defaults for
    PGD steps, restarts and learned attackers."""
    from .evaluate import EvalSpec

    ev = spec["evaluation"]
    return EvalSpec(
        spec["ckpt"],
        episodes=ev["episodes"],
        seed=ev["seed"],
        attacks=tuple(ev["attacks"]),
        eps=ev["eps"] if ev["attacks"] else None,
    )


# ----------------------------------------------------------------------------------- one run
def train_run(spec: dict) -> tuple[float, float]:
    """Train one run (resuming if its checkpoint exists); returns its wall and CPU seconds (this process).
    Output goes to runs/<name>.log.

    Torch is seeded with the run's seed first, so a run's numbers depend only on its spec, not on which
    process ran which runs before it.
    """
    from . import train

    ckpt = Path(spec["ckpt"])
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    run = train_spec(spec)
    t0, c0 = time.perf_counter(), time.process_time()
    with open(ckpt.with_suffix(".log"), "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        torch.manual_seed(spec["seed"])  # the initial networks are drawn before the trainer seeds itself
        train.run(run)
        print(f"saved {run.out} (best evaluation checkpoint beside it)")
    return time.perf_counter() - t0, time.process_time() - c0


@contextlib.contextmanager
def claimed(spec: dict):
    """Yields whether this process got the run's lock (runs/<name>.lock, held until the block ends or the
    process dies); False when another process works on the run."""
    path = Path(spec["ckpt"]).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:  # the file may have been unlinked by its last holder between our open and our lock
            mine = os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            mine = False
        try:
            yield mine
        finally:
            if mine:
                path.unlink(missing_ok=True)  # before the lock goes: a waiting opener then sees a stale inode


BUSY = "busy"  # run_one's result for a run another process holds


def run_one(spec: dict, evaluate: bool = True) -> dict | str | None:
    """Train and evaluate one run; returns its result (plain data), None when evaluate is False, or BUSY when
    another process holds the run."""
    with claimed(spec) as mine:
        return _run_one(spec, evaluate) if mine else BUSY


def _run_one(spec: dict, evaluate: bool) -> dict | None:
    from . import evaluate as evaluation
    from .io import checkpoint

    if evaluate and finished({"out": Path(spec["ckpt"]).parents[1]}, spec):
        return None  # another process finished it after this one listed its work
    train_wall, train_cpu = train_run(spec)
    if not evaluate:
        return None
    ckpt = Path(spec["ckpt"])
    t1, c1 = time.perf_counter(), time.process_time()
    with open(ckpt.with_suffix(".log"), "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        measured = evaluation.run(eval_spec(spec), progress=False)
        result = {
            "name": spec["name"],
            "env": spec["env"],
            "algo": spec["algo"],
            "seed": spec["seed"],
            "steps": checkpoint.load(ckpt).step,
            "ckpt": str(ckpt),
            "spec": spec,
            "natural": measured.natural,
        }
        if measured.attacks is not None:  # the worst case is over the attacks and natural
            result.update(eps=measured.eps, attacks=measured.attacks, worst=measured.worst)
    # this call's cost (a resumed run's training counts only the part done now; the trainer's CSV has
    # every iteration's wall_s and cpu_s)
    result["seconds"] = {
        "train": train_wall,
        "train_cpu": train_cpu,
        "evaluate": time.perf_counter() - t1,
        "evaluate_cpu": time.process_time() - c1,
    }
    return result


def run_task(evaluate: bool, spec: dict) -> dict | None:
    """One run as an executor task (executor.py): run_one with the evaluate flag first (a shared argument)."""
    return run_one(spec, evaluate)


# ----------------------------------------------------------------------------------- driver
def result_path(cfg: dict, name: str) -> Path:
    return Path(cfg["out"]) / "results" / f"{name}.json"


def _portable(spec: dict) -> dict:
    """A spec without its absolute checkpoint path: a sweep directory copied elsewhere (e.g. from the
    worktree a study ran in back to the repository) keeps its finished runs."""
    return {k: v for k, v in spec.items() if k != "ckpt"}


def finished(cfg: dict, spec: dict) -> bool:
    path = result_path(cfg, spec["name"])
    if not path.exists():
        return False
    try:
        return _portable(json.loads(path.read_text()).get("spec") or {}) == _portable(spec)
    except json.JSONDecodeError:
        return False


def write_result(cfg: dict, result: dict) -> None:
    path = result_path(cfg, result["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, path)  # a result exists only when complete


def summarize(cfg: dict) -> list[dict]:
    """Medians over seeds per (env, algo) of natural, each attack's and the worst-case mean return."""
    attacks = cfg["evaluation"]["attacks"]
    cols = ["natural", *attacks, "worst"] if attacks else ["natural"]
    rows = []
    for env in cfg["envs"]:
        for algo in cfg["algos"]:
            res = [
                json.loads(p.read_text())
                for s in cfg["seeds"]
                if (p := result_path(cfg, f"{env}_{algo}_s{s}")).exists()
            ]
            if not res:
                continue
            value = lambda r, c: r[c]["mean"] if c in ("natural", "worst") else r["attacks"][c]["mean"]  # noqa: E731
            rows.append(
                {
                    "env": env,
                    "algo": algo,
                    "runs": len(res),
                    **{c: statistics.median(value(r, c) for r in res) for c in cols},
                }
            )
    path = Path(cfg["out"]) / "summary.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["env", "algo", "runs", *cols])
        w.writeheader()
        w.writerows(rows)
    return rows


def run_all(cfg: dict, todo: list[dict], bar, executor, evaluate: bool = True) -> list[str]:
    """Every run of `todo` on `executor`; each result is written as it arrives; runs another process holds are
    skipped. Returns the failed runs, each with its one-line error (the others go on)."""
    from . import sweep  # by reference even under `python -m` (where this module is __main__): Ray imports it

    failed, busy = [], []

    def write(spec, result):
        if result == BUSY:
            busy.append(spec["name"])
        elif result is not None:
            write_result(cfg, result)
        bar.update(1)

    def fail(spec, err):
        failed.append(f"{spec['name']} ({err})")
        bar.update(1)

    executor.map(sweep.run_task, todo, write, shared=(evaluate,), on_error=fail)
    if busy:
        print(f"sweep: left to the process working on them: {', '.join(busy)}")
    return failed


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m landscape.sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("config", help="sweep config (.toml or .json)")
    p.add_argument("--backend", default="local", choices=("local", "ray"), help="where runs go (local: one at a time)")
    p.add_argument("--address", help="Ray cluster address (--backend ray; default $RAY_ADDRESS, else a local one)")
    p.add_argument("--only", help="comma-separated run names (e.g. Hopper-v5_barpo_s1), run in this order")
    p.add_argument(
        "--train-only",
        action="store_true",
        help="train (or resume) the runs and stop; a later run without it evaluates them (local backend)",
    )
    return p.parse_args(argv)


def select(specs: list[dict], only: str | None) -> list[dict]:
    """The runs named by --only, in its order (one-line error for a name the config does not define)."""
    if not only:
        return specs
    by_name = {s["name"]: s for s in specs}
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise LandscapeError(f"--only: no run named {', '.join(unknown)} in this config (runs: {', '.join(by_name)})")
    return [by_name[n] for n in names]


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    single_thread()
    cfg = load_config(args.config)
    specs = run_specs(cfg)
    for spec in {s["algo"]: s for s in specs}.values():
        train_spec(spec)  # flags the trainer would refuse: one line before any run starts
    if args.train_only and args.backend != "local":
        raise LandscapeError("--train-only runs on the local backend")
    specs = select(specs, args.only)
    todo = [s for s in specs if not finished(cfg, s)]
    Path(cfg["out"]).mkdir(parents=True, exist_ok=True)
    print(f"sweep: {len(specs)} runs ({len(specs) - len(todo)} finished) -> {cfg['out']}")
    bar = tqdm(
        total=len(specs), initial=len(specs) - len(todo), unit="run", desc=f"sweep ({args.backend})", dynamic_ncols=True
    )
    failed = run_all(cfg, todo, bar, make_executor(args.backend, args.address, MAX_RETRIES), not args.train_only)
    bar.close()
    rows = summarize(cfg)
    for r in rows:
        print("  ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    print(f"summary: {Path(cfg['out']) / 'summary.csv'}")
    if failed:
        raise LandscapeError(f"{len(failed)} run(s) failed: {'; '.join(failed)}; see runs/<name>.log, rerun to retry")


if __name__ == "__main__":
    main()
