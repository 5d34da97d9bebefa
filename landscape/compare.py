"""python -m landscape.compare A.pt B.pt [C.pt ...] [--out compare.html] [--reports R.json ...]

One self-contained HTML page (plotly bundled inline, works offline) to compare checkpoints and their
stationary points on one shared parameter plane:

- linked 3D surfaces of natural and adversarial return (rotating one rotates the other; the grid cell
  hovered in any plot is marked in all of them), coloured by the gradient norm of the selected objective;
- a toggle between the SPO objective's view (natural return, ||grad J_nat||, its stationary cells) and
  the ARPO objective's view (adversarial return under the chosen attack) of the same plane;
- a 2D map of the selected objective with every point marked; clicking a point (in the map, the 3D plots
  or the table) shows its returns, gradient norms, curvature and stickiness;
- a table of the points, sortable by any column.

The plane (centre A, coordinates in units of the directions):
  3+ checkpoints: d1 = B - A, d2 = the part of C - A orthogonal to d1, so A = (0, 0), B = (1, 0) and
                  C = (<C-A, d1>/|d1|^2, 1); further checkpoints are projected (their distance from the
                  plane is shown).
  2 checkpoints:  d1 = B - A, d2 = a filter-normalized Gaussian direction at A, orthogonalized to d1 and
                  scaled to |d1|.
  1 checkpoint:   two filter-normalized Gaussian directions at A (d2 orthogonalized to d1).
Observation statistics: every point runs with A's normalizer. So that B and C are their own policies on
the plane, each is first re-expressed in A's normalized coordinates: the first layer absorbs the change
of statistics (W' = W diag(sd_A/sd_B), b' = b + W (m_A - m_B)/sd_B), which is exact wherever neither
normalizer clips (|z| < 10). Their gradient norms are therefore in A's coordinates. The attack's eps-ball
is in A's normalized observation space.

The scan runs through the scan machinery (landscape.scan / landscape.probes.store) into `--scans` (default:
<out>_data/), resumes if interrupted, and is reused when the page is regenerated.

Points and reports. Each checkpoint is a point; its returns and gradient norms are measured at its exact
parameters with the same seeds as the grid. More points (e.g. FOSPs found by landscape.fosp) and per-point
analyses come from --reports files, JSON in this schema ("landscape.points/1"):

    {"schema": "landscape.points/1",
     "ckpt": "path/of/the/checkpoint/whose/normalizer/theta/uses.pt",
     "points": [{"id": "fosp-3", "label": "FOSP from ARPO restart 3", "kind": "fosp",
                 "of": "A.pt"                      # attach to a checkpoint's point instead of adding one
                 "theta": [...],                   # flat actor parameters (optional; placed on the plane)
                 "natural": [mean, se], "adversarial": [mean, se],       # optional: measured if theta given
                 "grad_natural": [norm, se], "grad_adversarial": [norm, se],
                 "curvature": {"spo": {"top": [l1, l2, ...], "min": l_min}, "arpo": {...}},
                 "sticky": {"spo": {"fall_back": 0.4, "restarts": 20, "escape_iters": 7.5}, "arpo": {...}},
                 ...}]}                            # other fields are shown verbatim in the details

A point with "of" adds its fields to an existing point (id or checkpoint path), e.g. a stickiness
report about checkpoint B. The native reports of `python -m landscape.fosp` (its JSON with the .npz of
parameter vectors beside it; the PPO-surrogate Hessian becomes the SPO curvature) and of
`python -m landscape.sticky` (attached to its checkpoint, or to the FOSP `<fosp report stem>:<point id>`)
are read directly.
"""

import argparse
import hashlib
import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import __version__, cli_args
from .core.errors import LandscapeError, check_writable, cli_main, describe
from .core.specs import ATTACK, SEED, SpecError, at_least, check_finite, names, one_of
from .io import bundled, checkpoint
from .probes.directions import random_direction, rebase
from .probes.metrics import PointProbe
from .probes.scanning import attack_eps, make_attack_for, run_local, scan_key
from .probes.store import ScanStore
from .stationary import stationarity as st
from .core.threads import single_thread

METRICS = ["natural", "adversarial", "grad_natural", "grad_adversarial"]
OBJECTIVES = {"spo": ("natural", "grad_natural"), "arpo": ("adversarial", "grad_adversarial")}


