"""python -m landscape.figures [--out figures/] [--quick] [--only NAME,...]

Regenerates every figure of `figures/` from the configs in `analyses/figures/*.toml`. Each config names
its checkpoints, the scan settings and what to draw; the scans it needs are run by the scan library
(`landscape.probes.scanning.run`, the same as `python -m landscape.scan`; into `<out>/data/`), reusing (and resuming) any store that already holds the
same computation -- the store directory is named by checkpoint hash + scan flags. Drawing reads only the
stores. A manifest (`<out>/manifest.json` and `manifest.md`) lists each figure with its files, its config,
the scan commands and the stores (checkpoint sha256, scan key) behind it.

--quick swaps every checkpoint for a small ToyTarget-v0 agent and the scan settings for the config's
[quick] table (default: 5x5 grid, 1 episode, 3 gradient episodes), so the whole set runs in CI in well
under a minute; write it somewhere else than the committed full set (e.g. --out /tmp/figs).

Config (TOML), one file per figure:

    title = "..."                      # caption line in the manifest
    kind = "panels"                    # panels | surfaces | curves | tradeoff | stationary | toy_exact | compare | script
    metrics = ["natural", "adversarial"]
    [scan]                             # `python -m landscape.scan` flags (without --), for every panel
    resolution = 9
    [quick.scan]                       # overrides with --quick
    resolution = 5
    [[panel]]                          # one per checkpoint / row
    label = "SPO"
    ckpt = ["checkpoints/hopper_spo.pt", "runs/hopper_spo_s0.best.pt"]   # first existing wins
    scan = {to = [...]}                # per-panel flags (a checkpoint list is resolved the same way)
    points = [{id = "SPO", coords = [0]}]   # stationary points / checkpoints to mark (points.json)

A figure whose checkpoints do not exist yet is skipped and listed as such in the manifest (partial if
only some panels are missing). kind = "compare" writes the interactive page of `python -m landscape.compare`
(`ckpts = [[candidates], ...]`, `flags = {...}`) and, where Chromium is installed, `screenshots =
[{view = "spo" | "arpo", point = index}]` of it (with --quick only those of [quick] screenshots).
kind = "script" runs an analysis's own drawing script (`script = "analyses/x/y.py"`, called with --out DIR,
`files = [...]` it writes), so that its figures are listed in the manifest too.
"""

import argparse
import datetime
import hashlib
import json
import shlex
import sys
import tomllib
from pathlib import Path

import numpy as np
import torch

from . import cli_args
from .core.errors import LandscapeError, cli_main
from .io import checkpoint
from .probes import scanning
from .probes.scanning import ScanSpec
from .stationary import stationarity as st
from .viz import render
from .core.threads import single_thread

CONFIG_DIR = Path("analyses/figures")
QUICK_SCAN = {"resolution": 5, "episodes": 1, "grad_episodes": 3, "span": 0.5}
KINDS = ("panels", "surfaces", "curves", "tradeoff", "stationary", "toy_exact", "compare", "script")


class Skip(Exception):
    """A figure that cannot be drawn yet (e.g. its checkpoint is still training)."""


def parse_args(argv=None) -> argparse.Namespace:
    p = cli_args.parser("python -m landscape.figures", __doc__)
    cli_args.out(p, "figures", help="output directory (default: figures/)")
    p.add_argument("--configs", default=str(CONFIG_DIR), help="directory of figure configs (*.toml)")
    p.add_argument("--quick", action="store_true", help="tiny toy grids (CI); checkpoints replaced by toy agents")
    p.add_argument("--only", help="comma list of figure names (config file stems) to regenerate")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------- configs
def load_configs(directory: Path, only: str | None) -> list[tuple[str, dict]]:
    files = sorted(Path(directory).glob("*.toml"))
    if not files:
        raise LandscapeError(f"no figure configs (*.toml) in {directory}")
    out = []
    for f in files:
        try:
            cfg = tomllib.loads(f.read_text())
        except tomllib.TOMLDecodeError as err:
            raise LandscapeError(f"{f}: invalid TOML ({err})")
        if cfg.get("kind") not in KINDS:
            raise LandscapeError(f"{f}: kind must be one of {', '.join(KINDS)}, got {cfg.get('kind')!r}")
        cfg["_path"] = str(f)
        out.append((f.stem, cfg))
    if only:
        want = {n.strip() for n in only.split(",")}
        unknown = want - {n for n, _ in out}
        if unknown:
            raise LandscapeError(f"no figure config named {sorted(unknown)[0]!r} in {directory}")
        out = [(n, c) for n, c in out if n in want]
    return out


