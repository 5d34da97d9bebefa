"""python -m landscape.evaluate --ckpt PATH [--attack mad,critic,rs,optimal,paad] [--eps E] [--episodes N] [--json]

Natural return of a checkpoint (ours or an SA-PPO/CAR-PPO `.model`), and its return under each attack,
each as mean +- standard error over episodes; deterministic (mean action) by default, with the
observation normalizer frozen. Every attack sees the same episode seeds (common random numbers), so each
attack's change against natural is a paired difference with its own standard error.
--attack all = random,mad,critic,surrogate,rs,optimal,paad.

What is reported, and why:
- worst case = the minimum over the attacks *and* the natural return: an attack that raises the return
  cannot make the worst case look worse than doing nothing;
- every attack whose mean is not below the natural mean is flagged `failed` (table: FAILED);
- learned attackers (optimal, paad) name the adversary file and its training settings; when it was
  selected from a set of runs (attacks/learned.py), every run's own iterate is evaluated on the same
  episodes too and the spread across adversary runs (their means: min, max, sd) is reported beside the
  selected one's SE over episodes -- for a learned attacker, run-to-run variation is usually the larger;
- wall and CPU seconds of each attack (building or training it, and evaluating).

Learned attackers are trained on demand with a progress bar, cached beside the checkpoint
(`<stem>.rs.pt`, `<stem>.optimal-eps<E>.pt`, `<stem>.paad-eps<E>.pt`) and resumed if interrupted; or pass
them with --adversary. Sets of runs are trained with `python -m landscape.attacks.learned`.
"""

import argparse
import json
import time
from dataclasses import dataclass, replace

import numpy as np

from . import cli_args
from .core.errors import LandscapeError, cli_main
from .core.specs import SpecError, at_least, check_finite, names
from .io import bundled, checkpoint, torchfile
from .probes.metrics import mean_se
from .rl.evaluator import BatchedEvaluator
from .core.threads import single_thread

SUITE = ("random", "mad", "critic", "surrogate", "rs", "optimal", "paad")
LEARNED = ("optimal", "paad")  # learned attackers replayed from an adversary checkpoint
# PGD restarts at evaluation, per attack: more only where they made the attack stronger. Measured on the
# bundled SPO Hopper checkpoint (10 episodes, common seeds, 1 vs 4 restarts, paired difference of the
# return +- se; analyses/attacks/restarts.py -> restarts.json): mad +185 +- 228, critic +242 +- 190,
# surrogate -121 +- 230, rs -537 +- 338. Keeping, per sample, the restart with the best objective does not
# lower the return of mad and critic (their objectives are surrogates of the return: a better optimum of the
# surrogate is not a lower return); rs, whose objective is a learned Q of the return, fell by 537 (1.6 se).
# So rs restarts 4 times (about 3x its evaluation time) and the others once; --restarts overrides all.
RESTARTS = {"mad": 1, "critic": 1, "surrogate": 1, "rs": 4}


def summarize(returns: np.ndarray) -> dict:
    returns = np.asarray(returns, dtype=np.float64)
    mean, se = mean_se(returns)
    return {"mean": float(mean), "se": float(se), "n": int(len(returns))}