def parse_args(argv=None) -> argparse.Namespace:
    p = cli_args.parser("python -m landscape.compare", __doc__)
    p.add_argument("ckpts", nargs="+", help="checkpoints (.pt or lineage .model); the first is the centre A")
    cli_args.out(p, "compare.html", help="HTML page to write (default: compare.html)")
    p.add_argument("--scans", help="store directory for the plane scan (default: <out>_data/)")
    p.add_argument("--reports", nargs="*", default=[], help="JSON reports of points (schema: see above)")
    p.add_argument("--resolution", type=int, default=9, help="grid points per axis")
    p.add_argument("--margin", type=float, default=0.25, help="grid extends this fraction beyond the points")
    p.add_argument("--span", type=float, default=0.5, help="coordinate range [-span, span] with one checkpoint")
    cli_args.attack(p, help="attack of the ARPO objective's view (adversarial return)")
    cli_args.eps(p)
    cli_args.adversary(p, help="learned adversary checkpoint for --attack rs/optimal/paad")
    cli_args.episodes(p, 3)
    cli_args.grad_episodes(p, 4)
    cli_args.seed(p, help="seeds directions and episodes")
    p.add_argument("--screenshot", metavar="PNG", help="also save a screenshot (needs chromium + selenium)")
    p.add_argument("--screenshot-view", default="spo", choices=("spo", "arpo"), help="objective view of the screenshot")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class CompareSpec:
    """One comparison page: every option of `python -m landscape.compare`, its defaults (module docstring).
    ckpts and reports take a sequence (or a comma string) of paths; the first checkpoint is the centre A."""

    ckpts: tuple[str, ...]  # checkpoints (.pt or lineage .model) or bundled checkpoints' names
    out: str = "compare.html"  # HTML page to write
    scans: str | None = None  # store directory for the plane scan (None: <out>_data/)
    reports: tuple[str, ...] = ()  # JSON reports of points (fosp, sticky, or the schema above)
    resolution: int = 9  # grid points per axis, 2 to 60
    margin: float = 0.25  # grid extends this fraction beyond the points
    span: float = 0.5  # coordinate range [-span, span] with one checkpoint
    attack: str = ATTACK  # attack of the ARPO objective's view (adversarial return)
    eps: float | None = None  # None: the checkpoint's, or the environment's standard
    adversary: str | None = None  # learned adversary checkpoint for attack rs/optimal/paad
    episodes: int = 3
    grad_episodes: int = 4
    seed: int = SEED
    screenshot: str | None = None  # also save a screenshot (needs chromium + selenium)
    screenshot_view: str = "spo"  # objective view of the screenshot: spo or arpo

    def __post_init__(self):
        object.__setattr__(self, "ckpts", names(self.ckpts, "ckpts"))
        object.__setattr__(self, "reports", names(self.reports, "reports"))
        for name in ("margin", "span"):  # an int given for a float field
            if isinstance(getattr(self, name), int):
                object.__setattr__(self, name, float(getattr(self, name)))
        check_finite(self)
        if not self.ckpts:
            raise SpecError("ckpts", "needs at least one checkpoint")
        at_least(self, 1, "episodes")
        if self.resolution < 2 or self.resolution > 60:
            raise SpecError("resolution", "must be between 2 and 60")
        one_of(self, "screenshot_view", OBJECTIVES)


def run(spec: CompareSpec, progress: bool = True) -> dict:
    """Scan the plane through spec.ckpts (or reuse its store), place the reports' points, and write the
    self-contained page to spec.out (and the screenshot); returns the page's data. progress=True prints what
    the CLI prints."""
    paths = [bundled.resolve(p) for p in spec.ckpts]  # bundled by name, as every CLI
    if len(set(map(str, paths))) != len(paths):
        raise LandscapeError("a checkpoint is given twice")
    out = Path(spec.out)
    check_writable(out, "--out", inputs=[*paths, *spec.reports])
    agents = [checkpoint.load(p) for p in paths]
    reports = load_reports(list(spec.reports))
    info, points = scan_plane(spec, agents, paths, progress)
    points = read_reports(reports, points, info, spec)
    data = page_data(info, points)
    write_page(data, out, " vs ".join(p.stem for p in paths))
    if progress:
        print(f"page: {out} ({out.stat().st_size / 1e6:.1f} MB, self-contained)")
    if spec.screenshot:
        shot = screenshot(out, Path(spec.screenshot), objective=spec.screenshot_view)
        if progress:
            print(f"screenshot: {shot}")
    return data


# ----------------------------------------------------------------------------------- the plane
def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    """a . b correctly rounded (math.fsum): BLAS dot products may differ in the last bit from call to call
    (their summation order can depend on memory alignment), and the plane's axes are written into pages
    that must be reproducible byte for byte."""
    return math.fsum((a.to(torch.float64) * b.to(torch.float64)).tolist())


