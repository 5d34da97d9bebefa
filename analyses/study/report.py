"""The study's results per environment: tables (medians and every seed), training curves, cost, published rows.

    python analyses/study/report.py analyses/study/hopper.toml [more configs]

Reads what `landscape.sweep` wrote under the config's `out` (runs/*.csv training logs, results/*.json
evaluations) and analyses/study/published.toml; writes <out>/table.md and <out>/curves.png. Runs that are
still training appear with their progress and no evaluation. Medians are over the seeds that have a result.

Cost columns: training wall and CPU hours summed from the trainer's per-iteration `wall_s` / `cpu_s`
columns; runs logged before those columns existed take them from <out>/timing.json (measured from the
outside, see there), else the wall time their throughput columns imply ("~h", no CPU time). Evaluation cost
comes from the result JSON: the evaluation call itself, and beside it the training CPU of every learned
attacker run it used (trained on demand or earlier and cached).

Gait: where <out>/gait.json exists (`analyses/study/halfcheetah_gait.py --json`: upright / on its back;
`analyses/study/ant_gait.py --json`: walks / stands / falls), every run gets its gait and the medians are given
again over the runs with the working gait (WORKING) alone.
"""

import csv
import json
import math
import statistics
import sys
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "attacks"))
from table import cell  # noqa: E402  (the attack table's cell format: mean +- se, runs, failed)

from landscape.sweep import load_config  # noqa: E402

ATTACKS = ("random", "mad", "critic", "surrogate", "rs", "optimal", "paad")
HERE = Path(__file__).resolve().parent


