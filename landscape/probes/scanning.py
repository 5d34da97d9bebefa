"""The landscape scan as a library: a ScanSpec in, a Surface (and its store on disk) out.

    from landscape.probes.scanning import ScanSpec, run
    surface = run(ScanSpec(ckpt="hopper_spo", out="scans/spo", resolution=5, metrics=("natural",)))
    surface.values("natural"), surface.se("natural"), surface.coords

The spec says which checkpoint, which directions (random, natural-grad, adversarial-grad, line, pca), which
grid, which metrics under which attack, how many episodes, how the points are chunked and where chunks run
(the local process or a Ray cluster). Every point is computed as theta0 + a d1 + b d2 from scratch; each
chunk is written to the store as it finishes, so rerunning the same spec resumes, and a store holding a
different computation is refused. `python -m landscape.scan` parses its flags into a ScanSpec and calls
`run`; `landscape.figures` does the same from its configs; compare, fosp and sticky use the helpers here
(the attack budget and the attack of a checkpoint, the store key, the chunk loop).
"""

import glob
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import __version__
from ..attacks import ATTACKS, check_eps
from ..core import specs
from ..core.errors import LandscapeError, check_writable
from ..core.specs import SpecError, at_least, check_finite, names, one_of
from ..exec.executor import make_executor
from ..io import bundled, checkpoint, torchfile
from .directions import (
    check_direction,
    line_direction,
    param_kinds,
    pca_directions,
    random_direction,
    rebase,
    scaled_direction,
)
from .gradients import estimate
from .metrics import NEEDS_ATTACK, PointProbe, parse_metrics
from .store import ScanStore, Surface, open_surface

DIRECTION_KINDS = ("random", "natural-grad", "adversarial-grad", "line", "pca")
MAX_POINTS = 20_000
METRICS = ("natural", "adversarial", "grad_natural", "grad_adversarial")
BACKENDS = ("local", "ray")
# attacks that replay a learned file (a robust-Sarsa Q, a learned adversary or PA-AD director): given or cached
LEARNED = ("rs", *(name for name, cls in ATTACKS.items() if getattr(cls, "learned", False)))