def on_plane(offs: torch.Tensor, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares coordinates [N, 2] of the offsets [N, P] in the plane of dirs [2, P] (the 2x2 normal
    equations with exact dot products) and each offset's distance from the plane."""
    (a, b), c = (_dot(dirs[0], dirs[0]), _dot(dirs[0], dirs[1])), _dot(dirs[1], dirs[1])
    det = a * c - b * b
    coords = []
    for off in offs:
        r0, r1 = _dot(off, dirs[0]), _dot(off, dirs[1])
        coords.append([(c * r0 - b * r1) / det, (a * r1 - b * r0) / det])
    coords = torch.tensor(coords, dtype=torch.float64).reshape(-1, 2)
    d = dirs.to(torch.float64)
    resid = offs.to(torch.float64) - coords[:, :1] * d[0] - coords[:, 1:] * d[1]  # elementwise, no BLAS
    return coords, torch.tensor([math.sqrt(_dot(r, r)) for r in resid], dtype=torch.float64)


def plane(thetas: torch.Tensor, centre, seed: int, span: float, margin: float, n: int):
    """(directions [2, P], coords per axis, point coords [N, 2], distance of each point from the plane)."""
    t0 = thetas[0].to(torch.float64)
    space = centre.space
    gen = torch.Generator().manual_seed(seed)
    rand = lambda: random_direction(space, thetas[0], gen, "filter", "weights").to(torch.float64)  # noqa: E731
    d1 = thetas[1].to(torch.float64) - t0 if len(thetas) > 1 else rand()
    n1 = _dot(d1, d1)
    if n1 == 0:
        raise LandscapeError("the first two checkpoints have identical parameters; cannot span a plane")
    d2 = thetas[2].to(torch.float64) - t0 if len(thetas) > 2 else rand()
    d2 = d2 - _dot(d2, d1) / n1 * d1
    n2 = _dot(d2, d2)
    if n2 < 1e-18 * n1:
        raise LandscapeError("the checkpoints are collinear; give a third one off the line or only two")
    if len(thetas) == 2:
        d2 = d2 * math.sqrt(n1 / n2)
    dirs = torch.stack([d1, d2])
    pts, dist = on_plane(thetas.to(torch.float64) - t0, dirs)
    dist = dist / math.sqrt(_dot(t0, t0))
    dist[dist < 1e-6] = 0.0  # rounding of the projection
    if len(thetas) == 1:
        coords = [np.linspace(-span, span, n)] * 2
    else:
        coords = []
        for i in range(2):
            lo, hi = float(pts[:, i].min()), float(pts[:, i].max())
            pad = margin * max(hi - lo, 1e-3)
            coords.append(np.linspace(lo - pad, hi + pad, n))
    return dirs.to(torch.float32), coords, pts.numpy(), dist.numpy()


# ----------------------------------------------------------------------------------- computing
def _check_comparable(agents, paths) -> None:
    """One environment and one network shape across the checkpoints, or a one-line error."""
    centre = agents[0]
    for p, a in zip(paths[1:], agents[1:]):
        if a.env_id != centre.env_id:
            raise LandscapeError(f"{p} is for {a.env_id}, {paths[0]} for {centre.env_id}; compare one environment")
        if [b.shape for b in a.space.blocks] != [b.shape for b in centre.space.blocks]:
            raise LandscapeError(f"{p} has a different network shape than {paths[0]}")


def _plane_meta(args, paths, centre, coords, eps: float, chunk: int) -> dict:
    """The store's metadata of a plane scan (its key decides whether a store can be resumed or reused)."""
    shas = [checkpoint.file_hash(p) for p in paths]
    labels = (
        ["B - A", "C - A (orthogonal part)"]
        if len(paths) > 2
        else ["B - A", "random (filter-norm., orthogonal)"]
        if len(paths) == 2
        else ["random", "random (orthogonal)"]
    )
    meta = {
        "version": __version__,
        "ckpt": str(paths[0]),
        "ckpts": [str(p) for p in paths],
        "ckpt_sha256": hashlib.sha256("".join(shas).encode()).hexdigest(),
        "env_id": centre.env_id,
        "algo": centre.algo,
        "grid": {
            "shape": [args.resolution] * 2,
            "lo": [float(c[0]) for c in coords],
            "hi": [float(c[-1]) for c in coords],
        },
        "directions": [
            {"kind": "plane", "label": lab, "norm": "checkpoints", "params": "all", "to": None} for lab in labels
        ],
        "metrics": METRICS,
        "attack": {"name": args.attack, "eps": eps, "adversary": args.adversary},
        "episodes": args.episodes,
        "grad_episodes": args.grad_episodes,
        "seed": args.seed,
        "chunk": chunk,
    }
    meta["key"] = scan_key(meta)
    return meta


def _measure_checkpoints(store: ScanStore, probe, thetas, key: str, seed: int) -> list[dict]:
    """Every metric at the checkpoints' exact (rebased) parameters, same seeds as the grid; cached in the store."""
    cache = store.root / "checkpoint_points.json"
    if cache.exists() and json.loads(cache.read_text()).get("key") == key:
        return json.loads(cache.read_text())["values"]
    torch.manual_seed(seed * 100_003 + 99_991)
    vals = probe(thetas)
    measured = [{m: [float(vals[m][0][i]), float(vals[m][1][i])] for m in METRICS} for i in range(len(thetas))]
    cache.write_text(json.dumps({"key": key, "values": measured}))
    return measured


def _checkpoint_points(paths, agents, pts, dist, measured: list[dict]) -> list[dict]:
    """The page's point records of the checkpoints: A, B, C, ... with their plane coordinates and values."""
    return [
        {
            "id": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i] if i < 26 else f"P{i}",
            "label": Path(p).name,
            "kind": "checkpoint",
            "ckpt": str(p),
            "algo": a.algo,
            "step": a.step,
            "coords": [float(pts[i, 0]), float(pts[i, 1])],
            "off_plane": float(dist[i]),
            **measured[i],
        }
        for i, (p, a) in enumerate(zip(paths, agents))
    ]


