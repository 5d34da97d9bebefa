"""Sets of learned attackers: several settings x seeds, selected by a held-out evaluation.

    python -m landscape.attacks.learned --ckpt CKPT --attack optimal|paad [--eps E]
        [--lr 1e-3,3e-4] [--entropy 0,0.01] [--steps 500000,2000000] [--seeds 0,1,2] [--list]

A learned attacker is only as strong as its training, and one PPO run of an adversary is a noisy draw
(on our SPO Hopper the victim's return under three seeds' adversaries: 1591 / 595 / 551). So a learned
attack is a *set* of runs, kept beside the checkpoint:

    <stem>.<attack>-eps<E>.runs/<setting>_s<seed>.pt     each run (resumable; its .best.pt and .csv beside)
    <stem>.<attack>-eps<E>.runs/runs.json                 what was tried: settings, wall/CPU time, held-out scores
    <stem>.<attack>-eps<E>.pt                             the selected iterate (what the attack loads)

Training a set trains only the runs that are missing or unfinished (a rerun with more settings or
seeds adds to the set and repeats nothing), and selects after every run (so an interrupted set leaves a
usable cache): every finished run offers two iterates, its
final one and its strongest periodic evaluation (`.best.pt`, chosen on the trainer's 5 evaluation
episodes), and each is scored on HOLDOUT_EPISODES held-out episodes (seeds from HOLDOUT_SEED: disjoint
from the trainer's evaluation seeds and from the evaluation's 0..N-1). The iterate with the lowest
held-out victim return is copied to the cache; its config["selection"] lists every run with its
settings, times and held-out score, so evaluate.py can report the spread across runs.

A setting is (learning rate of policy and value, entropy coefficient, steps); every other PPO setting
is the adversary's default (training.adversary_ppo). The same machinery serves every learned attack
(`optimal`, `paad`). A cache written before sets existed (one run, no selection) is imported as a run
of its own setting the first time a set is trained.
"""

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.errors import LandscapeError, cli_main
from ..io import bundled, checkpoint
from ..model.agent import Agent
from ..rl.ppo import PPOConfig
from .base import cache_path
from .training import (
    DEFAULT_STEPS,
    adversary_ppo,
    check_adversary,
    is_finished,
    learned_kind,
    train_adversary,
    victim_return,
)
from ..core.threads import single_thread

HOLDOUT_SEED = 2_000_000  # held-out selection episodes (the trainer evaluates on 1_000_000 + e, evaluate.py on 0 + e)
HOLDOUT_EPISODES = 20
DEFAULT_GAMMA = PPOConfig.gamma  # the adversary's PPO default (training.adversary_ppo does not override it)


@dataclass(frozen=True)
class Setting:
    lr: float = 1e-3  # policy and value learning rate
    entropy: float = 0.0  # entropy coefficient
    steps: int = DEFAULT_STEPS
    gamma: float = DEFAULT_GAMMA  # discount of the adversary's PPO (default_settings: why 0.999 is tried too)

    @property
    def tag(self) -> str:
        steps = f"{self.steps // 1000}k" if self.steps % 1000 == 0 else str(self.steps)
        gamma = "" if self.gamma == DEFAULT_GAMMA else f"_g{self.gamma:g}"  # the tags of earlier sets unchanged
        return f"lr{self.lr:g}_ent{self.entropy:g}{gamma}_{steps}"

    def ppo(self, **overrides):
        ppo = {"lr_policy": self.lr, "lr_value": self.lr, "entropy_coef": self.entropy, "gamma": self.gamma}
        return adversary_ppo(**{**ppo, **overrides})

    @classmethod
    def of(cls, config: dict) -> "Setting":
        """The setting a trained adversary's config records."""
        ppo = config.get("ppo", {})
        return cls(
            float(ppo.get("lr_policy", 1e-3)),
            float(ppo.get("entropy_coef", 0.0)),
            int(config.get("steps", DEFAULT_STEPS)),
            float(ppo.get("gamma", DEFAULT_GAMMA)),
        )


