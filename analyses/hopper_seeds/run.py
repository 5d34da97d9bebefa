"""3-seed Hopper study: train SPO / ARPO / BARPO, attack every checkpoint, tabulate medians over seeds.

    python analyses/hopper_seeds/run.py [--config config.toml] [--stage train|eval|table|all] [--workers N]
                                        [--dry-run]

Each stage skips finished work and resumes interrupted work, so rerunning the same command continues the
study. `--workers N` runs N (algorithm, seed) pipelines side by side (train, then evaluate). Results:
results/<algo>_s<seed>.json (the evaluate CLI's JSON), table.md and table.csv and the training logs
(logs/, drawn by curves.py) beside this file (or in the config's out_dir).
"""

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

HERE = Path(__file__).resolve().parent


def load_config(path: Path) -> dict:
    with open(path, "rb") as f:
        cfg = tomllib.load(f)
    for key in ("out_dir", "runs_dir"):  # relative to the config file (an absolute path stays as it is)
        if key in cfg:
            cfg[key] = str(path.resolve().parent / cfg[key])
    return cfg


def run_path(cfg: dict, algo: str, seed: int) -> Path:
    stem = cfg["env"].split("-")[0].lower()
    return Path(cfg["runs_dir"]) / f"{stem}_{algo}_s{seed}.pt"


def trainer(name: str) -> str:
    """The --algo of a run name: 'arpo' for 'arpo' and for a variant such as 'arpo_joint'."""
    return name.split("_")[0]


def jobs(cfg: dict):
    return [(algo, seed) for seed in cfg["seeds"] for algo in cfg["algos"]]


def finished_training(cfg: dict, path: Path) -> bool:
    """Whether the run's checkpoint holds every iteration: the trainer runs max(steps // steps_per_iter, 1)
    iterations of steps_per_iter // n_envs steps per environment, with the run's own settings (its config)."""
    if not path.exists():
        return False
    from landscape.io import checkpoint
    from landscape.rl.ppo import PPOConfig

    agent = checkpoint.load(path)
    ppo = {**PPOConfig().to_dict(), **agent.config.get("ppo", {})}
    spi, n = ppo["steps_per_iter"], ppo["n_envs"]
    return agent.step >= max(cfg["steps"] // spi, 1) * max(spi // n, 1) * n


def train_command(cfg: dict, algo: str, seed: int) -> list[str] | None:
    """The training command for one run, with --resume when it was started; None when finished."""
    out = run_path(cfg, algo, seed)
    if finished_training(cfg, out):
        return None
    cmd = [
        sys.executable,
        "-m",
        "landscape.train",
        "--algo",
        trainer(algo),
        "--env",
        cfg["env"],
        "--steps",
        str(cfg["steps"]),
        "--seed",
        str(seed),
        "--out",
        str(out),
        *cfg["train_flags"],
        *cfg["algos"][algo],
    ]
    return cmd + ["--resume"] if out.exists() else cmd


def eval_command(cfg: dict, algo: str, seed: int) -> list[str]:
    ev = cfg["evaluation"]
    return [
        sys.executable,
        "-m",
        "landscape.evaluate",
        "--ckpt",
        str(run_path(cfg, algo, seed)),
        "--json",
        "--episodes",
        str(ev["episodes"]),
        "--seed",
        str(ev["seed"]),
        "--attack",
        ev["attacks"],
        "--adversary-steps",
        str(ev["adversary_steps"]),
    ]


def out_dir(cfg: dict) -> Path:
    """Where results/ and the tables go: beside this script unless the config says otherwise."""
    return Path(cfg.get("out_dir", HERE))


def result_path(cfg: dict, algo: str, seed: int) -> Path:
    return out_dir(cfg) / "results" / f"{algo}_s{seed}.json"


def looks_running(path: Path, within: float = 180.0) -> bool:
    """A run whose CSV log changed in the last few minutes is being trained by another process."""
    log = path.with_suffix(".csv")
    return log.exists() and time.time() - log.stat().st_mtime < within


def train(cfg: dict, algo: str, seed: int, dry: bool) -> bool:
    """Train (or resume) one run; True when the run is finished."""
    cmd = train_command(cfg, algo, seed)
    if cmd is None:
        return True
    log = run_path(cfg, algo, seed).with_suffix(".log")
    if looks_running(run_path(cfg, algo, seed)):
        print(f"skip {algo} seed {seed}: its log is being written by another process", flush=True)
        return False
    print(" ".join(cmd), f">> {log}", flush=True)
    if dry:
        return False
    with open(log, "a") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=True)
    return True