@dataclass(frozen=True)
class ScanSpec:
    """One scan around a checkpoint. Sequences may be given as comma strings ("natural,adversarial")."""

    ckpt: str  # centre checkpoint (.pt or lineage .model), or a bundled checkpoint's name
    out: str | None = None  # store directory (None: scans/<checkpoint name>)
    # directions, one per axis
    directions: tuple[str, ...] | None = None  # None: random,random (1D: random)
    norm: str = "filter"  # random directions: filter or layer normalization
    params: str = specs.PARAMS  # which parameters move: weights, weights+biases, all (with log-std)
    to: str | None = None  # second checkpoint of a 'line' direction
    trajectory: str | None = None  # glob of a training run's checkpoints for 'pca' directions
    # grid
    one_d: bool = False  # a 1D scan along the first direction
    span: float = 0.5  # coordinates run over [-span, span] ...
    range: tuple[float, float] | None = None  # ... or over [lo, hi] ("LO,HI" accepted)
    resolution: int = 11  # points per axis
    # metrics
    metrics: tuple[str, ...] = METRICS  # of probes.METRICS
    attack: str = specs.ATTACK  # attack of the adversarial metrics and adversarial-grad directions
    eps: float | None = None  # attack budget (None: the checkpoint's, else the environment's standard)
    adversary: str | None = None  # learned attacker file for attack rs / optimal / paad (None: cached beside ckpt)
    episodes: int = specs.EPISODES  # deterministic episodes per point for returns
    grad_episodes: int = specs.GRAD_EPISODES  # sampled episodes per point for gradient norms
    seed: int = specs.SEED  # seeds directions and episodes (common to all points)
    # execution
    chunk: int | None = None  # points per chunk (None: about 128 environments)
    backend: str = "local"  # local or ray
    address: str | None = None  # Ray cluster address (None: $RAY_ADDRESS, else a new local cluster)

    def __post_init__(self):
        set_ = object.__setattr__
        check_finite(self)
        set_(self, "metrics", tuple(parse_metrics(",".join(names(self.metrics, "metrics")))))
        n_axes = 1 if self.one_d else 2
        kinds = names(self.directions, "directions") or (("random",) * n_axes)
        set_(self, "directions", kinds)
        if len(kinds) != n_axes:
            raise SpecError("directions", f"needs {n_axes} entries for a {n_axes}D scan")
        for kind in kinds:
            if kind not in DIRECTION_KINDS:
                raise SpecError(
                    "directions",
                    f"has unknown {kind!r}; choose from {', '.join(DIRECTION_KINDS)}",
                    cli=f"unknown direction {kind!r}; choose from {', '.join(DIRECTION_KINDS)}",
                )
        if "line" in kinds and not self.to:
            raise SpecError("to", "is needed by a 'line' direction", cli="a 'line' direction needs --to CKPT")
        one_of(self, "norm", ("filter", "layer"))
        one_of(self, "params", specs.PARAM_CHOICES)
        one_of(self, "backend", BACKENDS)
        at_least(self, 1, "episodes", "chunk")
        at_least(self, 1, "resolution")
        if self.resolution**n_axes > MAX_POINTS:
            raise SpecError(
                "resolution",
                f"gives {self.resolution**n_axes} grid points, more than {MAX_POINTS}",
                cli=f"{self.resolution**n_axes} grid points is more than {MAX_POINTS}; lower --resolution",
            )
        if isinstance(self.range, str):
            try:
                set_(self, "range", tuple(float(v) for v in self.range.split(",")))
            except ValueError:
                raise SpecError("range", f"must be LO,HI, got {self.range!r}")
            if len(self.range) != 2:
                raise SpecError("range", f"must be LO,HI, got {self.range!r}")
        lo, hi = self.range if self.range is not None else (-self.span, self.span)
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo or (hi == lo and self.resolution > 1):
            raise SpecError(
                "range", f"[{lo}, {hi}] is empty or invalid", cli=f"empty or invalid coordinate range [{lo}, {hi}]"
            )
        if self.eps is not None:
            set_(self, "eps", check_eps(self.eps))  # checked even when no metric uses it

    @property
    def uses_attack(self) -> bool:
        return bool(NEEDS_ATTACK & set(self.metrics)) or "adversarial-grad" in self.directions

    def coordinates(self) -> list[np.ndarray]:
        lo, hi = self.range if self.range is not None else (-self.span, self.span)
        return [np.linspace(lo, hi, self.resolution) for _ in range(1 if self.one_d else 2)]

    def chunk_size(self) -> int:
        return self.chunk or max(1, 128 // self.episodes)


# ----------------------------------------------------------------------------------- the attack
def attack_eps(agent, eps: float | None) -> float:
    """The attack budget: eps if given, else the checkpoint's training eps, else (0: SPO and toy agents) the
    environment's standard -- an attack at eps 0 would make every adversarial number equal the natural one."""
    if eps is not None:
        return check_eps(eps)
    from ..sim.envs import env_spec

    return agent.eps or env_spec(agent.env_id).eps


def learned_file(name: str, eps: float, adversary: str | None, ckpt: str | None) -> str | None:
    """The file a learned attack (LEARNED) reads: the given one, else the one cached beside ckpt."""
    from ..attacks import cache_path

    if adversary or name not in LEARNED or not ckpt:
        return adversary
    cached = cache_path(ckpt, name, None if name == "rs" else eps)
    return str(cached) if cached.exists() else None


def make_attack_for(agent, name: str, eps: float, adversary: str | None, ckpt: str | None = None):
    """The attack `name`; learned ones (LEARNED) take the given file, else the one cached beside ckpt.

    A scan never trains a learned attacker silently: without a file it is a one-line error that says how
    to make one (`landscape.evaluate --attack NAME` trains and caches it).
    """
    from ..attacks import make_attack

    opts = {}
    if adversary:
        torchfile.check(adversary)  # before attacks/ hands it to torch.load: no TorchScript gets that far
    if name in LEARNED:
        if not learned_file(name, eps, adversary, ckpt):
            raise LandscapeError(
                f"the {name} attack needs its learned adversary: pass --adversary FILE, or train and "
                f"cache one with `python -m landscape.evaluate --ckpt {ckpt} --attack {name}`"
            )
        opts["ckpt"] = ckpt
        if adversary:
            opts["q" if name == "rs" else "adversary"] = adversary
    elif adversary:
        raise LandscapeError(f"--adversary serves the learned attacks ({', '.join(LEARNED)}), not {name!r}")
    return make_attack(name, agent, eps, **opts)


# ----------------------------------------------------------------------------------- directions
def build_directions(spec: ScanSpec, agent, attack) -> torch.Tensor:
    space = agent.space
    theta0 = space.flatten(agent.actor)
    mask = space.mask(param_kinds(spec.params))
    gen = torch.Generator().manual_seed(spec.seed)
    kinds = spec.directions
    dirs = []
    for i, kind in enumerate(kinds):
        if kind == "random":
            d = random_direction(space, theta0, gen, spec.norm, spec.params)
        elif kind in ("natural-grad", "adversarial-grad"):
            atk = attack if kind == "adversarial-grad" else None
            if atk is None and kind == "adversarial-grad":
                raise LandscapeError("an adversarial-grad direction needs --attack")
            from ..rl.evaluator import BatchedEvaluator

            ev = BatchedEvaluator(agent.env_id, space, agent.obs_norm)
            roll = ev.run(theta0[None], 32, seed=spec.seed + 2, deterministic=False, attack=atk, record=True)
            ev.close()
            d = scaled_direction(
                estimate(space, theta0[None], roll.trajectories, 32, critic=agent.critic).mean[0], theta0, mask
            )
        elif kind == "line":
            other = checkpoint.load(spec.to)
            if other.actor.hidden != agent.actor.hidden or other.env_id != agent.env_id:
                raise LandscapeError(f"{spec.to} is not the same network and environment as {spec.ckpt}")
            d = line_direction(theta0, rebase(other.space.flatten(other.actor), other, agent))
        else:  # pca
            files = sorted(glob.glob(spec.trajectory or ""))
            if not files:
                raise LandscapeError("a 'pca' direction needs --trajectory GLOB matching training checkpoints")
            traj = torch.stack([rebase(a.space.flatten(a.actor), a, agent) for a in map(checkpoint.load, files)])
            pcs, _ = pca_directions(traj, theta0, n=kinds.count("pca"))
            d = pcs[kinds[: i + 1].count("pca") - 1]
        dirs.append(check_direction(d, f"direction {i + 1} ({kind})"))
    return torch.stack(dirs)


def direction_meta(spec: ScanSpec, kind: str) -> dict:
    """What defines a direction, for the store's key: the contents of `to` and of the trajectory files."""
    d = {"kind": kind, "norm": spec.norm, "params": spec.params, "to": spec.to if kind == "line" else None}
    if kind == "line" and spec.to:
        d["to_sha256"] = checkpoint.file_hash(spec.to)
    if kind == "pca":
        d["trajectory"] = {
            "glob": spec.trajectory,
            "sha256": [checkpoint.file_hash(f) for f in sorted(glob.glob(spec.trajectory or ""))],
        }
    return d


def stored_directions(store: ScanStore, meta: dict, shape: tuple) -> torch.Tensor | None:
    """The directions of an existing store of the same computation (same key and shape), else None (then
    fresh ones are built, and a store that does not match refuses them: create_or_resume)."""
    if not (store.root / "scan.json").exists() or store.meta.get("key") != meta["key"]:
        return None
    d = store.directions().get("directions")
    return torch.as_tensor(d) if d is not None and d.shape == shape else None


# ----------------------------------------------------------------------------------- the grid
def grid_thetas(theta0: torch.Tensor, dirs: torch.Tensor, coords: list[np.ndarray], points: np.ndarray) -> torch.Tensor:
    """theta0 + sum_i c_i d_i for flat point indices, each computed from scratch (no accumulation drift)."""
    idx = np.unravel_index(points, tuple(len(c) for c in coords))
    c = torch.as_tensor(np.stack([coords[i][idx[i]] for i in range(len(coords))], 1), dtype=torch.float64)
    return (theta0.to(torch.float64)[None] + c @ dirs.to(torch.float64)).to(torch.float32)


def attack_meta(name: str, eps: float, adversary: str | None, learned: str | None) -> dict:
    """The attack as the store records it; a learned attacker by its file's hash too, so a retrained cache is
    another computation (a resumed scan never mixes two attackers' numbers)."""
    meta = {"name": name, "eps": eps, "adversary": adversary}
    if learned:
        meta["adversary_sha256"] = checkpoint.file_hash(learned)
    return meta


def scan_key(meta: dict) -> str:
    """Identity of the computation: same key = same numbers, so resuming is safe."""
    fields = {
        k: meta[k]
        for k in (
            "ckpt_sha256",
            "grid",
            "directions",
            "metrics",
            "attack",
            "episodes",
            "grad_episodes",
            "seed",
            "chunk",
        )
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def compute_chunk(probe: PointProbe, theta0, dirs, coords, points: np.ndarray, index: int, seed: int) -> dict:
    chunk_seed = seed * 100_003 + index  # random starts fixed per chunk: resumed = uninterrupted numbers
    torch.manual_seed(chunk_seed)
    if getattr(probe.attack, "gen", None) is not None:
        probe.attack.gen.manual_seed(chunk_seed)
    return probe(grid_thetas(theta0, dirs, coords, points))


# ----------------------------------------------------------------------------------- chunks as tasks
_PROBES: dict = {}  # scan key -> PointProbe, per process: building one costs env set-up (and rollouts)


def chunk_job(meta: dict, agent, adversary: str | None) -> dict:
    """Plain data from which any process rebuilds the scan's probe: the settings, the loaded agent as our own
    checkpoint format (so an imported model's side files -- SB3/CleanRL statistics, a lineage model's --env --
    reach the workers as what this process loaded) and the learned attacker's file (the given one or the
    one cached beside the checkpoint)."""
    import tempfile

    ship = lambda path: None if path is None else (Path(path).name, Path(path).read_bytes())  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="landscape-") as tmp:
        checkpoint.save(agent, Path(tmp) / "ckpt.pt")
        ckpt = ship(Path(tmp) / "ckpt.pt")
    return {
        "key": meta["key"],
        "metrics": meta["metrics"],
        "attack": meta["attack"],
        "episodes": meta["episodes"],
        "grad_episodes": meta["grad_episodes"],
        "seed": meta["seed"],
        "files": {"ckpt": ckpt, "adversary": ship(adversary)},
    }


def _probe(job: dict) -> PointProbe:
    """The probe of job's scan in this process: cached, else rebuilt from the job's files."""
    if job["key"] in _PROBES:
        return _PROBES[job["key"]]
    import tempfile

    from ..exec.distributed import unpack

    for old in _PROBES.values():
        old.close()
    _PROBES.clear()
    with tempfile.TemporaryDirectory(prefix="landscape-") as tmp:  # everything is loaded eagerly
        paths = unpack(tmp, job["files"])
        agent = checkpoint.load(paths["ckpt"])
        attack = None
        if job["attack"] is not None:
            a = job["attack"]
            attack = make_attack_for(
                agent, a["name"], a["eps"], str(paths["adversary"]) if "adversary" in paths else None
            )
        _PROBES[job["key"]] = PointProbe(
            agent, job["metrics"], attack, job["episodes"], job["grad_episodes"], job["seed"]
        )
    return _PROBES[job["key"]]


def scan_chunk(job: dict, theta0, dirs, coords, chunk: tuple[int, np.ndarray]):
    """One chunk (index, point indices), in whatever process runs it: (index, {metric: (value, se)}, env steps)."""
    index, points = chunk
    probe = _probe(job)
    steps = probe.env_steps
    values = compute_chunk(probe, theta0, dirs, coords, points, index, job["seed"])
    return index, values, probe.env_steps - steps


def run_chunks(
    store: ScanStore, job: dict, theta0, dirs, coords, chunks: list[np.ndarray], executor, progress: bool = True
) -> None:
    """Compute the store's missing chunks on `executor` (executor.py), writing each as it finishes."""
    done = store.done_chunks()
    todo = [(i, chunks[i]) for i in range(len(chunks)) if i not in done]
    total = sum(len(c) for c in chunks)
    bar = tqdm(
        total=total,
        initial=total - sum(len(c) for _, c in todo),
        unit="pt",
        desc="scan" if executor.local else "scan (ray)",
        dynamic_ncols=True,
        disable=not progress,
    )
    t0, steps = time.perf_counter(), 0

    def write(_, result):
        nonlocal steps
        index, values, n = result
        store.write_chunk(index, chunks[index], values)
        steps += n
        bar.update(len(chunks[index]))
        bar.set_postfix(env_sps=f"{steps / (time.perf_counter() - t0):.0f}")

    executor.map(scan_chunk, todo, write, shared=(job, theta0, dirs, coords))
    bar.close()


def run_local(
    store: ScanStore, probe: PointProbe, key: str, theta0, dirs, coords, chunks: list[np.ndarray], progress: bool = True
) -> None:
    """Compute the store's missing chunks in this process with a probe already built (key: its scan's)."""
    from ..exec.executor import LocalExecutor

    _PROBES[key] = probe
    try:
        job = {"key": key, "seed": probe.seed}
        run_chunks(store, job, theta0, dirs, coords, chunks, LocalExecutor(), progress)
    finally:
        _PROBES.pop(key, None)


# ----------------------------------------------------------------------------------- the entry point
def run(spec: ScanSpec, progress: bool = True, executor=None) -> Surface:
    """Scan (or resume, or reuse) the store of `spec`; returns its Surface. progress: a line saying what is
    scanned and a progress bar; executor (executor.py): where chunks run (default: spec.backend's)."""
    ckpt = str(bundled.resolve(spec.ckpt))  # bundled by name: its cached attackers are beside it
    agent = checkpoint.load(ckpt)
    out = check_writable(spec.out or Path("scans") / Path(ckpt).stem, "--out", directory=True)
    eps = attack_eps(agent, spec.eps)
    attack = make_attack_for(agent, spec.attack, eps, spec.adversary, ckpt) if spec.uses_attack else None
    coords = spec.coordinates()
    theta0 = agent.space.flatten(agent.actor)
    n_points = int(np.prod([len(c) for c in coords]))
    chunk = spec.chunk_size()
    learned = learned_file(spec.attack, eps, spec.adversary, ckpt) if spec.uses_attack else None
    meta = {
        "version": __version__,
        "ckpt": ckpt,
        "ckpt_sha256": checkpoint.file_hash(ckpt),
        "env_id": agent.env_id,
        "algo": agent.algo,
        "grid": {"shape": [len(c) for c in coords], "lo": float(coords[0][0]), "hi": float(coords[0][-1])},
        "directions": [direction_meta(spec, k) for k in spec.directions],
        "metrics": list(spec.metrics),
        "attack": attack_meta(spec.attack, eps, spec.adversary, learned) if spec.uses_attack else None,
        "episodes": spec.episodes,
        "grad_episodes": spec.grad_episodes,
        "seed": spec.seed,
        "chunk": chunk,
    }
    meta["key"] = scan_key(meta)
    # everything that can refuse the request runs before the store exists (no orphan store blocks a rerun)
    probe = PointProbe(agent, list(spec.metrics), attack, spec.episodes, spec.grad_episodes, spec.seed)
    store = ScanStore(out)
    # the directions this scan started with; only a new store builds them (32 gradient episodes for a grad one)
    dirs = stored_directions(store, meta, (len(spec.directions), theta0.numel()))
    dirs = build_directions(spec, agent, attack) if dirs is None else dirs
    resumed = store.create_or_resume(meta, theta0.numpy(), dirs.numpy(), coords)
    chunks = np.array_split(np.arange(n_points), math.ceil(n_points / chunk))
    if progress:
        print(
            f"{'resuming' if resumed else 'scanning'} {n_points} points "
            f"({' x '.join(map(str, meta['grid']['shape']))}) around {ckpt} -> {out}"
        )
    executor = executor or make_executor(spec.backend, spec.address)
    if executor.local:  # this process's probe serves every chunk
        run_local(store, probe, meta["key"], theta0, dirs, coords, chunks, progress)
        probe.close()
    else:  # the workers rebuild it from the job's plain data
        probe.close()
        run_chunks(store, chunk_job(meta, agent, learned), theta0, dirs, coords, chunks, executor, progress)
    store.assemble()
    return open_surface(out)
