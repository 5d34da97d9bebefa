"""Bundle a study's median-robustness seeds as the package's default checkpoints for their environment.

    python analyses/study/bundle.py analyses/study/ant.toml ant            # copies, and says what it chose
    python analyses/study/bundle.py analyses/study/ant.toml ant --dry-run  # only says

Per algorithm, the seed whose worst case (the sweep result's `worst`: the minimum over the attacks and natural)
is the median over its seeds, as ATLA bundles (never the best); with an even count, the lower middle one. Every
seed must have been evaluated. Copied into landscape/checkpoints as <prefix>_<algo>.*: the checkpoint, its rs Q
(`.rs.pt`) and its learned attackers with their run sets (`.optimal-eps<eps>.pt`, `.paad-eps<eps>.pt`, `.runs/`),
which is what an analysis of a bundled checkpoint reuses instead of training them again.
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

from landscape.attacks.base import cache_path
from landscape.attacks.learned import set_dir
from landscape.sim.envs import env_spec
from landscape.sweep import load_config, result_path, run_specs

BUNDLED = Path(__file__).resolve().parents[2] / "landscape" / "checkpoints"
LEARNED = ("optimal", "paad")


def median_seed(worst: dict[int, float]) -> int:
    """The seed at the median worst case (lower middle for an even count; ties by seed)."""
    ranked = sorted(worst, key=lambda seed: (worst[seed], seed))
    return ranked[(len(ranked) - 1) // 2]


def choose(config: str) -> dict[str, dict]:
    """Per algorithm: the chosen run's spec and every seed's worst case."""
    cfg = load_config(config)
    chosen = {}
    for algo in cfg["algos"]:
        specs = {s["seed"]: s for s in run_specs(cfg) if s["algo"] == algo}
        missing = [s["name"] for s in specs.values() if not result_path(cfg, s["name"]).exists()]
        if missing:
            sys.exit(f"error: not evaluated yet: {', '.join(missing)}")
        worst = {
            seed: json.loads(result_path(cfg, s["name"]).read_text())["worst"]["mean"] for seed, s in specs.items()
        }
        chosen[algo] = {"spec": specs[median_seed(worst)], "worst": worst}
    return chosen


def files_of(ckpt: Path, eps: float) -> list[Path]:
    """The checkpoint and what is cached beside it for it (rs Q, learned attackers and their run sets)."""
    attackers = [cache_path(ckpt, name, eps) for name in LEARNED]
    return [ckpt, cache_path(ckpt, "rs"), *attackers, *map(set_dir, attackers)]


def bundle(spec: dict, prefix: str, dest: Path = BUNDLED) -> list[Path]:
    src, eps = Path(spec["ckpt"]), env_spec(spec["env"]).eps
    stem = f"{prefix}_{spec['algo']}"
    sources = files_of(src, eps)
    absent = [str(p) for p in sources if not p.exists()]
    if absent:
        sys.exit(f"error: {spec['name']} lacks {', '.join(absent)} (evaluate it with the full suite first)")
    written = []
    for path in sources:
        target = dest / path.name.replace(src.stem, stem, 1)
        if path.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(path, target)
        else:
            shutil.copy2(path, target)
        written.append(target)
    return written


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", help="the study's sweep config")
    p.add_argument("prefix", help="bundled name prefix, e.g. ant -> ant_spo.pt")
    p.add_argument("--dry-run", action="store_true", help="say what would be bundled, copy nothing")
    args = p.parse_args()
    for algo, pick in choose(args.config).items():
        per_seed = ", ".join(f"s{seed} {w:.0f}" for seed, w in sorted(pick["worst"].items()))
        print(f"{args.prefix}_{algo}: {pick['spec']['name']} (worst case per seed: {per_seed})")
        if not args.dry_run:
            bundle(pick["spec"], args.prefix)


if __name__ == "__main__":
    main()