def evaluate(cfg: dict, algo: str, seed: int, dry: bool) -> None:
    """Attack one finished checkpoint; the JSON is written only when the evaluation completes."""
    if result_path(cfg, algo, seed).exists():
        return
    if train_command(cfg, algo, seed) is not None:
        print(f"skip {algo} seed {seed}: training unfinished", flush=True)
        return
    cmd = eval_command(cfg, algo, seed)
    print(" ".join(cmd), flush=True)
    if dry:
        return
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"evaluation of {algo} seed {seed} failed: {out.stderr.strip().splitlines()[-1]}")
    result_path(cfg, algo, seed).parent.mkdir(parents=True, exist_ok=True)
    result_path(cfg, algo, seed).write_text(out.stdout)


def run_stage(cfg: dict, stage: str, dry: bool, workers: int) -> None:
    """Every (algorithm, seed) through the stage's steps, `workers` pipelines at a time."""

    def pipeline(job):
        if stage in ("train", "all"):
            finished = train(cfg, *job, dry)
            if not finished:
                return
        if stage in ("eval", "all"):
            evaluate(cfg, *job, dry)

    todo = sorted(jobs(cfg), key=lambda job: train_command(cfg, *job) is None)  # the long pipelines first
    with ThreadPoolExecutor(max_workers=1 if dry else workers) as pool:
        for _ in tqdm(pool.map(pipeline, todo), total=len(todo), desc=stage, unit="run"):
            pass


def score(result: dict, column: str) -> float:
    """One cell of the table from one evaluate-CLI JSON: natural, an attack's or the worst-case mean return."""
    if column in ("natural", "worst"):
        return result[column]["mean"]
    return result["attacks"][column]["mean"]


def copy_logs(cfg: dict) -> None:
    """The finished runs' training CSVs into <out_dir>/logs/<algo>_s<seed>.csv (for curves.py and the record)."""
    (out_dir(cfg) / "logs").mkdir(parents=True, exist_ok=True)
    for algo, seed in jobs(cfg):
        log = run_path(cfg, algo, seed).with_suffix(".csv")
        if log.exists() and train_command(cfg, algo, seed) is None:
            shutil.copyfile(log, out_dir(cfg) / "logs" / f"{algo}_s{seed}.csv")


def stage_table(cfg: dict) -> list[dict]:
    """Medians over seeds of natural, each attack's and the worst-case return, then every seed's own row."""
    copy_logs(cfg)
    cols = ["natural", *cfg["evaluation"]["attacks"].split(","), "worst"]
    medians, per_seed = [], []
    for algo in cfg["algos"]:
        res = {s: json.loads(p.read_text()) for s in cfg["seeds"] if (p := result_path(cfg, algo, s)).exists()}
        if not res:
            continue
        medians.append(
            {"algo": algo, "n": len(res), **{c: statistics.median(score(r, c) for r in res.values()) for c in cols}}
        )
        per_seed += [{"algo": algo, "seed": s, **{c: score(r, c) for c in cols}} for s, r in res.items()]
    with open(out_dir(cfg) / "table.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["algo", "n", *cols])
        w.writeheader()
        w.writerows(medians)
    ev = cfg["evaluation"]
    row = lambda first, r: f"| {first} | " + " | ".join(f"{r[c]:.0f}" for c in cols) + " |"  # noqa: E731
    lines = [
        f"Median over seeds ({cfg['env']}, {cfg['steps']:,} training steps, {ev['episodes']} deterministic "
        f"episodes per checkpoint, eps = the env's standard; n = seeds evaluated)",
        "",
        "| algo | n | " + " | ".join(cols) + " |",
        "|---" * (len(cols) + 2) + "|",
    ]
    lines += [row(f"{r['algo']} | {r['n']}", r) for r in medians]
    lines += ["", "Every seed", "", "| algo | seed | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    lines += [row(f"{r['algo']} | {r['seed']}", r) for r in per_seed]
    (out_dir(cfg) / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return medians


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(HERE / "config.toml"))
    p.add_argument("--stage", choices=("train", "eval", "table", "all"), default="all")
    p.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    p.add_argument("--workers", type=int, default=1, help="(algorithm, seed) pipelines run side by side")
    args = p.parse_args(argv)
    cfg = load_config(Path(args.config))
    if args.stage != "table":
        run_stage(cfg, args.stage, args.dry_run, args.workers)
    if args.stage in ("table", "all") and not args.dry_run:
        stage_table(cfg)


if __name__ == "__main__":
    main()
