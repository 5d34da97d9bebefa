"""python -m landscape.scan --ckpt hopper_arpo.pt [options]

Maps the landscape around a checkpoint: natural and adversarial return, their gap, natural and
adversarial policy-gradient norms and the PPO surrogate on a 1D or 2D grid of parameter directions.
Writes a results store (see landscape/store.py) incrementally -- rerun the same command to resume --
and draws contour and surface images next to it. `--from-store DIR` re-renders without recomputing.
"""

import argparse
import glob
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import __version__, bundled, checkpoint
from . import torchfile
from .directions import (check_direction, line_direction, param_kinds, pca_directions, random_direction,
                         rebase, scaled_direction)
from .attacks import check_eps
from .errors import LandscapeError, check_numbers, check_writable, cli_main
from .gradients import estimate
from .probes import NEEDS_ATTACK, PointProbe, parse_metrics
from . import render
from .render import render_scan
from .store import ScanStore

DIRECTION_KINDS = ("random", "natural-grad", "adversarial-grad", "line", "pca")
MAX_POINTS = 20_000


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m landscape.scan", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", help="centre checkpoint (.pt or lineage .model)")
    p.add_argument("--out", help="store directory (default: scans/<checkpoint name>)")
    p.add_argument("--from-store", metavar="DIR", help="only re-render an existing store")
    g = p.add_argument_group("directions")
    g.add_argument("--directions", default=None,
                   help=f"comma list, one per axis, of {', '.join(DIRECTION_KINDS)} (default: random,random; 1D: random)")
    g.add_argument("--norm", default="filter", choices=("filter", "layer"), help="random-direction normalization")
    g.add_argument("--params", default="weights", choices=("weights", "weights+biases", "all"),
                   help="which parameters move (log-std only with 'all')")
    g.add_argument("--to", metavar="CKPT", help="second checkpoint for a 'line' direction (re-expressed for the "
                   "centre's observation normalizer, so coordinate 1 acts as that checkpoint)")
    g.add_argument("--trajectory", metavar="GLOB", help="checkpoints of a training run for 'pca' directions")
    g = p.add_argument_group("grid")
    g.add_argument("--1d", dest="one_d", action="store_true", help="a 1D scan along the first direction")
    g.add_argument("--span", type=float, default=0.5, help="coordinates run over [-span, span]")
    g.add_argument("--range", help="LO,HI coordinates instead of --span (e.g. -0.25,1.25 for a line)")
    g.add_argument("--resolution", type=int, default=11, help="points per axis")
    g = p.add_argument_group("metrics")
    g.add_argument("--metrics", default="natural,adversarial,grad_natural,grad_adversarial",
                   help="comma list of natural, adversarial, gap, grad_natural, grad_adversarial, surrogate")
    g.add_argument("--attack", default="mad", help="attack for adversarial metrics (see landscape.evaluate)")
    g.add_argument("--eps", type=float, default=None,
                   help="attack budget (default: the checkpoint's, or the environment's standard when it has none)")
    g.add_argument("--adversary", help="learned adversary checkpoint for --attack optimal/rs")
    g.add_argument("--episodes", type=int, default=5, help="deterministic episodes per point for returns")
    g.add_argument("--grad-episodes", type=int, default=8, help="sampled episodes per point for gradient norms")
    g.add_argument("--seed", type=int, default=0, help="seeds directions and episodes (common to all points)")
    g = p.add_argument_group("execution")
    g.add_argument("--chunk", type=int, default=None, help="points per chunk (default: about 128 environments)")
    g.add_argument("--backend", default="local", choices=("local", "ray"), help="where chunks run")
    g.add_argument("--address", help="Ray cluster address (with --backend ray)")
    g.add_argument("--no-render", action="store_true", help="skip drawing images")
    return p.parse_args(attach_values(sys.argv[1:] if argv is None else argv, ("--range",)))