def toy_checkpoint(index: int, data: Path) -> Path:
    """A small ToyTarget-v0 agent (8 tanh units), distinct per index -- the stand-in checkpoint of --quick."""
    from .model.agent import Agent

    path = data / "ckpts" / f"toy{index}.pt"
    if not path.exists():
        torch.manual_seed(index)
        agent = Agent.new("ToyTarget-v0", 2, 1, hidden=(8,), algo=("spo", "arpo", "barpo")[index % 3])
        with torch.no_grad():
            agent.actor.net[-1].weight.mul_(100.0)  # out of the flat init region: a visible landscape
        agent.obs_norm.count, agent.obs_norm.frozen = 1.0, True
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.save(agent, path)
    return path


class Resolver:
    """Maps config checkpoint specs to files; with --quick, the i-th distinct spec to toy agent i."""

    def __init__(self, quick: bool, data: Path):
        self.quick, self.data, self.seen = quick, data, {}

    def __call__(self, spec) -> Path:
        cands = [spec] if isinstance(spec, str) else list(spec)
        key = json.dumps(cands)
        if self.quick:
            self.seen.setdefault(key, len(self.seen))
            return toy_checkpoint(self.seen[key], self.data)
        for c in cands:
            if Path(c).exists():
                return Path(c)
        raise Skip(f"checkpoint not found: {' or '.join(cands)}")


# ----------------------------------------------------------------------------------- scans
def resolved(settings: dict, resolve: Resolver) -> dict:
    """A config's scan settings with the checkpoint of a line direction (`to`) resolved to its file."""
    return {k: str(resolve(v)) if k == "to" else v for k, v in settings.items()}


def scan_flags(settings: dict) -> list[str]:
    """The `python -m landscape.scan` flags that say the same as resolved settings (the store's name and the
    manifest's command are made of them)."""
    argv = []
    for k, v in sorted(settings.items()):
        flag = "--" + k.replace("_", "-")
        if v is True:
            argv.append(flag)
        elif v is not False and v is not None:
            argv += [flag, str(v)]
    return argv


