"""The Hopper FOSP census as markdown: per checkpoint and objective the stationarity verdict with its numbers,
and stickiness against the null.

    python analyses/census/table.py reports/census        # reads fosp_hopper_<algo>.json, sticky_hopper_<algo>.json
"""

import json
import sys
from pathlib import Path

ALGOS = ("spo", "arpo", "barpo")


def reports(d: Path, kind: str):
    """(algo, report) for each checkpoint whose `<kind>_hopper_<algo>.json` exists in d."""
    for algo in ALGOS:
        path = d / f"{kind}_hopper_{algo}.json"
        if path.exists():
            yield algo, json.loads(path.read_text())


def fosp_rows(d: Path) -> list[str]:
    rows = [
        "| checkpoint | baseline | objective | episodes | verdict | norm +- se | test bounds (lower, upper; z = 2.45) | threshold "
        "(0.5 x reference; episodes per reference point) | min. detectable | std-scaled norm | largest block |",
        "|---|---|---|---:|---|---:|---|---:|---:|---:|---|",
    ]
    for algo, report in reports(d, "fosp"):
        test = report["points"][0]["test"]
        baseline = report["settings"].get("baseline", "critic")  # reports before the time-limit baseline: critic
        for obj, t in test.items():
            raw, sc = t["raw"], t["scaled"]
            block = max(raw["blocks"].items(), key=lambda kv: kv[1]["norm"])
            ref = t.get("reference", {})
            # a reference whose U is within 2 SE of 0 gives threshold ~0: the test then cannot certify anything
            threshold = (
                f"{raw['threshold']:.0f}" if ref.get("resolved_raw", True) else "undefined (reference unresolved)"
            )
            threshold += f"; {ref['episodes']}" if "episodes" in ref else ""
            rows.append(
                f"| {algo} | {baseline} | {obj} | {t['episodes']} | {t['verdict']} | {raw['norm']:.0f} +- {raw['norm_se']:.0f}"
                f" | {raw['lower']:.0f}, {raw['upper']:.0f} | {threshold} | "
                f"{raw['min_detectable_norm']:.0f} | {sc['norm']:.0f} ({sc['verdict']}) | "
                f"{block[0]} {block[1]['norm']:.0f} |"
            )
    return rows


def sticky_rows(d: Path) -> list[str]:
    rows = [
        "| checkpoint | objective | restarts | fell back | escaped (2 radii) | final distance (radii) | "
        "null's | Mann-Whitney p | differs from null |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for algo, r in reports(d, "sticky"):
        for obj, o in r["objectives"].items():
            if obj == "null":
                continue
            v = o["vs_null"]
            rows.append(
                f"| {algo} | {obj} | {len(o['fell_back'])} | {sum(o['fell_back'])} | "
                f"{o['escaped_share']:.0%} | {v['final_distance_radii']:.2f} | {v['null_final_distance_radii']:.2f}"
                f" | {v['mann_whitney_p']:.2g} | {'yes' if v['differs_from_null'] else 'no'} |"
            )
    return rows


if __name__ == "__main__":
    d = Path(sys.argv[1] if len(sys.argv) > 1 else "reports/census")
    print("\n".join(fosp_rows(d)) + "\n\n" + "\n".join(sticky_rows(d)))