def set_dir(cache: Path) -> Path:
    """The directory of the set a selected cache was chosen from: beside it, under the cache's own name."""
    return cache.with_name(cache.stem + ".runs")


def runs_dir(ckpt, kind: str, eps: float) -> Path:
    return set_dir(cache_path(ckpt, kind, eps))


def run_name(setting: Setting, seed: int) -> str:
    return f"{setting.tag}_s{seed}"


def _manifest(d: Path) -> dict:
    f = d / "runs.json"
    if not f.exists():
        return {"runs": {}}
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as err:
        raise LandscapeError(f"{f}: unreadable ({err}); delete it to rebuild the held-out scores")


def _write_manifest(d: Path, manifest: dict) -> None:
    tmp = d / "runs.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    tmp.replace(d / "runs.json")


def _import_legacy(victim: Agent, ckpt, kind: str, eps: float, d: Path) -> None:
    """A cache written before sets existed (one run, no selection) becomes a run of the set."""
    cache = cache_path(ckpt, kind, eps)
    if not cache.exists():
        return
    raw = checkpoint.load_raw(cache)
    if "selection" in raw.get("config", {}):
        return
    adv = checkpoint.load(cache)
    check_adversary(adv, victim, eps, cache, kind)
    name = run_name(Setting.of(adv.config), int(adv.config.get("seed", 0)))
    d.mkdir(parents=True, exist_ok=True)
    if not (d / f"{name}.pt").exists():
        shutil.copy2(cache, d / f"{name}.pt")
        for suffix in (".best.pt", ".csv"):
            src = cache.with_name(cache.stem + suffix)
            if src.exists():
                shutil.copy2(src, d / f"{name}{suffix}")
        manifest = _manifest(d)
        manifest["runs"].setdefault(name, {})["imported_from"] = cache.name
        _write_manifest(d, manifest)


def _plan(d: Path, settings: list[Setting], seeds: list[int], ppo: dict | None, kind_opts: dict) -> None:
    """Record the runs a set is about to train as pending: the cache is selected after every run, so a set
    interrupted between or inside runs leaves a usable cache, and this record is what tells ensure_cache that
    the set is not whole yet."""
    manifest = _manifest(d)
    pending = manifest.setdefault("pending", {})
    for seed in seeds:
        for setting in settings:
            pending.setdefault(
                run_name(setting, seed), {"setting": asdict(setting), "seed": seed, "ppo": ppo, "opts": kind_opts}
            )
    _write_manifest(d, manifest)


def _done(d: Path, name: str) -> None:
    manifest = _manifest(d)
    if manifest.get("pending", {}).pop(name, None) is not None:
        _write_manifest(d, manifest)


def finish_pending(victim: Agent, ckpt, kind: str, eps: float, progress: bool = True) -> Path | None:
    """Train the runs an interrupted set left pending (each with its own settings), then select again; None
    when nothing is pending."""
    pending = _manifest(runs_dir(ckpt, kind, eps)).get("pending", {})
    cache = None
    for entry in list(pending.values()):
        cache = train_set(
            victim,
            ckpt,
            kind,
            eps,
            [Setting(**entry["setting"])],
            [int(entry["seed"])],
            progress=progress,
            ppo=entry.get("ppo"),
            **(entry.get("opts") or {}),
        )
    return cache