def scan_spec(ckpt: Path, store: Path, settings: dict) -> ScanSpec:
    """The ScanSpec of resolved config settings (keys are scan's flags without --: `1d`, `grad_episodes`, ...)."""
    fields = {"one_d" if k == "1d" else k.replace("-", "_"): v for k, v in settings.items()}
    known = set(ScanSpec.__dataclass_fields__) - {"ckpt", "out"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise LandscapeError(f"unknown scan setting {unknown[0]!r} (settings: {', '.join(sorted(known))}, 1d)")
    return ScanSpec(str(ckpt), out=str(store), **fields)


def _finished(surface: Path) -> bool:
    if not surface.exists():
        return False
    with np.load(surface) as f:
        return bool(f["done"].all())


def ensure_scan(ckpt: Path, settings: dict, data: Path, points: list | None) -> tuple[Path, str]:
    """Run (or resume, or reuse) the scan of `ckpt` with resolved `settings`; returns (store, command)."""
    flags = scan_flags(settings)
    ident = hashlib.sha256(json.dumps([checkpoint.file_hash(ckpt), flags]).encode()).hexdigest()[:10]
    store = data / f"{ckpt.stem}-{ident}"
    cmd = "python -m landscape.scan " + shlex.join(["--ckpt", str(ckpt), "--out", str(store), "--no-render", *flags])
    if not _finished(store / "surface.npz"):
        print(f"  scan: {cmd}", flush=True)
        scanning.run(scan_spec(ckpt, store, settings))
    if points:
        (store / "points.json").write_text(json.dumps({"points": points}, indent=1))
    return store, cmd


def panel_scans(cfg: dict, quick: bool, resolve: Resolver, data: Path) -> tuple[list, list, list, list]:
    """(scans, panel titles, manifest sources, missing panels) of a figure's [[panel]] list."""
    settings = {**cfg.get("scan", {}), **(QUICK_SCAN | cfg.get("quick", {}).get("scan", {}) if quick else {})}
    scans, titles, sources, missing = [], [], [], []
    for panel in cfg.get("panel", []):
        try:
            ckpt = resolve(panel["ckpt"])
        except Skip as why:  # draw the panels that exist; the manifest lists the missing ones
            missing.append(f"{panel.get('label', '?')} ({why})")
            continue
        store, cmd = ensure_scan(
            ckpt, resolved({**settings, **panel.get("scan", {})}, resolve), data, panel.get("points")
        )
        scans.append(render.load_scan(store))
        titles.append(panel.get("label", ckpt.stem))
        sources.append(
            {
                "store": str(store),
                "ckpt": str(ckpt),
                "ckpt_sha256": scans[-1].meta["ckpt_sha256"],
                "key": scans[-1].meta["key"],
                "command": cmd,
            }
        )
    if not cfg.get("panel"):
        raise LandscapeError(f"{cfg['_path']}: a {cfg['kind']} figure needs at least one [[panel]]")
    if not scans:
        raise Skip("; ".join(missing))
    return scans, titles, sources, missing


# ----------------------------------------------------------------------------------- figure kinds
def fig_tradeoff(scans, titles, cfg):
    """Natural vs adversarial return of every grid point, one colour per checkpoint, with the centre
    (the checkpoint itself) drawn large: where each training method sits on the tradeoff."""
    fig, ax = render.plt.subplots(figsize=(render.SINGLE_COL, 2.8), constrained_layout=True)
    for i, (s, t) in enumerate(zip(scans, titles)):
        c = render.OKABE_ITO[i % 8]
        x, y = s.values("natural").ravel(), s.values("adversarial").ravel()
        ax.scatter(x, y, s=6, color=c, alpha=0.45, linewidths=0, label=t)
        centre = tuple(int(np.argmin(np.abs(cc))) for cc in s.coords)
        ax.errorbar(
            s.values("natural")[centre],
            s.values("adversarial")[centre],
            xerr=s.se("natural")[centre],
            yerr=s.se("adversarial")[centre],
            fmt="D",
            color=c,
            mec="k",
            mew=0.5,
            ms=5,
        )
    lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
    hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.6, ls=":")  # no attack effect on the diagonal
    ax.set_xlabel("natural return")
    ax.set_ylabel(f"adversarial return ({scans[0].meta['attack']['name']})")
    ax.legend(frameon=False, markerscale=2)
    return fig


def fig_stationary(scans, titles, cfg):
    """Per scan and objective (SPO: natural return, ARPO: adversarial return) the shares of computed grid
    points that are stationary (solid), unresolved (light) and not stationary (hatched) by the one grid rule
    (render.grid_verdicts), the stationary share with its binomial standard error; and the natural return at
    the stationary points: where the adversary creates stationary points."""
    fig, (a1, a2) = render.plt.subplots(1, 2, figsize=(render.DOUBLE_COL * 0.75, 2.4), constrained_layout=True)
    width = 0.38
    for j, (grad, name) in enumerate((("grad_natural", "SPO objective"), ("grad_adversarial", "ARPO objective"))):
        x = np.arange(len(scans)) + (j - 0.5) * width
        color = render.OKABE_ITO[j]
        shares = np.array([_verdict_shares(render.grid_verdicts(s, grad)) for s in scans])  # [scans, 3, 2]
        bottom = np.zeros(len(scans))
        for i, verdict in enumerate(SHARE_ORDER):
            share = shares[:, i, 0]
            a1.bar(x, share, width, bottom=bottom, lw=0.5, **_bar_style(verdict, color))
            bottom += share
        a1.errorbar(x, shares[:, 0, 0], yerr=shares[:, 0, 1], fmt="none", ecolor="k", capsize=2, lw=0.6)
        for xi, s in zip(x, scans):
            r = s.values("natural")[render.stationary_mask(s, grad)]
            if r.size:
                a2.scatter(np.full(r.size, xi), r, s=8, color=color, alpha=0.7, linewidths=0)
    for ax in (a1, a2):
        ax.set_xticks(np.arange(len(scans)), titles)
    from matplotlib.patches import Patch

    handles = [Patch(color=render.OKABE_ITO[j], label=n) for j, n in enumerate(("SPO objective", "ARPO objective"))]
    handles += [Patch(label=v, **_bar_style(v, "0.4")) for v in SHARE_ORDER]
    a1.set_ylabel("share of grid points")
    a1.set_ylim(0, 1)
    a1.legend(handles=handles, frameon=False, fontsize=5)
    a2.set_ylabel("natural return at stationary points")
    return fig


