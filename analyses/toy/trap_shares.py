"""Trap shares of the analytic toy (landscape/sim/toys/trap.py) with Wilson 95% intervals.

Exact gradient ascent (lr 0.05, 2000 steps) from N starts drawn uniformly (seeded torch generator,
trap.random_starts) from a start box; SPO, ARPO (strongest adversary), BARPO (the paper's bilevel form: KL
inner objective + SPO guidance kappa = 1) and BARPO-budget (eps x 0.5), the robust ones under the *same* eps
schedule -- 'ramp' (linear from 0 over the first 75%) and 'constant' (full eps from the start). End points are
classified within 0.1 of the trap, the ORP, the natural optimum, or 'other'. A sensitivity table repeats ARPO
and BARPO over several start boxes.

    python analyses/toy/trap_shares.py [--n 150]     # writes analyses/toy/trap_shares.json and .md
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from landscape.sim.toys import trap

BOXES = {
    "default [-2,2]x[-0.5,2]": trap.START_BOX,
    "[-1,1]x[-0.5,2]": ((-1.0, 1.0), (-0.5, 2.0)),
    "[-2,2]x[-0.5,0.5]": ((-2.0, 2.0), (-0.5, 0.5)),
    "[-2,0]x[-0.5,2]": ((-2.0, 0.0), (-0.5, 2.0)),
    "[-3,3]x[-1,3]": ((-3.0, 3.0), (-1.0, 3.0)),
}


def summarize(end: torch.Tensor, algo: str, schedule: str) -> dict:
    n = len(end)
    o = trap.outcome(end)
    k = int((o == "trap").sum())
    lo, hi = trap.wilson(k, n)
    with torch.no_grad():
        nat, worst = trap.natural_return(end).mean().item(), trap.worst_return(end).mean().item()
    return {
        "algo": algo,
        "schedule": schedule,
        "n": n,
        "trap": k,
        "trap_share": k / n,
        "wilson95": [lo, hi],
        **{c: int((o == c).sum()) for c in ("orp", "natural", "other")},
        "mean_natural": nat,
        "mean_worst": worst,
        "other_points": np.unique(end[o == "other"].numpy().round(2), axis=0).tolist()[:5],
    }


def run_all(n: int) -> tuple[list, list]:
    """One batched ascent per (algorithm, schedule) over the main starts and every box's starts."""
    sets = [("main", trap.random_starts(n, 0))] + [(name, trap.random_starts(n, 1, box)) for name, box in BOXES.items()]
    allstarts = torch.cat([s for _, s in sets])
    main_rows, sens = [], []
    for sc in ("ramp", "constant"):
        for al in trap.ALGOS:
            if al == "spo" and sc == "constant":
                continue
            end = trap.ascend(allstarts, al, schedule=sc)
            for i, (name, _) in enumerate(sets):
                r = summarize(end[i * n : (i + 1) * n], al, sc)
                if name == "main":
                    main_rows.append(r)
                elif al in ("arpo", "barpo"):
                    sens.append({"box": name, **r})
            print(f"done {al} {sc}", flush=True)
    return main_rows, sens


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=150)
    p.add_argument("--out", default=str(Path(__file__).with_name("trap_shares")))
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    main_rows, sens = run_all(a.n)
    Path(a.out + ".json").write_text(json.dumps({"main": main_rows, "sensitivity": sens}, indent=1))
    fmt = lambda r: (  # noqa: E731
        f"{r['trap']}/{r['n']} ({100 * r['trap_share']:.0f}%, {100 * r['wilson95'][0]:.0f}-{100 * r['wilson95'][1]:.0f}%)"
    )
    lines = [
        "| algorithm | eps schedule | trapped (95% Wilson) | ORP | natural opt. | other | mean J_nat | mean J_worst |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in main_rows:
        lines.append(
            f"| {r['algo']} | {r['schedule'] if r['algo'] != 'spo' else '-'} | {fmt(r)} | {r['orp']} | "
            f"{r['natural']} | {r['other']} | {r['mean_natural']:.3f} | {r['mean_worst']:.3f} |"
        )
    lines += ["", "| start box | ARPO ramp | BARPO ramp | ARPO constant | BARPO constant |", "|---|---|---|---|---|"]
    for name in BOXES:
        row = {(r["algo"], r["schedule"]): r for r in sens if r["box"] == name}
        lines.append(
            f"| {name} | "
            + " | ".join(fmt(row[(al, sc)]) for sc in ("ramp", "constant") for al in ("arpo", "barpo"))
            + " |"
        )
    Path(a.out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