def read_log(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(row: dict, key: str) -> float | None:
    try:
        return float(row[key])
    except (KeyError, TypeError, ValueError):
        return None


def train_cost(log: list[dict], timing: dict) -> tuple[float | str | None, float | None]:
    """Training (wall, CPU) hours of a run: its log's per-iteration columns, else timing.json, else the wall
    time its throughput columns imply (steps / collect_sps + steps / update_sps per iteration; no CPU time),
    written "~h" because it leaves out evaluation and checkpointing."""
    wall = [num(r, "wall_s") for r in log]
    if log and all(w is not None for w in wall):
        return sum(wall) / 3600, sum(num(r, "cpu_s") for r in log) / 3600
    if "train_wall_h" in timing:
        return timing.get("train_wall_h"), timing.get("train_cpu_h")
    steps = [num(r, "step") for r in log]
    rates = [(num(r, "collect_sps"), num(r, "update_sps")) for r in log]
    if not log or any(None in pair or 0 in pair for pair in rates) or None in steps:
        return None, None
    deltas = [b - a for a, b in zip([0.0, *steps[:-1]], steps)]
    return f"~{sum(d / c + d / u for d, (c, u) in zip(deltas, rates)) / 3600:.2f}", None


def run_rows(cfg: dict, env: str) -> list[dict]:
    out = Path(cfg["out"])
    timing = json.loads((out / "timing.json").read_text()) if (out / "timing.json").exists() else {}
    gaits = json.loads((out / "gait.json").read_text()) if (out / "gait.json").exists() else {}
    rows = []
    for algo in cfg["algos"]:
        for seed in cfg["seeds"]:
            name = f"{env}_{algo}_s{seed}"
            log_path, res_path = out / "runs" / f"{name}.csv", out / "results" / f"{name}.json"
            log = read_log(log_path) if log_path.exists() else []
            res = json.loads(res_path.read_text()) if res_path.exists() else None
            wall, cpu = train_cost(log, timing.get(name, {}))
            gait = gaits.get(name, {}).get("gait")
            rows.append(
                {
                    "name": name,
                    "algo": algo,
                    "seed": seed,
                    "log": log,
                    "result": res,
                    "steps": int(log[-1]["step"]) if log else 0,
                    "train_wall_h": wall,
                    "train_cpu_h": cpu,
                    "std": num(log[-1], "action_std") if log else None,
                    "late": late_evaluations(log),
                    "gait": gait,
                }
            )
    return rows


def late_evaluations(log: list[dict]) -> str:
    """The training log's periodic evaluations over the run's last quarter (at full eps for the robust
    runs): mean +- sd and the share below half the run's best evaluation -- a policy that oscillates
    between good and failing iterates shows here, not in its final checkpoint alone."""
    evals = [e for r in log if (e := num(r, "eval_return")) is not None and not math.isnan(e)]
    late = evals[len(evals) * 3 // 4 :]
    if len(late) < 2:
        return ""
    low = sum(e < 0.5 * max(evals) for e in late) / len(late)
    return f"{statistics.mean(late):.0f} +- {statistics.stdev(late):.0f} ({100 * low:.0f}% low)"


def hours(x: float | str | None) -> str:
    return "" if x is None else x if isinstance(x, str) else f"{x:.2f}"


def attackers_cpu(res: dict | None) -> float | None:
    """CPU hours spent training the learned attackers' runs (every run of every set, as their JSON records
    them), which an evaluation that finds them cached does not pay again."""
    runs = [r for a in (res or {}).get("attacks", {}).values() for r in a.get("runs", [])]
    cpu = [r["train_cpu_s"] for r in runs if r.get("train_cpu_s") is not None]
    return sum(cpu) / 3600 if cpu else None


def eval_cost(res: dict | None) -> tuple[float | None, float | None]:
    sec = (res or {}).get("seconds", {})
    wall, cpu = sec.get("evaluate"), sec.get("evaluate_cpu")
    return (None if wall is None else wall / 3600), (None if cpu is None else cpu / 3600)


def seed_table(rows: list[dict], total_steps: int) -> list[str]:
    gaits = any(r["gait"] for r in rows)
    head = [
        "run",
        "steps",
        "final std",
        "late evals",
        *(["gait"] if gaits else []),
        "natural",
        *ATTACKS,
        "worst case",
        "train wall h",
        "train CPU h",
        "eval wall h",
        "eval CPU h",
        "learned attackers CPU h",
    ]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        res = r["result"]
        if res is None:
            status = (
                "not trained" if not r["steps"] else f"{100 * r['steps'] / total_steps:.0f}% trained, not evaluated"
            )
            vals = [status] + [""] * (len(ATTACKS) + 1)
        else:
            w = res["worst"]
            vals = [
                cell(res["natural"]),
                *(cell(res["attacks"][a]) if a in res.get("attacks", {}) else "" for a in ATTACKS),
                f"**{w['mean']:.0f}** ({w['attack']}, {100 * w['mean'] / res['natural']['mean']:.0f}%)",
            ]
        ew, ec = eval_cost(res)
        std = "" if r["std"] is None else f"{r['std']:.2f}"
        lines.append(
            "| "
            + " | ".join(
                [
                    r["name"],
                    f"{r['steps']:,}",
                    std,
                    r["late"],
                    *([r["gait"] or ""] if gaits else []),
                    *vals,
                    hours(r["train_wall_h"]),
                    hours(r["train_cpu_h"]),
                    hours(ew),
                    hours(ec),
                    hours(attackers_cpu(res)),
                ]
            )
            + " |"
        )
    return lines


def median_row(label: str, done: list[dict], n_cols: int) -> str:
    """Medians over the evaluated runs `done` (an attack's cell only when every run has it)."""
    if not done:
        return f"| {label} | 0 |" + " |" * (n_cols - 2)
    med = lambda get: f"{statistics.median(get(r) for r in done):.0f}"  # noqa: E731
    attacks = [
        med(lambda r, a=a: r["attacks"][a]["mean"]) if all(a in r.get("attacks", {}) for r in done) else ""
        for a in ATTACKS
    ]
    cells = [label, str(len(done)), med(lambda r: r["natural"]["mean"]), *attacks, med(lambda r: r["worst"]["mean"])]
    return "| " + " | ".join(cells) + " |"


WORKING = ("upright", "walks")  # the gaits that do the task: HalfCheetah on its feet, Ant moving without falls


def median_table(rows: list[dict], published: list[dict]) -> list[str]:
    """Medians per algorithm; where gaits are known (gait.json), also over the runs with a working gait alone,
    since a HalfCheetah that flipped onto its back caps its return whatever the algorithm, and an Ant that stands
    still collects its healthy reward and gives an attack nothing to disturb."""
    head = ["algorithm", "seeds evaluated", "natural", *ATTACKS, "worst case"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    algos = list(dict.fromkeys(r["algo"] for r in rows))
    for algo in algos:
        done = [r["result"] for r in rows if r["algo"] == algo and r["result"] is not None]
        lines.append(median_row(f"ours: {algo}", done, len(head)))
    if any(r["gait"] for r in rows):
        for algo in algos:
            ups = [r for r in rows if r["algo"] == algo and r["gait"] in WORKING]
            done = [r["result"] for r in ups if r["result"] is not None]
            runs = sum(r["algo"] == algo for r in rows)
            label = "/".join(g for g in WORKING if any(r["gait"] == g for r in rows))
            lines.append(median_row(f"ours: {algo}, {label} runs ({len(ups)} of {runs})", done, len(head)))
    for p in published:
        attacks = [f"{p['attacks'][a]:.0f}" if a in p.get("attacks", {}) else "" for a in ATTACKS]
        worst = f"{p['worst']:.0f}" if "worst" in p else ""
        lines.append(
            "| " + " | ".join([f"published: {p['method']}", "", f"{p['natural']:.0f}", *attacks, worst]) + " |"
        )
    return lines


def curves(rows: list[dict], env: str, path: Path) -> None:
    """Evaluation return, action std and eps against environment steps, one colour per algorithm."""
    colors = {"spo": "tab:blue", "arpo": "tab:red", "barpo": "tab:green"}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for r in rows:
        if not r["log"]:
            continue
        steps = [int(x["step"]) / 1e6 for x in r["log"]]
        style = dict(
            color=colors.get(r["algo"]), lw=1, ls=("-", "--", ":")[r["seed"] % 3], label=f"{r['algo']} s{r['seed']}"
        )
        axes[0].plot(steps, [num(x, "eval_return") for x in r["log"]], **style)
        axes[1].plot(steps, [num(x, "action_std") for x in r["log"]], **style)
        if r["algo"] != "spo":
            axes[2].plot(steps, [num(x, "eps") for x in r["log"]], **style)
    for ax, title in zip(axes, ("deterministic eval return (5 episodes)", "mean action std", "attack eps in training")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("environment steps (M)")
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=7, ncol=3)
    fig.suptitle(env, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def published_rows(env: str) -> tuple[list[dict], list[str]]:
    path = HERE / "published.toml"
    if not path.exists():
        return [], []
    data = tomllib.loads(path.read_text())
    rows = [r for r in data.get("row", []) if r.get("env") == env]
    notes = [f"- published {r['method']}: {r['source']}" + (f"; {r['note']}" if r.get("note") else "") for r in rows]
    return rows, notes


def report(config: str) -> Path:
    cfg = load_config(config)
    out = Path(cfg["out"])
    lines = []
    for env in cfg["envs"]:
        rows = run_rows(cfg, env)
        published, notes = published_rows(env)
        curves(rows, env, out / "curves.png")
        lines += [
            f"# {env}: SPO, ARPO, BARPO, {len(cfg['seeds'])} seeds, {cfg['steps']:,} steps",
            "",
            f"Generated by `python analyses/study/report.py {config}`; curves: `curves.png`.",
            "Cells: mean +- SE over the evaluation's deterministic episodes; learned attacks add the range",
            "of their adversary runs; (failed) = did not lower the return; worst case = min over attacks",
            "and natural, with its share of natural. Late evals: the training log's periodic evaluations",
            "over the last quarter of the run, mean +- sd (low: below half the run's best).",
            *(
                ["Gait: how the final checkpoint moves (`gait.md`); on its back or standing still caps the return."]
                if any(r["gait"] for r in rows)
                else []
            ),
            "",
            "## Medians over seeds (and published rows)",
            "",
            *median_table(rows, published),
            "",
            *(["Sources:", *notes, ""] if notes else []),
            "## Every run",
            "",
            *seed_table(rows, cfg["steps"]),
            "",
        ]
    path = out / "table.md"
    path.write_text("\n".join(lines))
    return path


if __name__ == "__main__":
    for c in sys.argv[1:] or [str(HERE / "hopper.toml")]:
        print(f"wrote {report(c)}")
