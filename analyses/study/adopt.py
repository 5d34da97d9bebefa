"""Adopt a `landscape.evaluate --json` result as a sweep run's result, so the sweep does not redo it.

    python analyses/study/adopt.py CONFIG RUN_NAME EVALUATE_JSON

Only when the evaluated checkpoint is byte-identical to the run's (sha256) and the evaluation matches the
config's (episodes, seed, eps, the same attacks): the sweep's own evaluation would then
compute the same thing with the same code. Used for Hopper seed 0 of ARPO and BARPO, whose checkpoints are
the bundled ones evaluated in analyses/attacks/. The result records where it came from (`adopted_from`).
"""

import hashlib
import json
import sys
from pathlib import Path

from landscape.envs import env_spec
from landscape.sweep import load_config, result_path, run_specs, write_result


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def adopt(config: str, name: str, evaluation: str) -> Path:
    cfg = load_config(config)
    spec = next((s for s in run_specs(cfg) if s["name"] == name), None)
    if spec is None:
        sys.exit(f"error: no run {name} in {config}")
    res, ev = json.loads(Path(evaluation).read_text()), spec["evaluation"]
    eps = env_spec(spec["env"]).eps if ev["eps"] is None else ev["eps"]
    checks = {
        "checkpoint bytes": sha(res["ckpt"]) == sha(spec["ckpt"]),
        "episodes": res["episodes"] == ev["episodes"],
        "seed": res["seed"] == ev["seed"],
        "eps": res.get("eps") == eps,
        "attacks": set(res.get("attacks", {})) == set(ev["attacks"]),
        "deterministic": res["deterministic"],
    }
    if not all(checks.values()):
        sys.exit(f"error: {evaluation} does not match run {name}: {', '.join(k for k, ok in checks.items() if not ok)}")
    result = {
        "name": name,
        "env": spec["env"],
        "algo": spec["algo"],
        "seed": spec["seed"],
        "steps": None,
        "ckpt": spec["ckpt"],
        "spec": spec,
        "natural": res["natural"],
        "eps": eps,
        "attacks": res["attacks"],
        "worst": res["worst"],
        "adopted_from": evaluation,
        "seconds": {
            "evaluate": sum(a.get("wall_s", 0) + a.get("build_wall_s", 0) for a in res["attacks"].values()),
            "evaluate_cpu": sum(a.get("cpu_s", 0) + a.get("build_cpu_s", 0) for a in res["attacks"].values()),
        },
    }
    write_result(cfg, result)
    return result_path(cfg, name)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.splitlines()[2].strip())
    print(f"wrote {adopt(*sys.argv[1:])}")