def scan_plane(args, agents, paths, progress: bool = True) -> tuple[dict, list[dict]]:
    """Runs (or resumes / reuses) the plane scan; returns (surface, measured checkpoint points)."""
    centre = agents[0]
    _check_comparable(agents, paths)
    if args.resolution < 2 or args.resolution > 60:
        raise LandscapeError("--resolution must be between 2 and 60")
    thetas = torch.stack(
        [centre.space.flatten(centre.actor)] + [rebase(a.space.flatten(a.actor), a, centre) for a in agents[1:]]
    )
    dirs, coords, pts, dist = plane(thetas, centre, args.seed, args.span, args.margin, args.resolution)
    eps = attack_eps(centre, args.eps)
    attack = make_attack_for(centre, args.attack, eps, args.adversary, str(paths[0]))
    n_pts = args.resolution**2
    chunk = max(1, 128 // args.episodes)
    meta = _plane_meta(args, paths, centre, coords, eps, chunk)
    probe = PointProbe(
        centre, METRICS, attack, args.episodes, args.grad_episodes, args.seed
    )  # refuses before the store
    store = ScanStore(args.scans or Path(args.out).with_name(Path(args.out).stem + "_data"))
    if store.create_or_resume(meta, thetas[0].numpy(), dirs.numpy(), coords):
        dirs = torch.as_tensor(store.directions()["directions"])
    chunks = np.array_split(np.arange(n_pts), math.ceil(n_pts / chunk))
    if progress:
        print(f"plane scan: {n_pts} points through {len(paths)} checkpoint(s) -> {store.root}")
    run_local(store, probe, meta["key"], thetas[0], dirs, coords, chunks, progress=progress)
    surface = store.assemble()
    measured = _measure_checkpoints(store, probe, thetas, meta["key"], args.seed)
    probe.close()
    points = _checkpoint_points(paths, agents, pts, dist, measured)
    (store.root / "points.json").write_text(json.dumps({"points": points}, indent=1))
    return {
        "meta": meta,
        "surface": surface,
        "store": str(store.root),
        "thetas": thetas,
        "dirs": dirs,
        "probe_args": (centre, attack),
    }, points


def as_points(rep: dict, path: Path) -> dict:
    """A report in the landscape.points/1 schema: passed through, or converted from the native reports of
    `python -m landscape.fosp` (points + thetas in the .npz beside it) and `python -m landscape.sticky`."""
    if rep.get("schema") == "landscape.points/1" or not ("settings" in rep and "ckpt" in rep):
        return rep
    if "objectives" in rep:  # landscape.sticky: attach per-objective stickiness to the point it is about
        fosp = rep["settings"].get("fosp")
        target = f"{Path(fosp).stem}:{rep['point']}" if rep.get("point") and fosp else rep["ckpt"]
        sticky = {
            name: {
                "fall_back": s["fall_back_share"],
                "escaped": s["escaped_share"],
                "escape_times": s["escape_times"],
                "restarts": len(s["fell_back"]),
                "natural_reached": float(np.mean(s["returns_reached"]["natural"])),
            }
            for name, s in rep["objectives"].items()
        }
        return {"ckpt": rep["ckpt"], "points": [{"id": f"{path.stem}", "of": target, "sticky": sticky}]}
    npz = path.with_suffix(".npz")  # landscape.fosp
    if not npz.exists():
        raise LandscapeError(f"{path} is a FOSP report but its parameter vectors {npz} are missing")
    with np.load(npz) as f:
        thetas = f["thetas"]
    obj = rep["settings"].get("objective", "natural")
    pts = []
    for i, p in enumerate(rep["points"]):
        if p.get("duplicate_of"):
            continue
        q = {
            "id": f"{path.stem}:{p['id']}",
            "label": f"FOSP by {obj} ascent from {p['id']}",
            "kind": "fosp",
            "theta": thetas[i].tolist(),
            "natural": p.get("natural_return"),
            "adversarial": p.get("adversarial_return"),
            "grad_natural": p.get("grad_norm_natural"),
            "grad_adversarial": p.get("grad_norm_adversarial"),
            "stationary": p.get("stationary"),
            "steps": p.get("steps"),
            "distance_to_ckpt": p.get("distance_to_ckpt"),
        }
        if p.get("surrogate_hessian"):  # Hessian of the (clean) PPO surrogate: the SPO objective's curvature
            q["curvature"] = {"spo": p["surrogate_hessian"]}
        pts.append({k: v for k, v in q.items() if v is not None})
    return {"ckpt": rep["ckpt"], "points": pts}


def _same_ckpt(a: str | None, b: str | None) -> bool:
    return bool(a and b) and (a == b or Path(a).resolve() == Path(b).resolve())


def load_reports(files: list[str]) -> list[tuple[str, dict, object]]:
    """Reads every --reports file and loads the checkpoint it names, before any scan work is spent."""
    loaded = []
    for f in files:
        try:
            rep = json.loads(Path(f).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
            raise LandscapeError(f"cannot read report {f}: {describe(err)}")
        try:
            rep = as_points(rep, Path(f))
        except (KeyError, TypeError, AttributeError) as err:
            raise LandscapeError(f"{f}: unexpected report format (missing {err})")
        if (
            rep.get("schema", "landscape.points/1") != "landscape.points/1"
            or not isinstance(rep.get("points"), list)
            or not all(isinstance(q, dict) for q in rep["points"])
        ):
            raise LandscapeError(f"{f} is not a landscape.points/1, fosp or sticky report (needs a 'points' list)")
        loaded.append((f, rep, checkpoint.load(rep["ckpt"]) if rep.get("ckpt") else None))
    return loaded


def read_reports(loaded: list, points: list[dict], plane_info: dict, args) -> list[dict]:
    """Merges --reports into the point list; report points with a theta are placed on the plane and measured."""
    centre, attack = plane_info["probe_args"]
    new, thetas = [], []
    for f, rep, owner in loaded:
        owner = owner or centre
        for q in rep["points"]:
            if q.get("of"):
                hit = [
                    p
                    for p in points + [n for n, _ in new]
                    if q["of"] in (p["id"], Path(p.get("ckpt") or "").name) or _same_ckpt(q["of"], p.get("ckpt"))
                ]
                if not hit:
                    raise LandscapeError(f"{f}: point {q.get('id')!r} refers to {q['of']!r}, which is not compared")
                hit[0].update({k: v for k, v in q.items() if k not in ("of", "id", "theta")})
                continue
            q = {"kind": "fosp", "label": q.get("id", "?"), **q, "source": f}
            theta = q.pop("theta", None)
            if theta is not None:
                t = torch.as_tensor(theta, dtype=torch.float32)
                if t.shape != (centre.space.size,) or not torch.isfinite(t).all():
                    raise LandscapeError(f"{f}: point {q.get('id')!r}: theta has the wrong size or non-finite values")
                thetas.append(rebase(t, owner, centre) if owner is not centre else t)
            new.append((q, theta is not None))
    if thetas:
        T = torch.stack(thetas).to(torch.float64)
        t0, dirs = plane_info["thetas"][0].to(torch.float64), plane_info["dirs"].to(torch.float64)
        c, dist = on_plane(T - t0, dirs)
        dist = dist / math.sqrt(_dot(t0, t0))
        probe = PointProbe(centre, METRICS, attack, args.episodes, args.grad_episodes, args.seed)
        torch.manual_seed(args.seed * 100_003 + 99_989)
        vals = probe(T.to(torch.float32))
        probe.close()
        j = 0
        for q, has in new:
            if has:
                q["coords"], q["off_plane"] = [float(c[j, 0]), float(c[j, 1])], float(dist[j])
                for m in METRICS:
                    q.setdefault(m, [float(vals[m][0][j]), float(vals[m][1][j])])
                j += 1
    return points + [q for q, _ in new]


# ----------------------------------------------------------------------------------- the page
def _clean(x):
    """JSON-safe: NaN/inf -> null, numpy -> lists."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def page_data(plane_info: dict, points: list[dict]) -> dict:
    meta, surf = plane_info["meta"], plane_info["surface"]
    done = surf["done"]
    grids = {m: np.where(done, surf[m], np.nan).T for m in METRICS}  # plotly: z[y][x]
    grids |= {f"{m}_se": np.where(done, surf[f"{m}_se"], np.nan).T for m in METRICS}
    X, Y = np.meshgrid(surf["coords_0"], surf["coords_1"], indexing="ij")
    verdicts = {}  # per objective, per verdict: the cells (the one rule, stationarity.grid_verdicts)
    for obj, (_, g) in OBJECTIVES.items():
        v = st.grid_verdicts(np.where(done, surf[g], np.nan), surf[f"{g}_se"])
        verdicts[obj] = {
            name: {"x": X[done & (v == name)].tolist(), "y": Y[done & (v == name)].tolist()} for name in st.VERDICTS
        }
    atk = meta["attack"]
    return _clean(
        {
            "x": surf["coords_0"],
            "y": surf["coords_1"],
            "axes": [d["label"] for d in meta["directions"]],
            "grids": grids,
            "verdicts": verdicts,
            "points": points,
            "objectives": {
                "spo": {
                    "name": "SPO objective",
                    "ret": "natural",
                    "grad": "grad_natural",
                    "desc": "natural return J(theta, id)",
                },
                "arpo": {
                    "name": "ARPO objective",
                    "ret": "adversarial",
                    "grad": "grad_adversarial",
                    "desc": f"adversarial return J(theta, nu) under {atk['name']} at eps {atk['eps']:g}",
                },
            },
            "meta": {
                "env": meta["env_id"],
                "ckpts": meta["ckpts"],
                "episodes": meta["episodes"],
                "grad_episodes": meta["grad_episodes"],
                "seed": meta["seed"],
                "attack": atk,
                "store": plane_info["store"],
                "version": meta["version"],
            },
        }
    )


TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>landscape compare: __TITLE__</title>
<style>
body{font-family:system-ui,sans-serif;margin:12px;color:#222;font-size:14px}
h1{font-size:18px;margin:4px 0} .sub{color:#555;font-size:12px}
.row{display:flex;gap:8px;flex-wrap:wrap} .plot{flex:1 1 440px;min-width:380px;height:440px;border:1px solid #ddd}
#map{flex:1 1 440px;min-width:380px;height:400px;border:1px solid #ddd}
#details{flex:1 1 320px;min-width:300px;border:1px solid #ddd;padding:8px;font-size:13px;overflow:auto;max-height:400px}
#details table td{padding:1px 6px} .toggle button{padding:5px 12px;border:1px solid #0072B2;background:#fff;cursor:pointer}
.toggle button.on{background:#0072B2;color:#fff} table.pts{border-collapse:collapse;margin-top:8px;font-size:13px}
table.pts th{cursor:pointer;background:#eee;padding:3px 8px;user-select:none} table.pts td{padding:2px 8px;border-top:1px solid #ddd;text-align:right}
table.pts tr.sel{background:#fde9c8} table.pts tr{cursor:pointer} .na{color:#999}
</style>
<script>__PLOTLY__</script>
</head><body>
<h1>Stationary points on a shared plane: __TITLE__</h1>
<div class="sub" id="sub"></div>
<p class="toggle">View: <button id="obj-spo" onclick="setObjective('spo')">SPO objective</button><button id="obj-arpo"
 onclick="setObjective('arpo')">ARPO objective</button> <span id="objdesc" class="sub"></span></p>
<div class="row"><div id="surf-natural" class="plot"></div><div id="surf-adversarial" class="plot"></div></div>
<div class="row" style="margin-top:8px"><div id="map"></div><div id="details"><b>Click a point</b> (map, 3D plots or table)
 to see its returns, gradient norms, curvature and stickiness.</div></div>
<table class="pts" id="points"><thead></thead><tbody></tbody></table>
<script>
const D = __DATA__;
let objective = 'spo', selected = null, sortKey = null, sortDir = 1, syncing = false;
// everything from the data (file names, algo, ids, labels, report fields) goes through esc before innerHTML;
// plotly renders pseudo-HTML in text too, so its labels are escaped as well (it shows the entities as text)
const esc = s => String(s).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c]);
const fmt = v => (v === null || v === undefined) ? '<span class="na">n/a</span>' :
  (typeof v === 'number' ? (Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(4)) : esc(v));
const pm = p => Array.isArray(p) ? fmt(p[0]) + ' &plusmn; ' + fmt(p[1]) : fmt(p);
const obj = () => D.objectives[objective];
function zAt(p, metric) { const v = p[metric]; return Array.isArray(v) ? v[0] : null; }
function pointTrace3d(metric) {
  const pts = D.points.filter(p => p.coords);
  return {type: 'scatter3d', mode: 'markers+text', name: 'points', x: pts.map(p => p.coords[0]),
    y: pts.map(p => p.coords[1]), z: pts.map(p => zAt(p, metric)), text: pts.map(p => esc(p.id)),
    customdata: pts.map(p => D.points.indexOf(p)), hovertemplate: '%{text}<extra></extra>',
    marker: {size: 6, color: '#E69F00', line: {color: '#000', width: 1}, symbol: pts.map(p => p.kind === 'checkpoint' ? 'diamond' : 'x')}};
}
function surfaceTrace(metric) {
  return {type: 'surface', x: D.x, y: D.y, z: D.grids[metric], surfacecolor: D.grids[obj().grad],
    colorscale: 'Cividis', cmin: gradRange()[0], cmax: gradRange()[1], name: metric,
    colorbar: {title: {text: '||grad|| ' + obj().name.split(' ')[0] + ' (capped at 95th pct.)', side: 'right'}, len: 0.8},
    hovertemplate: 'a=%{x:.3f} b=%{y:.3f}<br>' + metric + '=%{z:.4g}<br>||grad||=%{surfacecolor:.3g}<extra></extra>'};
}
function range(keys) { let lo = Infinity, hi = -Infinity;
  for (const k of keys) for (const row of D.grids[k]) for (const v of row) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return lo <= hi ? [lo, hi] : [0, 1]; }
const zRange = () => range(['natural', 'adversarial']);
function gradRange() {  // 0 to the 95th percentile: one noisy hot spot must not wash out the colouring
  const v = [];
  for (const k of ['grad_natural', 'grad_adversarial']) for (const row of D.grids[k]) for (const x of row) if (x !== null) v.push(x);
  if (!v.length) return [0, 1];
  v.sort((a, b) => a - b);
  return [0, Math.max(v[Math.floor(0.95 * (v.length - 1))], 1e-12)];
}
function layout3d(metric) {
  return {title: {text: (metric === 'natural' ? 'natural return' : 'adversarial return') + (metric === obj().ret ? ' (objective)' : ''), font: {size: 14}},
    margin: {l: 0, r: 0, t: 30, b: 0}, showlegend: false,
    scene: {xaxis: {title: {text: esc(D.axes[0])}}, yaxis: {title: {text: esc(D.axes[1])}}, zaxis: {title: {text: 'return'}, range: zRange()},
            aspectmode: 'cube', camera: {eye: {x: 1.6, y: -1.6, z: 0.9}}}};
}
function drawSurfaces() {
  for (const m of ['natural', 'adversarial']) {
    const el = document.getElementById('surf-' + m);
    const cam = el.layout && el.layout.scene ? el.layout.scene.camera : null;
    const lay = layout3d(m); if (cam) lay.scene.camera = cam;
    Plotly.react(el, [surfaceTrace(m), pointTrace3d(m), cursor3d(m)], lay, {responsive: true, displaylogo: false});
  }
}
let cursor = null;  // the grid cell hovered in any plot, shown in all of them (linked hover)
function cursor3d(metric) {
  const c = cursor ? [D.grids[metric][cursor[1]][cursor[0]]] : [];
  return {type: 'scatter3d', mode: 'markers', name: 'cursor', x: cursor ? [D.x[cursor[0]]] : [], y: cursor ? [D.y[cursor[1]]] : [],
    z: c, hoverinfo: 'skip', marker: {size: 5, color: '#D55E00', symbol: 'circle-open', line: {width: 3}}};
}
function nearest(arr, v) { let b = 0; arr.forEach((a, i) => { if (Math.abs(a - v) < Math.abs(arr[b] - v)) b = i; }); return b; }
function setCursor(x, y, from) {
  cursor = [nearest(D.x, x), nearest(D.y, y)];
  for (const m of ['natural', 'adversarial']) if ('surf-' + m !== from) {
    const t = cursor3d(m); Plotly.restyle('surf-' + m, {x: [t.x], y: [t.y], z: [t.z]}, [2]); }
  if (from !== 'map') Plotly.restyle('map', {x: [[D.x[cursor[0]]]], y: [[D.y[cursor[1]]]]}, [2]);
}
function linkHover(id) { document.getElementById(id).on('plotly_hover', ev => {
  const p = ev.points && ev.points[0]; if (p && p.x !== undefined && p.y !== undefined) setCursor(p.x, p.y, id); }); }
function drawMap() {
  const o = obj(), pts = D.points.filter(p => p.coords), vd = D.verdicts[objective];
  const mark = (v, symbol, name) => ({type: 'scatter', mode: 'markers', x: vd[v].x, y: vd[v].y, name: name,
    hoverinfo: 'skip', showlegend: true, marker: {symbol: symbol, size: 9, color: '#fff', line: {width: 1.5, color: '#fff'}}});
  const traces = [
    {type: 'contour', x: D.x, y: D.y, z: D.grids[o.ret], colorscale: 'Viridis', zmin: zRange()[0], zmax: zRange()[1],
     colorbar: {title: {text: o.ret + ' return'}}, hovertemplate: 'a=%{x:.3f} b=%{y:.3f}<br>%{z:.4g}<extra></extra>', name: 'surface'},
    mark('stationary', 'circle', 'stationary'),
    {type: 'scatter', mode: 'markers', name: 'cursor', x: cursor ? [D.x[cursor[0]]] : [], y: cursor ? [D.y[cursor[1]]] : [],
     hoverinfo: 'skip', marker: {size: 12, color: 'rgba(0,0,0,0)', line: {color: '#D55E00', width: 2}}},
    mark('not stationary', 'x-thin-open', 'not stationary'), mark('unresolved', 'circle-open', 'unresolved'),
    {type: 'scatter', mode: 'markers+text', x: pts.map(p => p.coords[0]), y: pts.map(p => p.coords[1]), name: 'points',
     text: pts.map(p => esc(p.id)), textposition: 'top right', textfont: {color: '#fff'}, customdata: pts.map(p => D.points.indexOf(p)),
     hovertemplate: '%{text}: click for details<extra></extra>',
     marker: {size: 14, color: pts.map(p => D.points.indexOf(p) === selected ? '#D55E00' : '#E69F00'),
              symbol: pts.map(p => p.kind === 'checkpoint' ? 'diamond' : 'x'), line: {color: '#000', width: 1}}}];
  traces.forEach(t => { if (t.showlegend === undefined) t.showlegend = false; });
  Plotly.react('map', traces, {title: {text: o.name + ' (gradient-norm verdict per cell: dot stationary, x not, ring unresolved)', font: {size: 13}, x: 0.02},
    margin: {l: 50, r: 10, t: 40, b: 40}, xaxis: {title: {text: esc(D.axes[0])}}, yaxis: {title: {text: esc(D.axes[1])}},
    showlegend: true, legend: {orientation: 'h', y: -0.15}, hovermode: 'closest'}, {responsive: true, displaylogo: false});
}
function objCell(p, key) { const v = p[key]; return v && typeof v === 'object' && !Array.isArray(v) ? v[objective] : undefined; }
const COLS = [
  ['id', 'point', p => p.id], ['kind', 'kind', p => p.kind], ['algo', 'algo', p => p.algo],
  ['natural', 'natural return', p => p.natural], ['adversarial', 'adversarial return', p => p.adversarial],
  ['grad', '||grad|| (objective)', p => p[obj().grad]],
  ['curv', 'top Hessian eig. (objective)', p => { const c = objCell(p, 'curvature');
    return c ? (c.largest ? c.largest[0] : c.top ? c.top[0] : c.max) : null; }],
  ['sticky', 'fall-back share (objective)', p => { const s = objCell(p, 'sticky'); return s ? s.fall_back : null; }],
  ['off', 'off plane', p => p.off_plane]];
const num = v => Array.isArray(v) ? v[0] : v;
function drawTable() {
  const head = document.querySelector('#points thead'), body = document.querySelector('#points tbody');
  head.innerHTML = '<tr>' + COLS.map(c => '<th data-key="' + c[0] + '">' + c[1] + (sortKey === c[0] ? (sortDir > 0 ? ' &#9650;' : ' &#9660;') : '') + '</th>').join('') + '</tr>';
  head.querySelectorAll('th').forEach(th => th.onclick = () => { const k = th.dataset.key; sortDir = sortKey === k ? -sortDir : 1; sortKey = k; drawTable(); });
  let idx = D.points.map((p, i) => i);
  if (sortKey) { const f = COLS.find(c => c[0] === sortKey)[2];
    idx.sort((a, b) => { const x = num(f(D.points[a])), y = num(f(D.points[b]));
      if (x === y) return 0; if (x === null || x === undefined) return 1; if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sortDir; }); }
  body.innerHTML = idx.map(i => '<tr data-i="' + i + '"' + (i === selected ? ' class="sel"' : '') + '>' +
    COLS.map(c => '<td>' + pm(c[2](D.points[i])) + '</td>').join('') + '</tr>').join('');
  body.querySelectorAll('tr').forEach(tr => tr.onclick = () => showDetails(+tr.dataset.i));
}
function kv(obj) { return Object.entries(obj).map(([k, v]) => '<tr><td>' + esc(k) + '</td><td>' +
  (v && typeof v === 'object' && !Array.isArray(v) ? '<table>' + kv(v) + '</table>' : Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' ? pm(v) : fmt(Array.isArray(v) ? JSON.stringify(v) : v)) + '</td></tr>').join(''); }
function showDetails(i) {
  selected = i; const p = D.points[i], o = obj();
  const main = ['natural', 'adversarial', 'grad_natural', 'grad_adversarial'];
  let h = '<h3 style="margin:2px 0">' + esc(p.id) + ': ' + esc(p.label || '') + '</h3><div class="sub">' + esc(p.kind || '') +
    (p.ckpt ? ' &middot; ' + esc(p.ckpt) : '') + (p.coords ? ' &middot; plane (' + p.coords.map(c => (Math.abs(c) < 5e-4 ? 0 : +c).toFixed(3)).join(', ') + ')' : '') + '</div><table>';
  h += main.map(m => '<tr><td>' + m.replace('_', ' ') + (m === o.ret || m === o.grad ? ' *' : '') + '</td><td>' + pm(p[m]) + '</td></tr>').join('');
  for (const key of ['curvature', 'sticky']) {
    const v = p[key];
    h += '<tr><td>' + key + '</td><td>' + (v ? '<table>' + kv(v) + '</table>' : '<span class="na">not computed (add a --reports file)</span>') + '</td></tr>';
  }
  const rest = Object.keys(p).filter(k => !main.concat(['curvature', 'sticky', 'id', 'label', 'kind', 'ckpt', 'coords']).includes(k));
  h += kv(Object.fromEntries(rest.map(k => [k, p[k]]))) + '</table><div class="sub">* the selected objective; values &plusmn; standard error</div>';
  document.getElementById('details').innerHTML = h;
  drawTable(); drawMap();
}
function setObjective(o) {
  objective = o;
  for (const k of ['spo', 'arpo']) document.getElementById('obj-' + k).classList.toggle('on', k === o);
  document.getElementById('objdesc').textContent = obj().desc + '; surfaces coloured by its gradient norm';
  drawSurfaces(); drawMap(); drawTable(); if (selected !== null) showDetails(selected);
}
function link(src, dst) {  // shared camera: rotating one 3D plot rotates the other
  document.getElementById(src).on('plotly_relayout', ev => {
    if (syncing || !ev['scene.camera']) return; syncing = true;
    Plotly.relayout(dst, {'scene.camera': ev['scene.camera']}).then(() => { syncing = false; });
  });
}
function onClick(id) { document.getElementById(id).on('plotly_click', ev => {
  const pt = ev.points.find(q => q.customdata !== undefined && q.customdata !== null);
  if (pt) showDetails(pt.customdata); }); }
document.getElementById('sub').textContent = D.meta.env + ' | checkpoints: ' + D.meta.ckpts.join(', ') + ' | ' + D.meta.episodes +
  ' episodes per point (returns), ' + D.meta.grad_episodes + ' (gradients), seed ' + D.meta.seed + ' | plane: ' + D.axes.join(' x ') +
  ' | store: ' + D.meta.store;
setObjective('spo');
link('surf-natural', 'surf-adversarial'); link('surf-adversarial', 'surf-natural');
onClick('surf-natural'); onClick('surf-adversarial'); onClick('map');
linkHover('surf-natural'); linkHover('surf-adversarial'); linkHover('map');
window.compareReady = true;
</script></body></html>
"""


# ----------------------------------------------------------------------------------- screenshots
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    # WebGL (plotly's 3D) without a GPU: SwiftShader through ANGLE
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--window-size=1400,1500",
]
POINTS_CSS = "#map .scatterlayer .trace:last-child path.point"  # the clickable point markers (SVG)


def browser(user_dir: str, offline: bool = True):
    """Headless Chromium (Debian's chromium + chromium-driver) via selenium, network emulated offline."""
    import shutil

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise LandscapeError("screenshots need selenium (pip install selenium) and chromium + chromium-driver")
    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_bin):
        raise LandscapeError("screenshots need chromium and chromedriver (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for f in CHROMIUM_FLAGS + [f"--user-data-dir={user_dir}"]:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_bin), options=opts)
    if offline:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
        )
    return driver


