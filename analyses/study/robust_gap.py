"""How the robust term evolves over training: the adversarial gap per quarter of each robust run.

    python analyses/study/robust_gap.py analyses/study/{hopper,walker2d,halfcheetah,ant}/runs/*_*arpo_s?.csv \
        > analyses/study/robust_gap.md

The training log records, per iteration, the mean clipped-surrogate loss on clean observations (`loss_nat`) and
how much the trainer's own attack raises it (`adv_gap` = loss on attacked observations - loss_nat; robust_loss.py).
A gap that falls as training goes on means the policy is becoming insensitive to its observations; one that
rises means it is learning a gait that reads them.
"""

import argparse
import csv
from pathlib import Path

import numpy as np

QUARTERS = 4


def quarter_means(values: np.ndarray) -> list[float]:
    return [float(part.mean()) for part in np.array_split(values, QUARTERS)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("logs", nargs="+", help="training logs (<run>.csv) of ARPO / BARPO runs")
    args = p.parse_args()
    quarters = " | ".join(f"Q{i + 1}" for i in range(QUARTERS))
    print("Mean per quarter of training of the logged adv_gap and abs(loss_nat) (analyses/study/robust_gap.py).\n")
    print(f"| run | iterations | adv_gap {quarters} | abs(loss_nat) {quarters} |")
    print("|---|---:|" + "---:|" * (2 * QUARTERS))
    for path in args.logs:
        rows = list(csv.DictReader(open(path)))
        gap = np.array([float(r["adv_gap"]) for r in rows])
        nat = np.abs([float(r["loss_nat"]) for r in rows])
        cells = " | ".join(f"{v:.4f}" for v in quarter_means(gap) + quarter_means(nat))
        print(f"| {Path(path).stem} | {len(rows)} | {cells} |")


if __name__ == "__main__":
    main()