SHARE_ORDER = (st.STATIONARY, st.UNRESOLVED, st.NOT_STATIONARY)  # bottom to top of a bar


def _bar_style(verdict: str, color) -> dict:
    """Solid = stationary, light = unresolved, hatched = not stationary, on the objective's colour."""
    if verdict == st.STATIONARY:
        return dict(facecolor=color, edgecolor=color)
    if verdict == st.UNRESOLVED:
        return dict(facecolor=render.matplotlib.colors.to_rgba(color, 0.3), edgecolor=color)
    return dict(facecolor="none", edgecolor=color, hatch="xxx")


def _verdict_shares(v: np.ndarray) -> list[tuple[float, float]]:
    """(share, binomial SE) per SHARE_ORDER verdict among the computed cells ("" = not computed)."""
    n = max(int((v != "").sum()), 1)
    out = []
    for verdict in SHARE_ORDER:
        p = float((v == verdict).sum()) / n
        out.append((p, np.sqrt(p * (1 - p) / n)))
    return out


def target_exact(resolution: int = 101, span: float = 2.5, eps: float = 0.1) -> dict:
    """ToyTarget-v0 with a linear policy mu(z) = w.z + b, in the (w1, w2) plane at the best b = 0 slice.

    Natural return (closed form, landscape.sim.toys.target.exact_return) and the exact worst case over an
    l_inf observation budget eps: the observation only enters through the action, so the strongest
    adversary shifts every action by eps*||w||_1 away from its target, J_adv = -sum_t (|mu_t - Y_t| +
    eps*||w||_1)^2. Stationary points: the natural optimum (least squares) and the worst-case optimum
    (found on the grid), which the l1 term pulls towards w = 0.
    """
    from .sim.toys.target import NORM, X, Y, exact_return

    w1, w2 = np.meshgrid(np.linspace(-span, span, resolution), np.linspace(-span, span, resolution), indexing="ij")
    w = np.stack([w1, w2], -1)
    nat = exact_return(w, np.zeros(w1.shape))
    mu = w @ (X / NORM).T
    adv = -((np.abs(mu - Y) + eps * np.abs(w).sum(-1, keepdims=True)) ** 2).sum(-1)
    w_nat = np.linalg.lstsq(X / NORM, Y, rcond=None)[0]
    i_adv = np.unravel_index(np.argmax(adv), adv.shape)
    return {
        "x": w1[:, 0],
        "y": w2[0],
        "axis_names": ["$w_1$", "$w_2$"],
        "surfaces": {"natural": nat, "adversarial": adv},
        "points": [
            {"id": "natural opt.", "coords": [float(w_nat[0]), float(w_nat[1])]},
            {"id": "worst-case opt.", "coords": [float(w1[i_adv]), float(w2[i_adv])]},
        ],
    }


