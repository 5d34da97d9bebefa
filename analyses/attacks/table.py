"""One markdown table from `landscape.evaluate --json` results: natural, each attack and the worst case.

    python analyses/attacks/table.py analyses/attacks/*_eps0.075.json
    python analyses/attacks/table.py --merge OUT.json A.json B.json   # one checkpoint evaluated in parts

--merge unites the attacks of several results of the same checkpoint, eps, episodes and seed (their
natural returns must be identical: same deterministic episodes) and recomputes the worst case over the
attacks and natural; it lets an expensive attack be added to a table without rerunning the others.

Each cell is mean +- SE over episodes; a learned attack selected from a set of adversary runs adds the
range of the runs' means ("runs a..b"); an attack that did not lower the return is marked (failed).
The worst case is the minimum over the attacks and the natural return.
"""

import json
import sys


def cell(r: dict) -> str:
    out = f"{r['mean']:.0f} +- {r['se']:.0f}"
    if "spread" in r:
        s = r["spread"]
        out += f" (runs {s['min']:.0f}..{s['max']:.0f}, n={s['n_runs']})"
    if r.get("failed"):
        out += " (failed)"
    return out


def merge(paths: list[str]) -> dict:
    parts = [json.load(open(p)) for p in paths]
    key = lambda r: (r["ckpt"], r.get("eps"), r["episodes"], r["seed"], r["deterministic"])  # noqa: E731
    if len({key(r) for r in parts}) != 1 or len({tuple(r["natural"]["returns"]) for r in parts}) != 1:
        sys.exit("error: --merge needs results of the same checkpoint, eps, episodes and seed")
    out = {**parts[0], "attacks": {a: r for p in parts for a, r in p.get("attacks", {}).items()}}
    pool = {"natural": out["natural"], **out["attacks"]}
    worst = min(pool, key=lambda n: pool[n]["mean"])
    out["worst"] = {"attack": worst, **{k: pool[worst][k] for k in ("mean", "se", "n")}}
    return out


def main(paths: list[str]) -> None:
    results = [json.load(open(p)) for p in paths]
    attacks = list(dict.fromkeys(a for r in results for a in r.get("attacks", {})))
    print("| checkpoint | algo | natural | " + " | ".join(attacks) + " | worst case |")
    print("|---|---|" + "---:|" * (len(attacks) + 2))
    for r in results:
        row = [r["ckpt"], r["algo"], cell(r["natural"])]
        row += [cell(r["attacks"][a]) if a in r.get("attacks", {}) else "" for a in attacks]
        if "worst" in r:
            w = r["worst"]
            row.append(
                f"**{w['mean']:.0f} +- {w['se']:.0f}** ({w['attack']}, "
                f"{100 * w['mean'] / r['natural']['mean']:.0f}% of natural)"
            )
        else:
            row.append("")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--merge"]:
        json.dump(merge(sys.argv[3:]), open(sys.argv[2], "w"))
    else:
        main(sys.argv[1:])