def natural_return(agent, episodes: int, seed: int, deterministic: bool = True, attack=None) -> dict:
    """Mean +- se over episodes, mean length, the per-episode returns, and wall/CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    roll = ev.run(
        agent.space.flatten(agent.actor)[None], episodes, seed=seed, deterministic=deterministic, attack=attack
    )
    ev.close()
    return {
        **summarize(roll.returns[0]),
        "mean_length": float(roll.lengths.mean()),
        "returns": [float(r) for r in roll.returns[0]],
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
    }


def parse_attacks(spec: str | None) -> list[str]:
    from .attacks import ATTACKS

    if not spec:
        return []
    names = list(SUITE) if spec.strip() == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    for n in names:
        if n not in ATTACKS:
            raise LandscapeError(f"unknown attack {n!r}; choose from {', '.join(ATTACKS)} (or all)")
    return list(dict.fromkeys(names))


def served_attack(path) -> str:
    """Which attack an --adversary file serves: rs (a robust-Sarsa Q), optimal or paad (by its algo tag)."""
    from .attacks.sarsa import is_sarsa_file
    from .attacks.training import ATTACK_OF_ALGO

    if is_sarsa_file(path):
        return "rs"
    if str(path).endswith(".model"):  # an ATLA adversary or PA-AD director of the SA-PPO lineage
        from .io.lineage_adversary import served

        return served(path)
    return ATTACK_OF_ALGO.get(checkpoint.load_raw(path).get("algo"), "optimal")


def attack_options(name: str, spec: "EvalSpec") -> dict:
    """Options for make_attack: PGD settings, and where learned attackers come from."""
    if name in RESTARTS:
        opts = {"steps": spec.pgd_steps, "restarts": RESTARTS[name] if spec.restarts is None else spec.restarts}
    else:
        opts = {}
    if name == "rs" or name in LEARNED:
        given = [p for p in spec.adversaries if served_attack(p) == name]
        opts["q" if name == "rs" else "adversary"] = given[-1] if given else None
        opts["ckpt"] = spec.ckpt
    if name in LEARNED and spec.adversary_steps is not None:
        opts["steps"] = spec.adversary_steps
    return opts


def describe_adversary(attack) -> dict:
    """The adversary file of a learned attack and its training settings (JSON-ready)."""
    adv = attack.adversary
    cfg = adv.config
    ppo = cfg.get("ppo", {})
    out = {
        "file": attack.path,
        "algo": adv.algo,
        "trained_steps": int(adv.step),
        "settings": {
            "lr": ppo.get("lr_policy"),
            "entropy": ppo.get("entropy_coef"),
            "steps": cfg.get("steps"),
            "seed": cfg.get("seed"),
            **({"actor_steps": cfg["actor_steps"]} if "actor_steps" in cfg else {}),
        },
    }
    sel = cfg.get("selection")
    if sel:
        out["selected"] = {
            **sel["selected"],
            "holdout_seed": sel["holdout_seed"],
            "holdout_episodes": sel["holdout_episodes"],
        }
    return out


def runs_spread(agent, attack, spec: "EvalSpec", eps: float) -> tuple[list, dict] | tuple[None, None]:
    """Every run of the set a learned attacker was selected from, evaluated on the same episodes."""
    from pathlib import Path

    from .attacks import make_attack
    from .attacks.learned import selection_runs

    if attack.path is None:
        return None, None
    runs = selection_runs(attack.adversary, Path(attack.path))
    if not runs:
        return None, None
    out = []
    for r in runs:
        wall, cpu = time.perf_counter(), time.process_time()
        one = make_attack(attack.name, agent, eps, adversary=r["file"])
        res = natural_return(agent, spec.episodes, spec.seed, spec.deterministic, one)
        out.append(
            {
                **r,
                "mean": res["mean"],
                "se": res["se"],
                "wall_s": time.perf_counter() - wall,
                "cpu_s": time.process_time() - cpu,
            }
        )
    means = np.array([r["mean"] for r in out])
    spread = {
        "n_runs": len(out),
        "mean": float(means.mean()),
        "sd": float(means.std(ddof=1)) if len(out) > 1 else 0.0,
        "min": float(means.min()),
        "max": float(means.max()),
    }
    return out, spread


def attacked_returns(agent, spec: "EvalSpec", eps: float, natural: dict | None = None, progress: bool = True) -> dict:
    """Return under each attack of the spec (in order), each mean +- se with wall/CPU time; learned attackers
    are built (trained) first and report their adversary and the spread over its set's runs. With `natural`
    (the natural_return of the same episodes): the paired difference to it and the `failed` flag."""
    from tqdm import tqdm

    from .attacks import make_attack

    attacks, build = {}, {}
    for n in spec.attacks:  # learned attackers are trained now, before any evaluation
        wall, cpu = time.perf_counter(), time.process_time()
        attacks[n] = make_attack(n, agent, eps, **attack_options(n, spec))
        build[n] = {"build_wall_s": time.perf_counter() - wall, "build_cpu_s": time.process_time() - cpu}
    out = {}
    for name, attack in tqdm(attacks.items(), desc="attacks", unit="attack", disable=not progress or len(attacks) < 2):
        res = {**natural_return(agent, spec.episodes, spec.seed, spec.deterministic, attack), **build[name]}
        if natural is not None:
            diff, diff_se = mean_se(np.asarray(res["returns"]) - np.asarray(natural["returns"]))
            res["vs_natural"] = {"mean": float(diff), "se": float(diff_se)}
            res["failed"] = bool(res["mean"] >= natural["mean"])
        if name in LEARNED:
            res["adversary"] = describe_adversary(attack)
            runs, spread = runs_spread(agent, attack, spec, eps)
            if runs is not None:
                res["runs"], res["spread"] = runs, spread
        out[name] = res
    return out


def worst_case(attacked: dict, natural: dict | None = None) -> dict:
    """The lowest mean over the attacks and (when given) the natural return: {"attack": name or "natural", ...}."""
    pool = {**({"natural": natural} if natural is not None else {}), **attacked}
    name = min(pool, key=lambda n: pool[n]["mean"])
    return {"attack": name, **{k: pool[name][k] for k in ("mean", "se", "n")}}


# ----------------------------------------------------------------------------------- the library entry
@dataclass(frozen=True)
class EvalSpec:
    """One evaluation of a checkpoint: its natural return and its return under each attack."""

    ckpt: str  # landscape .pt, lineage .model, SB3 .zip, CleanRL model, or a bundled checkpoint's name
    env: str | None = None  # environment of a file that does not name it
    episodes: int = 50  # episode e starts from seed + e (published tables use 50)
    seed: int = 0
    deterministic: bool = True  # the mean action; False samples actions
    attacks: tuple[str, ...] = ()  # names of SUITE's attacks, a comma string, or "all"
    eps: float | None = None  # l_inf budget (None: the environment's standard); needs attacks
    pgd_steps: int = 10  # PGD sign steps of eps/10
    restarts: int | None = None  # PGD restarts (None: per attack, RESTARTS)
    adversaries: tuple[str, ...] = ()  # learned attacker files (rs Q, optimal adversary, PA-AD director)
    adversary_steps: int | None = None  # training budget of an on-demand optimal adversary / PA-AD director

    def __post_init__(self):
        check_finite(self)
        at_least(self, 1, "episodes", "pgd_steps", "restarts", "adversary_steps")
        attacks = parse_attacks(",".join(names(self.attacks, "attacks")))
        object.__setattr__(self, "attacks", tuple(attacks))
        object.__setattr__(self, "adversaries", names(self.adversaries, "adversaries"))
        if attacks:
            if self.eps is not None:
                from .attacks import check_eps

                object.__setattr__(self, "eps", check_eps(self.eps))
        elif self.eps is not None or self.adversaries:
            raise SpecError("attacks", "are needed by eps and adversaries", cli="--eps and --adversary need --attack")
        for path in self.adversaries:
            torchfile.check(path)  # before attacks/ hands it to torch.load: no TorchScript gets that far
            served = served_attack(path)
            if served not in attacks:
                raise SpecError(
                    "adversaries",
                    f"{path} is not used: it serves attack {served}",
                    cli=f"--adversary {path} is not used: it serves --attack {served}",
                )


@dataclass
class EvalResult:
    """What an evaluation measured; `to_dict()` is the JSON of `python -m landscape.evaluate --json`."""

    ckpt: str
    env: str
    algo: str
    episodes: int
    seed: int
    deterministic: bool
    natural: dict  # mean, se, n, mean_length, returns, wall_s, cpu_s
    eps: float | None = None  # with attacks:
    attacks: dict | None = None  # name -> natural's fields + vs_natural, failed (+ adversary, runs, spread)
    worst: dict | None = None  # the lowest mean over the attacks and natural

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("ckpt", "env", "algo", "episodes", "seed", "deterministic", "natural")}
        if self.attacks is not None:
            out.update(eps=self.eps, attacks=self.attacks, worst=self.worst)
        return out


def run(spec: EvalSpec, progress: bool = True) -> EvalResult:
    """Evaluate `spec.ckpt` naturally and under each attack on the same episode seeds. Learned attackers
    are read from spec.adversaries, else from beside the checkpoint, else trained there (progress bars
    with progress=True)."""
    ckpt = str(bundled.resolve(spec.ckpt))  # bundled by name: its cached attackers are beside it
    spec = replace(spec, ckpt=ckpt)
    agent = checkpoint.load(ckpt, env_id=spec.env)
    if agent.algo in ("adversary", "paad"):
        raise LandscapeError(
            f"{ckpt} is a learned attacker; evaluate its victim with --attack "
            f"{'paad' if agent.algo == 'paad' else 'optimal'} --adversary"
        )
    result = EvalResult(
        ckpt,
        agent.env_id,
        agent.algo,
        spec.episodes,
        spec.seed,
        spec.deterministic,
        natural_return(agent, spec.episodes, spec.seed, spec.deterministic),
    )
    if spec.attacks:
        from .sim.envs import env_spec

        result.eps = env_spec(agent.env_id).eps if spec.eps is None else spec.eps
        result.attacks = attacked_returns(agent, spec, result.eps, result.natural, progress)
        result.worst = worst_case(result.attacks, result.natural)
    return result


# ----------------------------------------------------------------------------------- command line
def parse_args(argv=None) -> argparse.Namespace:
    p = cli_args.parser("python -m landscape.evaluate", __doc__)
    p.add_argument("--ckpt", required=True, help="checkpoint: landscape .pt or lineage .model")
    p.add_argument("--env", default=None, help="environment of a lineage .model that does not name it")
    cli_args.episodes(p, 50, help="episodes (published tables use 50)")
    cli_args.seed(p, help="episode e starts from seed + e")
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of the mean action")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    cli_args.attack(
        p, None, help="comma-separated attacks (random, mad, critic, surrogate, rs, optimal, paad) or 'all'"
    )
    cli_args.eps(p, cli_args.EPS_OF_ENV)
    cli_args.adversary(
        p,
        repeatable=True,
        help="a trained optimal adversary or PA-AD director (.pt), or a robust-Sarsa Q file; repeatable",
    )
    p.add_argument("--pgd-steps", type=int, default=10, help="PGD sign steps of eps/10 (10, as SA-PPO)")
    p.add_argument(
        "--restarts",
        type=int,
        default=None,
        help="PGD random restarts, the best per sample kept (default: per attack, evaluate.RESTARTS)",
    )
    p.add_argument(
        "--adversary-steps",
        type=int,
        default=None,
        help="training budget of an on-demand optimal adversary or PA-AD director (default 500k steps)",
    )
    return p.parse_args(argv)


def spec_of(args: argparse.Namespace) -> EvalSpec:
    with cli_args.as_flags({"adversaries": "--adversary", "attacks": "--attack"}):
        return EvalSpec(
            args.ckpt,
            env=args.env,
            episodes=args.episodes,
            seed=args.seed,
            deterministic=not args.stochastic,
            attacks=args.attack or (),
            eps=args.eps,
            pgd_steps=args.pgd_steps,
            restarts=args.restarts,
            adversaries=tuple(args.adversary),
            adversary_steps=args.adversary_steps,
        )


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    spec = spec_of(args)
    single_thread()
    result = run(spec, progress=not args.json)
    if args.json:
        print(json.dumps(result.to_dict()))
        return
    print_table(result)


def print_table(result: EvalResult) -> None:
    nat = result.natural
    print(
        f"{result.ckpt}  ({result.env}, {result.algo}, {result.episodes} episodes, "
        f"{'deterministic' if result.deterministic else 'stochastic'}"
        + (f", eps {result.eps:g})" if result.attacks is not None else ")")
    )
    print(f"{'':<16}{'return':>10}    {'se':<7}{'vs natural (paired)':>21}   time (wall / CPU s)")
    print(
        f"{'natural return':<16}{nat['mean']:>10.1f} +- {nat['se']:<7.1f}{'':>21}   "
        f"{nat['wall_s']:.0f} / {nat['cpu_s']:.0f}"
    )
    for name, r in (result.attacks or {}).items():
        d = r["vs_natural"]
        wall, cpu = r["wall_s"] + r["build_wall_s"], r["cpu_s"] + r["build_cpu_s"]
        line = (
            f"{name:<16}{r['mean']:>10.1f} +- {r['se']:<7.1f}{d['mean']:>+12.1f} +- {d['se']:<6.1f}"
            f"   {wall:.0f} / {cpu:.0f}"
        )
        if "spread" in r:
            sp = r["spread"]
            line += f"   {sp['n_runs']} adversary runs: {sp['min']:.0f} .. {sp['max']:.0f} (sd {sp['sd']:.0f})"
        if r["failed"]:
            line += "   FAILED: did not lower the return"
        print(line)
    if result.worst is not None:
        w = result.worst
        print(f"{'worst case':<16}{w['mean']:>10.1f} +- {w['se']:<7.1f}  ({w['attack']}; min over attacks and natural)")


if __name__ == "__main__":
    main()