def train_set(
    victim: Agent,
    ckpt,
    kind: str,
    eps: float,
    settings: list[Setting],
    seeds: list[int],
    holdout_episodes: int = HOLDOUT_EPISODES,
    progress: bool = True,
    ppo: dict | None = None,
    **kind_opts,
) -> Path:
    """Train the missing runs of settings x seeds against the victim saved at `ckpt`, then select; returns the
    cache path. kind_opts: the attack's own settings (PA-AD: actor_steps), the same for every run; ppo:
    other PPO settings than the adversary's defaults (tests: smaller batches)."""
    cls = learned_kind(kind)
    want = cls.settings(**kind_opts)
    d = runs_dir(ckpt, kind, eps)
    _import_legacy(victim, ckpt, kind, eps, d)
    d.mkdir(parents=True, exist_ok=True)
    _plan(d, settings, seeds, ppo, kind_opts)
    for seed in seeds:  # every setting's first seed before any second seed: an interrupted set is still a sweep
        for setting in settings:
            name = run_name(setting, seed)
            path = d / f"{name}.pt"
            if path.exists():
                adv = checkpoint.load(path)
                check_adversary(adv, victim, eps, path, kind)
                have = {k: adv.config.get(k) for k in want}
                if have != want:
                    raise LandscapeError(f"{path}: trained with {have}, not {want}; use another set or remove it")
                if is_finished(path):
                    _done(d, name)
                    continue
            if progress:
                print(f"{kind} run {name}: training {'(resumed)' if path.exists() else ''}", flush=True)
            wall, cpu = time.perf_counter(), time.process_time()
            train_adversary(
                victim,
                path,
                eps,
                steps=setting.steps,
                seed=seed,
                resume=path.exists(),
                victim_path=ckpt,
                cfg=setting.ppo(**(ppo or {})),
                kind=kind,
                **kind_opts,
            )
            manifest = _manifest(d)
            entry = manifest["runs"].setdefault(name, {})
            entry["wall_s"] = entry.get("wall_s", 0.0) + time.perf_counter() - wall
            entry["cpu_s"] = entry.get("cpu_s", 0.0) + time.process_time() - cpu
            manifest.get("pending", {}).pop(name, None)
            _write_manifest(d, manifest)
            select(victim, ckpt, kind, eps, holdout_episodes)  # after every run: an interrupted set is usable
    return select(victim, ckpt, kind, eps, holdout_episodes)


def _score(victim: Agent, path: Path, episodes: int) -> dict:
    from ..core.numerics import mean_se

    adv = checkpoint.load(path)
    wall, cpu = time.perf_counter(), time.process_time()
    returns = victim_return(victim, adv, episodes, HOLDOUT_SEED, per_episode=True)
    mean, se = mean_se(returns)
    return {
        "mean": float(mean),
        "se": float(se),
        "n": int(episodes),
        "sha256": checkpoint.file_hash(path),
        "step": int(adv.step),
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
    }


def select(victim: Agent, ckpt, kind: str, eps: float, holdout_episodes: int = HOLDOUT_EPISODES) -> Path:
    """Score every finished run's final and best iterates on held-out episodes (cached by file hash) and
    copy the strongest to the cache, recording the whole set in its config["selection"]."""
    d = runs_dir(ckpt, kind, eps)
    manifest = _manifest(d)
    runs = sorted(p for p in d.glob("*.pt") if not p.name.endswith(".best.pt"))
    table = []
    for path in runs:
        if not is_finished(path):
            continue
        name = path.stem
        entry = manifest["runs"].setdefault(name, {})
        adv = checkpoint.load(path)
        check_adversary(adv, victim, eps, path, kind)
        entry.update(
            {
                "setting": asdict(Setting.of(adv.config)),
                "seed": int(adv.config.get("seed", 0)),
                "attack_settings": {k: v for k, v in adv.config.items() if k == "actor_steps"},
            }
        )
        scores = entry.setdefault("holdout", {})
        for iterate, f in (("final", path), ("best", d / f"{name}.best.pt")):
            if not f.exists():
                continue
            old = scores.get(iterate)
            if old is None or old.get("sha256") != checkpoint.file_hash(f) or old.get("n") != holdout_episodes:
                scores[iterate] = _score(victim, f, holdout_episodes)
            table.append((scores[iterate]["mean"], name, iterate, f))
        _write_manifest(d, manifest)
    if not table:
        raise LandscapeError(f"{d}: no finished {kind} run to select from; train a set first")
    _, name, iterate, f = min(table)
    chosen = checkpoint.load(f)
    chosen.config = {
        **chosen.config,
        "selection": {
            "runs_dir": d.name,
            "selected": {"run": name, "iterate": iterate, "file": f.name},
            "holdout_seed": HOLDOUT_SEED,
            "holdout_episodes": holdout_episodes,
            "runs": {n: manifest["runs"][n] for n in sorted({t[1] for t in table})},
        },
    }
    cache = cache_path(ckpt, kind, eps)
    checkpoint.save(chosen, cache)  # no training state: the runs hold it
    return cache


