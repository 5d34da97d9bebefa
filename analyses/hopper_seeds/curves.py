"""Training curves of the 3-seed study: evaluation return and the policy's action std against steps.

    python analyses/hopper_seeds/curves.py [--logs DIR ...] [--out figures/hopper_training]

Reads the per-run CSV logs (`<algo>_s<seed>.csv`, copied by `run.py --stage table` into logs/ and, for the
`--std-from joint` ablation, ablation/logs/ as `<algo>_joint_s<seed>.csv`, drawn dashed). Per algorithm: every
seed thin, the median over seeds thick.
"""

import argparse
import csv
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from landscape.viz.render import DOUBLE_COL, OKABE_ITO, plt, save

HERE = Path(__file__).resolve().parent
ALGOS = ["spo", "arpo", "barpo"]


def read_log(path: Path) -> dict[str, np.ndarray]:
    """Steps, evaluation returns (only the rows where an evaluation ran) and the action std (nan if not logged)."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    evals = [r for r in rows if r["eval_return"] != "nan" and int(r["iteration"]) % 10 == 0]
    return {
        "step": np.array([int(r["step"]) for r in evals]),
        "eval": np.array([float(r["eval_return"]) for r in evals]),
        "std": np.array([float(r.get("action_std") or "nan") for r in evals]),
    }


def group_logs(folders: list[Path]) -> dict[tuple[str, str], list[dict]]:
    """(algo, variant) -> the runs' logs, variant '' or e.g. 'joint'."""
    runs = defaultdict(list)
    for path in sorted(p for folder in folders for p in folder.glob("*_s*.csv")):
        m = re.fullmatch(r"([a-z]+)(?:_([a-z]+))?_s(\d+)", path.stem)
        if m:
            runs[(m[1], m[2] or "")].append(read_log(path))
    return runs


def median_curve(logs: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(log["step"]) for log in logs)
    return logs[0]["step"][:n], np.median([log[key][:n] for log in logs], axis=0)


def draw(runs: dict, out: Path) -> list[Path]:
    fig, axes = plt.subplots(1, 2, figsize=(DOUBLE_COL, 2.6))
    for (algo, variant), logs in sorted(runs.items()):
        colour = OKABE_ITO[ALGOS.index(algo) if algo in ALGOS else len(ALGOS)]
        style = "--" if variant else "-"
        label = f"{algo.upper()}" + (f" (std {variant})" if variant else "") + f", {len(logs)} seed(s)"
        for ax, key in zip(axes, ("eval", "std")):
            for log in logs:
                ax.plot(log["step"] / 1e6, log[key], style, color=colour, lw=0.4, alpha=0.35)
            steps, med = median_curve(logs, key)
            ax.plot(steps / 1e6, med, style, color=colour, lw=1.3, label=label if key == "eval" else None)
    axes[0].set(xlabel="environment steps (M)", ylabel="evaluation return (5 episodes)")
    axes[1].set(xlabel="environment steps (M)", ylabel="action std (mean over dimensions)", yscale="log")
    handles, labels = axes[0].get_legend_handles_labels()  # one legend under both panels, off the curves
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return save(fig, out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--logs", nargs="+", default=[str(HERE / "logs"), str(HERE / "ablation" / "logs")])
    p.add_argument("--out", default=str(HERE.parents[1] / "figures" / "hopper_training"))
    args = p.parse_args(argv)
    runs = group_logs([Path(folder) for folder in args.logs])
    if not runs:
        raise SystemExit(f"no <algo>_s<seed>.csv logs in {args.logs}")
    print("\n".join(str(path) for path in draw(runs, Path(args.out))))


if __name__ == "__main__":
    main()