def open_page(driver, page: Path, timeout: float = 90.0) -> None:
    import time

    driver.get(Path(page).resolve().as_uri())
    t0 = time.time()
    while not driver.execute_script("return window.compareReady === true"):
        if time.time() - t0 > timeout:
            raise LandscapeError(f"{page} did not finish drawing in {timeout:.0f} s")
        time.sleep(0.1)


def click_point(driver, index: int) -> None:
    import time

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    markers = driver.find_elements(By.CSS_SELECTOR, POINTS_CSS)
    ActionChains(driver).move_to_element(markers[min(index, len(markers) - 1)]).click().perform()
    time.sleep(0.3)


def screenshot(page: Path, png: Path, point: int = 0, objective: str = "spo") -> Path:
    """A PNG of the page in headless Chromium, after choosing the objective view and clicking a point."""
    import tempfile

    with tempfile.TemporaryDirectory() as user_dir:
        driver = browser(user_dir)
        try:
            open_page(driver, page)
            driver.execute_script(f"setObjective({json.dumps(objective)})")
            click_point(driver, point)
            png.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(png))
        finally:
            driver.quit()
    return png


def script_json(data) -> str:
    """JSON that stays inside its <script>: no '<', '>' or '&' (no </script> or <!--), no U+2028/9 line breaks."""
    blob = json.dumps(data, separators=(",", ":"), allow_nan=False)
    for ch, code in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        blob = blob.replace(ch, code)
    return blob


def write_page(data: dict, out: Path, title: str) -> None:
    from plotly.offline import get_plotlyjs

    # one pass over the template: a placeholder inside the data (a file named __DATA__.pt) stays text
    fill = {
        "__TITLE__": html.escape(title),
        "__DATA__": script_json(data),
        "__PLOTLY__": get_plotlyjs().replace("</script", "<\\/script"),
    }
    page = re.sub("|".join(fill), lambda m: fill[m.group(0)], TEMPLATE)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")


def spec_of(args: argparse.Namespace) -> CompareSpec:
    with cli_args.as_flags():
        return CompareSpec(**vars(args))


@cli_main
def main(argv=None) -> None:
    spec = spec_of(parse_args(argv))
    single_thread()
    run(spec)


if __name__ == "__main__":
    main()
