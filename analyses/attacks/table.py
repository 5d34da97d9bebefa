"""One markdown table from `landscape.evaluate --json` results: natural, each attack and the worst case.

    python analyses/attacks/table.py analyses/attacks/*_eps0.075.json
"""

import json
import sys


def cell(r: dict) -> str:
    return f"{r['mean']:.0f} +- {r['se']:.0f}"


def main(paths: list[str]) -> None:
    results = [json.load(open(p)) for p in paths]
    attacks = list(dict.fromkeys(a for r in results for a in r.get("attacks", {})))
    print("| checkpoint | algo | natural | " + " | ".join(attacks) + " | worst case |")
    print("|---|---|" + "---:|" * (len(attacks) + 2))
    for r in results:
        row = [r["ckpt"], r["algo"], cell(r["natural"])]
        row += [cell(r["attacks"][a]) if a in r.get("attacks", {}) else "" for a in attacks]
        row.append(f"**{cell(r['worst'])}** ({r['worst']['attack']})" if "worst" in r else "")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