def ensure_cache(
    victim: Agent, ckpt, kind: str, eps: float, steps: int = DEFAULT_STEPS, seed: int = 0, progress: bool = True
) -> Path:
    """The cache an attack loads: as it is when present (a selected set, once the runs an interrupted set left
    pending are trained; or a finished pre-set single run; an unfinished pre-set run is resumed in place), else
    the default set (default_settings) trained now."""
    cache = cache_path(ckpt, kind, eps)
    if cache.exists():
        raw = checkpoint.load_raw(cache)
        if "selection" in raw.get("config", {}):
            return finish_pending(victim, ckpt, kind, eps, progress) or cache
        if is_finished(cache, steps):
            return cache
        check_adversary(checkpoint.load(cache), victim, eps, cache, kind)
        train_adversary(
            victim,
            cache,
            eps,
            steps=steps,
            seed=seed,
            resume=True,
            victim_path=ckpt,
            kind=kind,
            cfg=Setting.of(raw.get("config", {})).ppo(),
        )
        return cache
    return train_set(victim, ckpt, kind, eps, default_settings(kind, steps), [seed], progress=progress)


def default_settings(kind: str, steps: int = DEFAULT_STEPS) -> list[Setting]:
    """The set trained on demand. `optimal` adds a far-sighted discount (0.999): 0.99 sees about 100 steps
    ahead, so against a victim that falls after ~370 steps (the bundled BARPO) it prefers slowing the gait to
    felling it, and the slowed victim survives: return 3651 vs natural 1495, against 959 with 0.999 (README,
    Attacks). PA-AD's director: not measured, one setting."""
    return [Setting(steps=steps)] + ([Setting(steps=steps, gamma=0.999)] if kind == "optimal" else [])


def selection_runs(adversary: Agent, cache: Path | None = None) -> list[dict]:
    """The runs of the set a selected cache came from (empty for a single pre-set run): one dict each with
    its name, the iterate the selection would use from it (its own held-out best), setting, seed, times.

    "file" is relative to the cache's directory; given the cache's path it is the full path, in the set
    directory beside the cache under the cache's own name (so a checkpoint copied or renamed with its
    attackers finds its set), else in the one the selection recorded."""
    sel = adversary.config.get("selection")
    if not sel:
        return []
    base = Path(sel["runs_dir"])
    if cache is not None:
        base = set_dir(cache) if set_dir(cache).is_dir() else cache.parent / base
    out = []
    for name, entry in sel["runs"].items():
        scores = entry.get("holdout", {})
        if not scores:
            continue
        iterate = min(scores, key=lambda k: scores[k]["mean"])
        out.append(
            {
                "run": name,
                "iterate": iterate,
                "file": str(base / f"{name}{'.best' if iterate == 'best' else ''}.pt"),
                "setting": entry.get("setting"),
                "seed": entry.get("seed"),
                "holdout": {k: scores[iterate][k] for k in ("mean", "se", "n")},
                "train_wall_s": entry.get("wall_s"),
                "train_cpu_s": entry.get("cpu_s"),
            }
        )
    return out