def fig_toy_exact(cfg: dict, quick: bool):
    """Exact surfaces of an analytic toy: `source = "module:function"` returning x, y, surfaces, points."""
    import importlib

    mod, _, fn = cfg.get("source", "landscape.figures:target_exact").partition(":")
    try:
        func = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as err:
        raise Skip(f"toy source {cfg['source']} not available ({err})")
    res = func(**({**cfg.get("args", {}), **(cfg.get("quick", {}).get("args", {"resolution": 31}) if quick else {})}))
    names = list(res["surfaces"])
    vals = np.concatenate([res["surfaces"][n].ravel() for n in names])
    lo, hi = float(np.nanmin(vals)), float(np.nanmax(vals))
    lo = max(lo, float(np.nanpercentile(vals, cfg.get("floor_percentile", 0))))
    fig, axes = render.plt.subplots(
        1, len(names), figsize=(render.DOUBLE_COL * 0.8, 2.7), squeeze=False, constrained_layout=True, sharey=True
    )
    X, Y = np.meshgrid(res["x"], res["y"], indexing="ij")
    for ax, n in zip(axes[0], names):
        z = np.clip(res["surfaces"][n], lo, hi)
        cs = ax.contourf(X, Y, z, levels=np.linspace(lo, hi, 16), cmap="viridis")
        ax.contour(X, Y, z, levels=np.linspace(lo, hi, 16), colors="k", linewidths=0.25, alpha=0.6)
        for k, p in enumerate(res.get("points", [])):
            ax.plot(*p["coords"], marker="X", color="#E69F00", mec="k", mew=0.5, ms=6, ls="none")
            ax.annotate(
                p["id"],
                p["coords"],
                xytext=(4, 4) if k % 2 == 0 else (4, -10),
                textcoords="offset points",
                fontsize=6,
                color="white",
                path_effects=render._outline(),
            )
        colors = {"spo": render.OKABE_ITO[0], "arpo": render.OKABE_ITO[1], "barpo": render.OKABE_ITO[3]}
        for path in res.get("paths", []):
            if path.get("on") in (None, n):
                xy = np.asarray(path["xy"])
                c = colors.get(path.get("algo"), "w")
                ax.plot(xy[:, 0], xy[:, 1], color=c, lw=1.0, label=path.get("label"))
                ax.plot(*xy[0], marker="o", color=c, ms=3, mec="k", mew=0.3)
        if any(p.get("label") and p.get("on") in (None, n) for p in res.get("paths", [])):
            ax.legend(loc="lower right", frameon=True, framealpha=0.8)
        ax.set_title(cfg.get("labels", {}).get(n, render.LABELS.get(n, n)))
        ax.set_xlabel(res["axis_names"][0])
    axes[0][0].set_ylabel(res["axis_names"][1])
    fig.colorbar(cs, ax=axes[0].tolist(), shrink=0.9)
    return fig


def compare_page(name: str, cfg: dict, quick: bool, resolve: Resolver, out: Path) -> dict:
    """The interactive compare page of the config's checkpoints, plus browser screenshots of it."""
    from . import compare

    ckpts, missing = [], []
    for spec in cfg.get("ckpts", []):
        try:
            ckpts.append(resolve(spec))
        except Skip as why:
            missing.append(str(why))
    if not ckpts:
        raise Skip("; ".join(missing) or "no checkpoints")
    flags = scan_flags(
        resolved(
            {
                **cfg.get("flags", {}),
                **(
                    cfg.get("quick", {}).get("flags", {"resolution": 5, "episodes": 1, "grad_episodes": 3})
                    if quick
                    else {}
                ),
            },
            resolve,
        )
    )
    ident = hashlib.sha256(json.dumps([[checkpoint.file_hash(c) for c in ckpts], flags]).encode()).hexdigest()[:10]
    page, store = out / f"{name}.html", out / "data" / f"{name}-{ident}"
    argv = [*map(str, ckpts), "--out", str(page), "--scans", str(store), *flags]
    compare.main(argv)
    files = [str(page)]
    for shot in cfg.get("quick", {}).get("screenshots", []) if quick else cfg.get("screenshots", []):
        png = out / f"{name}_{shot.get('view', 'spo')}.png"
        try:
            files.append(str(compare.screenshot(page, png, shot.get("point", 0), shot.get("view", "spo"))))
        except Exception as err:  # noqa: BLE001  (a browser problem costs the screenshot, not the figure set)
            missing.append(f"screenshot {png.name} ({str(err).splitlines()[0] if str(err) else type(err).__name__})")
    meta = json.loads((store / "scan.json").read_text())
    return {
        "files": files,
        "missing": missing,
        "sources": [
            {
                "store": str(store),
                "ckpt": " ".join(map(str, ckpts)),
                "ckpt_sha256": meta["ckpt_sha256"],
                "key": meta["key"],
                "command": "python -m landscape.compare " + shlex.join(argv),
            }
        ],
    }