def attach_values(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """`--range -0.25,1.25` as `--range=-0.25,1.25`: argparse takes a value that starts with '-' and is not
    a plain negative number for an option of its own."""
    out, argv = [], list(argv)
    while argv:
        a = argv.pop(0)
        out.append(f"{a}={argv.pop(0)}" if a in options and argv and argv[0].startswith("-") else a)
    return out


# ----------------------------------------------------------------------------------- set-up helpers
def attack_eps(agent, eps: float | None) -> float:
    """The attack budget: eps if given, else the checkpoint's training eps, else (0: SPO and toy agents) the
    environment's standard -- an attack at eps 0 would make every adversarial number equal the natural one."""
    if eps is not None:
        return check_eps(eps)
    from .envs import env_spec

    return agent.eps or env_spec(agent.env_id).eps


def make_attack_for(agent, name: str, eps: float, adversary: str | None, ckpt: str | None = None):
    """The attack `name`; learned ones (rs, optimal) take the given file, else the one cached beside ckpt.

    A scan never trains a learned attacker silently: without a file it is a one-line error that says how
    to make one (`landscape.evaluate --attack NAME` trains and caches it).
    """
    from .attacks import cache_path, make_attack

    opts = {}
    if adversary:
        torchfile.check(adversary)  # before attacks/ hands it to torch.load: no TorchScript gets that far
    if name in ("rs", "optimal"):
        cached = cache_path(ckpt, name, None if name == "rs" else eps) if ckpt else None
        if not adversary and not (cached and cached.exists()):
            raise LandscapeError(f"the {name} attack needs its learned adversary: pass --adversary FILE, or train and "
                                 f"cache one with `python -m landscape.evaluate --ckpt {ckpt} --attack {name}`")
        opts["ckpt"] = ckpt
        if adversary:
            opts["q" if name == "rs" else "adversary"] = adversary
    elif adversary:
        raise LandscapeError(f"--adversary serves the rs and optimal attacks, not {name!r}")
    return make_attack(name, agent, eps, **opts)


def coordinates(args) -> list[np.ndarray]:
    n_axes = 1 if args.one_d else 2
    if args.resolution < 1:
        raise LandscapeError("--resolution must be at least 1")
    if args.resolution ** n_axes > MAX_POINTS:
        raise LandscapeError(f"{args.resolution ** n_axes} grid points is more than {MAX_POINTS}; lower --resolution")
    if args.range:
        try:
            lo, hi = (float(v) for v in args.range.split(","))
        except ValueError:
            raise LandscapeError(f"--range must be LO,HI, got {args.range!r}")
    else:
        lo, hi = -args.span, args.span
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo or (hi == lo and args.resolution > 1):
        raise LandscapeError(f"empty or invalid coordinate range [{lo}, {hi}]")
    return [np.linspace(lo, hi, args.resolution) for _ in range(n_axes)]


def build_directions(args, agent, kinds: list[str], attack) -> torch.Tensor:
    space = agent.space
    theta0 = space.flatten(agent.actor)
    mask = space.mask(param_kinds(args.params))
    gen = torch.Generator().manual_seed(args.seed)
    dirs = []
    for i, kind in enumerate(kinds):
        if kind == "random":
            d = random_direction(space, theta0, gen, args.norm, args.params)
        elif kind in ("natural-grad", "adversarial-grad"):
            atk = attack if kind == "adversarial-grad" else None
            if atk is None and kind == "adversarial-grad":
                raise LandscapeError("an adversarial-grad direction needs --attack")
            from .evaluator import BatchedEvaluator

            ev = BatchedEvaluator(agent.env_id, space, agent.obs_norm)
            roll = ev.run(theta0[None], 32, seed=args.seed + 2, deterministic=False, attack=atk, record=True)
            ev.close()
            d = scaled_direction(estimate(space, theta0[None], roll.trajectories, 32, critic=agent.critic).mean[0],
                                 theta0, mask)
        elif kind == "line":
            if not args.to:
                raise LandscapeError("a 'line' direction needs --to CKPT")
            other = checkpoint.load(args.to)
            if other.actor.hidden != agent.actor.hidden or other.env_id != agent.env_id:
                raise LandscapeError(f"{args.to} is not the same network and environment as {args.ckpt}")
            d = line_direction(theta0, rebase(other.space.flatten(other.actor), other, agent))
        elif kind == "pca":
            files = sorted(glob.glob(args.trajectory or ""))
            if not files:
                raise LandscapeError("a 'pca' direction needs --trajectory GLOB matching training checkpoints")
            traj = torch.stack([rebase(a.space.flatten(a.actor), a, agent) for a in map(checkpoint.load, files)])
            pcs, _ = pca_directions(traj, theta0, n=len([k for k in kinds if k == "pca"]))
            d = pcs[[k for k in kinds[: i + 1] if k == "pca"].__len__() - 1]
        else:
            raise LandscapeError(f"unknown direction {kind!r}; choose from {', '.join(DIRECTION_KINDS)}")
        dirs.append(check_direction(d, f"direction {i + 1} ({kind})"))
    return torch.stack(dirs)


def grid_thetas(theta0: torch.Tensor, dirs: torch.Tensor, coords: list[np.ndarray], points: np.ndarray) -> torch.Tensor:
    """theta0 + sum_i c_i d_i for flat point indices, each computed from scratch (no accumulation drift)."""
    idx = np.unravel_index(points, tuple(len(c) for c in coords))
    c = torch.as_tensor(np.stack([coords[i][idx[i]] for i in range(len(coords))], 1), dtype=torch.float64)
    return (theta0.to(torch.float64)[None] + c @ dirs.to(torch.float64)).to(torch.float32)


def direction_meta(args, kind: str) -> dict:
    """What defines a direction, for the store's key: the contents of --to and of the --trajectory files."""
    d = {"kind": kind, "norm": args.norm, "params": args.params, "to": args.to if kind == "line" else None}
    if kind == "line" and args.to:
        d["to_sha256"] = checkpoint.file_hash(args.to)
    if kind == "pca":
        d["trajectory"] = {"glob": args.trajectory,
                           "sha256": [checkpoint.file_hash(f) for f in sorted(glob.glob(args.trajectory or ""))]}
    return d


def stored_directions(store: ScanStore, meta: dict, shape: tuple) -> torch.Tensor | None:
    """The directions of an existing store of the same computation (same key and shape), else None (then
    fresh ones are built, and a store that does not match refuses them: create_or_resume)."""
    if not (store.root / "scan.json").exists() or store.meta.get("key") != meta["key"]:
        return None
    d = store.directions().get("directions")
    return torch.as_tensor(d) if d is not None and d.shape == shape else None


def scan_key(meta: dict) -> str:
    """Identity of the computation: same key = same numbers, so resuming is safe."""
    fields = {k: meta[k] for k in ("ckpt_sha256", "grid", "directions", "metrics", "attack", "episodes",
                                   "grad_episodes", "seed", "chunk")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------- running
def compute_chunk(probe: PointProbe, theta0, dirs, coords, points: np.ndarray, index: int, seed: int) -> dict:
    chunk_seed = seed * 100_003 + index  # random starts fixed per chunk: resumed = uninterrupted numbers
    torch.manual_seed(chunk_seed)
    if getattr(probe.attack, "gen", None) is not None:
        probe.attack.gen.manual_seed(chunk_seed)
    return probe(grid_thetas(theta0, dirs, coords, points))


def run_local(store: ScanStore, probe: PointProbe, theta0, dirs, coords, chunks: list[np.ndarray], seed: int) -> None:
    done = store.done_chunks()
    todo = [i for i in range(len(chunks)) if i not in done]
    total = sum(len(c) for c in chunks)
    bar = tqdm(total=total, initial=total - sum(len(chunks[i]) for i in todo), unit="pt", desc="scan",
               dynamic_ncols=True)
    t0 = time.perf_counter()
    for i in todo:
        store.write_chunk(i, chunks[i], compute_chunk(probe, theta0, dirs, coords, chunks[i], i, seed))
        bar.update(len(chunks[i]))
        bar.set_postfix(env_sps=f"{probe.env_steps / (time.perf_counter() - t0):.0f}")
    bar.close()


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    check_numbers(args)
    torch.set_num_threads(1)
    render.use_agg()
    if args.from_store:
        paths = render_scan(args.from_store)
        print("\n".join(["images:", *[f"  {p}" for p in paths]]))
        return
    if not args.ckpt:
        raise LandscapeError("give --ckpt (or --from-store DIR to re-render)")
    args.ckpt = str(bundled.resolve(args.ckpt))  # bundled by name: its cached attackers are beside it
    agent = checkpoint.load(args.ckpt)
    metrics = parse_metrics(args.metrics)
    kinds = [k.strip() for k in (args.directions or ("random" if args.one_d else "random,random")).split(",")]
    if len(kinds) != (1 if args.one_d else 2):
        raise LandscapeError(f"--directions needs {1 if args.one_d else 2} entries for a {'1D' if args.one_d else '2D'} scan")
    if args.episodes < 1 or (args.chunk is not None and args.chunk < 1):
        raise LandscapeError("--episodes and --chunk must be at least 1")
    out = check_writable(args.out or Path("scans") / Path(args.ckpt).stem, "--out", directory=True)
    eps = attack_eps(agent, args.eps)  # checked even when no metric uses it
    uses_attack = bool(NEEDS_ATTACK & set(metrics)) or "adversarial-grad" in kinds
    attack = make_attack_for(agent, args.attack, eps, args.adversary, args.ckpt) if uses_attack else None
    coords = coordinates(args)
    theta0 = agent.space.flatten(agent.actor)
    n_points = int(np.prod([len(c) for c in coords]))
    chunk = args.chunk or max(1, 128 // args.episodes)
    meta = {
        "version": __version__, "ckpt": str(args.ckpt), "ckpt_sha256": checkpoint.file_hash(args.ckpt),
        "env_id": agent.env_id, "algo": agent.algo,
        "grid": {"shape": [len(c) for c in coords], "lo": float(coords[0][0]), "hi": float(coords[0][-1])},
        "directions": [direction_meta(args, k) for k in kinds],
        "metrics": metrics, "attack": {"name": args.attack, "eps": eps, "adversary": args.adversary} if uses_attack else None,
        "episodes": args.episodes, "grad_episodes": args.grad_episodes, "seed": args.seed, "chunk": chunk,
    }
    meta["key"] = scan_key(meta)
    # everything that can refuse the request runs before the store exists (no orphan store blocks a rerun)
    probe = PointProbe(agent, metrics, attack, args.episodes, args.grad_episodes, args.seed)
    store = ScanStore(out)
    # the directions this scan started with; only a new store builds them (32 gradient episodes for a grad one)
    dirs = stored_directions(store, meta, (len(kinds), theta0.numel()))
    dirs = build_directions(args, agent, kinds, attack) if dirs is None else dirs
    resumed = store.create_or_resume(meta, theta0.numpy(), dirs.numpy(), coords)
    chunks = np.array_split(np.arange(n_points), math.ceil(n_points / chunk))
    print(f"{'resuming' if resumed else 'scanning'} {n_points} points ({' x '.join(map(str, meta['grid']['shape']))}) "
          f"around {args.ckpt} -> {out}")
    if args.backend == "ray":
        from .distributed import run_ray

        probe.close()
        run_ray(store, args, agent, attack, theta0, dirs, coords, chunks)
    else:
        run_local(store, probe, theta0, dirs, coords, chunks, args.seed)
        probe.close()
    store.assemble()
    print(f"store: {out}")
    if not args.no_render:
        print("\n".join(["images:", *[f"  {p}" for p in render_scan(out)]]))


if __name__ == "__main__":
    main()