def _floats(s: str, what: str, cast=float) -> list:
    try:
        return [cast(float(x)) if cast is int else cast(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise LandscapeError(f"--{what}: expected comma-separated numbers, got {s!r}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m landscape.attacks.learned",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--ckpt", required=True, help="the victim checkpoint")
    p.add_argument("--attack", default="optimal", help="learned attack: optimal or paad")
    p.add_argument("--eps", type=float, default=None, help="budget (default: the environment's standard)")
    p.add_argument("--lr", default="1e-3", help="learning rates (policy = value), comma-separated")
    p.add_argument("--entropy", default="0", help="entropy coefficients, comma-separated")
    p.add_argument("--steps", default=str(DEFAULT_STEPS), help="training steps per run, comma-separated")
    p.add_argument("--gamma", default=str(DEFAULT_GAMMA), help="discounts of the adversary's PPO, comma-separated")
    p.add_argument("--seeds", default="0", help="seeds, comma-separated")
    p.add_argument("--actor-steps", type=int, default=None, help="paad: PGD steps of the actor (1 = FGSM)")
    p.add_argument("--holdout-episodes", type=int, default=HOLDOUT_EPISODES)
    p.add_argument("--list", action="store_true", help="show what the set holds; train nothing")
    return p.parse_args(argv)


@cli_main
def main(argv=None) -> None:

    from ..sim.envs import env_spec
    from .base import check_eps

    args = parse_args(argv)
    single_thread()
    args.ckpt = str(bundled.resolve(args.ckpt))  # by name: the set lives beside the bundled file, not in the cwd
    victim = checkpoint.load(args.ckpt)
    eps = env_spec(victim.env_id).eps if args.eps is None else check_eps(args.eps)
    learned_kind(args.attack)
    if args.holdout_episodes < 1:
        raise LandscapeError("--holdout-episodes must be at least 1")
    if not args.list:
        settings = [
            Setting(lr, ent, int(steps), gamma)
            for lr in _floats(args.lr, "lr")
            for ent in _floats(args.entropy, "entropy")
            for steps in _floats(args.steps, "steps", int)
            for gamma in _floats(args.gamma, "gamma")
        ]
        if any(s.lr <= 0 or s.entropy < 0 or s.steps <= 0 for s in settings):
            raise LandscapeError("--lr and --steps must be positive, --entropy >= 0")
        if any(not 0 < s.gamma <= 1 for s in settings):
            raise LandscapeError("--gamma must lie in (0, 1]")
        opts = {} if args.actor_steps is None else {"actor_steps": args.actor_steps}
        train_set(
            victim,
            args.ckpt,
            args.attack,
            eps,
            settings,
            _floats(args.seeds, "seeds", int),
            args.holdout_episodes,
            **opts,
        )
    cache = cache_path(args.ckpt, args.attack, eps)
    if not cache.exists():
        raise LandscapeError(f"no {args.attack} set for {args.ckpt} at eps {eps:g} yet")
    adv = checkpoint.load(cache)
    runs = selection_runs(adv)
    sel = adv.config.get("selection", {}).get("selected", {})
    print(
        f"{args.attack} attackers of {args.ckpt} (eps {eps:g}); held-out victim return over "
        f"{args.holdout_episodes} episodes, lower is stronger"
    )
    width = max((len(r["run"]) for r in runs), default=0) + 2  # run names grow with the settings in their tag
    for r in sorted(runs, key=lambda r: r["holdout"]["mean"]):
        mark = "  <- selected" if r["run"] == sel.get("run") else ""
        t = r["train_wall_s"]
        print(
            f"{r['run']:<{width}}{r['iterate']:<7}{r['holdout']['mean']:>9.1f} +- {r['holdout']['se']:<7.1f}"
            + (f"  trained {t / 60:.0f} min wall, {r['train_cpu_s'] / 60:.0f} min CPU" if t else "")
            + mark
        )
    pending = _manifest(runs_dir(args.ckpt, args.attack, eps)).get("pending", {})
    if pending:  # an interrupted set: the next attack that loads the cache trains these first
        print(f"pending (interrupted; trained before the next attack uses this set): {', '.join(sorted(pending))}")


if __name__ == "__main__":
    main()