def run_script(name: str, cfg: dict, out: Path) -> dict:
    """A figure drawn by an analysis script of its own (`script`, called with --out DIR; `files` it writes)."""
    import subprocess

    cmd = [sys.executable, cfg["script"], "--out", str(out), *map(str, cfg.get("args", []))]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise LandscapeError(f"{cfg['script']} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    files = [out / f for f in cfg.get("files", [])]
    absent = [str(f) for f in files if not f.exists()]
    if absent:
        raise LandscapeError(f"{cfg['script']} did not write {', '.join(absent)}")
    return {
        "files": [str(f) for f in files],
        "missing": [],
        "sources": [
            {"store": "", "ckpt": "", "ckpt_sha256": "", "key": "", "command": shlex.join(["python", *cmd[1:]])}
        ],
    }


def draw(name: str, cfg: dict, quick: bool, resolve: Resolver, out: Path) -> dict:
    kind, sources, missing = cfg["kind"], [], []
    if kind == "script":
        return run_script(name, cfg, out)
    if kind == "compare":
        return compare_page(name, cfg, quick, resolve, out)
    if kind == "toy_exact":
        fig = fig_toy_exact(cfg, quick)
    else:
        scans, titles, sources, missing = panel_scans(cfg, quick, resolve, out / "data")
        metrics = cfg.get("metrics", ["natural", "adversarial"])
        if kind == "panels":
            fig = render.figure_panels(scans, metrics, titles, cfg.get("stationary"))
        elif kind == "surfaces":
            fig = render.figure_surfaces(scans, metrics, titles)
        elif kind == "curves":
            fig = render.figure_1d(scans, metrics, titles)
        elif kind == "tradeoff":
            fig = fig_tradeoff(scans, titles, cfg)
        else:
            fig = fig_stationary(scans, titles, cfg)
    files = render.save(fig, out / name)
    return {"files": [str(f) for f in files], "sources": sources, "missing": missing}


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    single_thread()
    render.use_agg()
    out = Path(args.out)
    configs = load_configs(Path(args.configs), args.only)
    resolve = Resolver(args.quick, out / "data")
    manifest_path = out / "manifest.json"
    old = json.loads(manifest_path.read_text()).get("figures", {}) if manifest_path.exists() and args.only else {}
    figures = {k: v for k, v in old.items() if (Path(args.configs) / f"{k}.toml").exists()}  # drop removed configs
    for name, cfg in configs:
        print(f"figure {name}: {cfg.get('title', '')}", flush=True)
        entry = {
            "title": cfg.get("title", name),
            "kind": cfg["kind"],
            "config": cfg["_path"],
            "command": shlex.join(
                ["python", "-m", "landscape.figures", "--out", str(out), "--only", name]
                + (["--quick"] if args.quick else [])
            ),
        }
        try:
            with render.style():
                entry |= draw(name, cfg, args.quick, resolve, out)
            entry["status"] = "ok" if not entry["missing"] else "partial: missing " + "; ".join(entry["missing"])
        except Skip as why:
            entry["status"] = f"skipped: {why}"
            print(f"  skipped: {why}")
        figures[name] = entry
    manifest = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "command": shlex.join(["python", "-m", "landscape.figures", *sys.argv[1:]])
        if argv is None
        else shlex.join(["python", "-m", "landscape.figures", *argv]),
        "figures": figures,
    }
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=2))
    (out / "manifest.md").write_text(manifest_markdown(manifest))
    used = {Path(src["store"]).name for e in figures.values() for src in e.get("sources", [])}
    unused = sorted(p for p in (out / "data").glob("*") if p.is_dir() and p.name != "ckpts" and p.name not in used)
    if unused and not args.only:  # e.g. scans of an older version of a checkpoint; never deleted automatically
        print(f"stores no figure uses (safe to delete): {' '.join(str(p) for p in unused)}")
    ok = sum(not e["status"].startswith("skipped") for e in figures.values())
    print(f"{ok}/{len(figures)} figures in {out} (manifest: {manifest_path})")


def manifest_markdown(manifest: dict) -> str:
    lines = [
        "# Figures",
        "",
        f"Generated {manifest['generated']} by `{manifest['command']}`"
        + (" (quick: toy stand-ins, not for the paper)" if manifest["quick"] else "")
        + ".",
        "",
        "| figure | what | status | regenerate | data |",
        "|---|---|---|---|---|",
    ]
    for name, e in manifest["figures"].items():
        files = " ".join(f"[{Path(f).suffix[1:]}]({Path(f).name})" for f in e.get("files", []))
        data = "<br>".join(
            f"`{Path(s['store']).name}` ({Path(s['ckpt']).name}, key {s['key']})" if s["store"] else f"`{s['command']}`"
            for s in e.get("sources", [])
        )
        lines.append(f"| {name} {files} | {e['title']} | {e['status']} | `{e['command']}` | {data or e['config']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
