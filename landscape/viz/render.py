"""Drawing scan stores for print (matplotlib). Reads only the results store; never recomputes.

Building blocks (used by `scan --from-store`, `landscape.figures` and `landscape.compare`):

    scan = load_scan(root)                       # meta + assembled surface + marked points of a store
    lo, hi = shared_limits([s1, s2], ["natural", "adversarial"])   # one colour scale across panels
    draw_contour(ax, scan, "natural", lo, hi)    # 2D filled contours, not-computed cells left blank
    draw_surface(ax3d, scan, "natural", lo, hi)  # 3D surface on the same scale
    draw_curves(ax, scan, ["natural", "adversarial"])   # 1D curves with +-1 standard-error bands
    mark_points(ax, scan)                        # stationary points (points.json) and the centre
    save(fig, out / "name")                      # -> [name.pdf (vector), name.png (300 dpi)]
    with style(): fig = figure_1d(...)           # draw in the print style; rcParams untouched outside

Conventions: single-column width 3.4 in, double-column 7.0 in, 7-8 pt text; colour-blind-safe maps
(viridis for returns, cividis for gradient norms and gaps) and Okabe-Ito line colours.

Stationary points. A store may hold `points.json` (written by `landscape.compare`, or by hand):
{"points": [{"id": "A", "label": "...", "coords": [a, b] or [a], "kind": "checkpoint" | "fosp"}, ...]}
Each is drawn as a labelled marker. Independently of it, each grid cell gets a three-way stationarity
verdict (`grid_verdicts`, stationarity.py): filled dot = stationary (upper bound of the gradient norm below
the threshold), x = not stationary (lower bound above it), hollow circle = unresolved (neither: the sample
cannot tell), nothing = not computed; `verdict_marker` is the one marker convention for every figure and
`verdict_handles` its legend (figures with marks carry it).
"""

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from ..probes.store import Surface, open_surface
from ..stationary import stationarity as st

LABELS = {
    "natural": "natural return",
    "adversarial": "adversarial return",
    "gap": "natural - adversarial",
    "grad_natural": r"$\|\nabla J\|$ natural",
    "grad_adversarial": r"$\|\nabla J\|$ adversarial",
    "surrogate": "PPO surrogate",
}
# what a colour bar or a z axis of each metric measures (metrics of one group share it)
QUANTITY = {
    "natural": "return",
    "adversarial": "return",
    "gap": "return gap",
    "surrogate": "PPO surrogate",
    "grad_natural": r"policy-gradient norm $\|\nabla J\|$",
    "grad_adversarial": r"policy-gradient norm $\|\nabla J\|$",
}
ZLABEL = {
    **QUANTITY,
    "grad_natural": r"$\|\nabla J\|$",
    "grad_adversarial": r"$\|\nabla J\|$",
}  # short: 3D cells are small
# metrics drawn together on one colour scale
GROUPS = [("natural", "adversarial"), ("grad_natural", "grad_adversarial"), ("gap",), ("surrogate",)]
CAP = {"grad_natural": 95, "grad_adversarial": 95}  # colour scales of gradient norms end at the 95th percentile
CMAPS = {
    "natural": "viridis",
    "adversarial": "viridis",
    "surrogate": "viridis",
    "grad_natural": "cividis",
    "grad_adversarial": "cividis",
    "gap": "cividis",
}
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
SINGLE_COL, DOUBLE_COL = 3.4, 7.0
STYLE = {
    "font.size": 7,
    "axes.titlesize": 7.5,
    "axes.labelsize": 7,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "legend.fontsize": 6,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.dpi": 300,
}
DPI = 300  # every PNG, whatever the caller's rcParams


def use_agg() -> None:
    """Draw off-screen. The CLIs call this; importing the module leaves a notebook's backend alone."""
    matplotlib.use("Agg")


def style():
    """Context manager: STYLE for what is drawn and saved inside it only (`with render.style(): ...`)."""
    return plt.rc_context(STYLE)


Scan = Surface  # a store's meta, assembled grids and marked points (store.py)
load_scan = open_surface


# ----------------------------------------------------------------------------------- helpers
def groups(metrics: list[str]) -> list[tuple[str, ...]]:
    out = []
    for g in GROUPS:
        present = tuple(m for m in g if m in metrics)
        if present:
            out.append(present)
    return out


def shared_limits(scans: list[Scan], metrics: list[str], upper_percentile: float | None = None) -> tuple[float, float]:
    """One (vmin, vmax) over every finite value of `metrics` in `scans` -- a shared colour scale. With
    `upper_percentile`, vmax is that percentile (gradient norms: one noisy hot spot must not wash out the map;
    values above are drawn in the top colour)."""
    vals = [s.values(m)[np.isfinite(s.values(m))] for s in scans for m in metrics if s.has(m)]
    vals = np.concatenate(vals) if vals else np.zeros(0)
    if vals.size == 0:
        return 0.0, 1.0
    lo = float(vals.min())
    hi = float(np.percentile(vals, upper_percentile) if upper_percentile else vals.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def grid_verdicts(scan: Scan, grad_metric: str, **kw) -> np.ndarray:
    """Per grid cell "stationary" / "not stationary" / "unresolved" ("" where not computed): the one
    stationarity rule, stationarity.grid_verdicts, on the stored norms and SEs."""
    return st.grid_verdicts(scan.values(grad_metric), scan.se(grad_metric), **kw)


def stationary_mask(scan: Scan, grad_metric: str, **kw) -> np.ndarray:
    """Grid cells with the verdict "stationary" (grid_verdicts)."""
    return grid_verdicts(scan, grad_metric, **kw) == "stationary"


def verdict_marker(verdict: str, color: str = "white", size: float = 3.0) -> dict | None:
    """Marker style of a verdict: filled dot = stationary, x = not stationary, hollow circle = unresolved;
    None (draw nothing) for anything else, e.g. "" for a cell not computed."""
    if verdict == st.STATIONARY:
        return dict(marker="o", mfc=color, mec="k", mew=0.4, ms=size)
    if verdict == st.NOT_STATIONARY:
        return dict(marker="x", color=color, mew=0.6, ms=size)
    if verdict == st.UNRESOLVED:  # hollow and a little smaller: "no evidence", not a point of its own
        return dict(marker="o", mfc="none", mec=color, mew=0.5, ms=0.8 * size)
    return None


def verdict_handles(color: str = "k", size: float = 4.0) -> list:
    """Legend entries of the three verdicts (verdict_marker); color: the marks' colour, dark on a light
    legend (white marks on a map are drawn dark here so the legend stays readable)."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], ls="none", label=v, **verdict_marker(v, color, size)) for v in st.VERDICTS]


def mark_stationarity(ax, X: np.ndarray, Y: np.ndarray, scan: Scan, grad_metric: str) -> np.ndarray:
    """Draw every computed cell's verdict with verdict_marker; returns the verdicts. Each verdict's marks
    are one artist labelled with the verdict (gid "verdict:<name>")."""
    v = grid_verdicts(scan, grad_metric)
    for name in st.VERDICTS:
        m = v == name
        if m.any():
            ax.plot(X[m], Y[m], ls="none", label=name, gid=f"verdict:{name}", **verdict_marker(name))
    return v


def verdict_legend(fig) -> None:
    """The verdict legend once per figure, above the panels."""
    fig.legend(handles=verdict_handles(), loc="outside upper center", ncols=3, frameon=False, title="stationarity")


def save(fig, stem: str | Path, formats=("pdf", "png")) -> list[Path]:
    """Write the figure as vector PDF and 300-dpi PNG; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(
            path, dpi=DPI, bbox_inches="tight", pad_inches=0.02, metadata={"CreationDate": None} if fmt == "pdf" else {}
        )
        paths.append(path)
    plt.close(fig)
    return paths


# ----------------------------------------------------------------------------------- panels
def draw_contour(
    ax,
    scan: Scan,
    metric: str,
    vmin: float,
    vmax: float,
    cmap: str | None = None,
    n_levels: int = 14,
    stationary: str | None = None,
):
    """Filled contours of a 2D scan on a fixed colour scale; returns the mappable for a colour bar."""
    x, y = scan.coords
    X, Y = np.meshgrid(x, y, indexing="ij")
    z = scan.values(metric)
    levels = np.linspace(vmin, vmax, n_levels + 1)
    cmap = cmap or CMAPS.get(metric, "viridis")
    if len(x) < 2 or len(y) < 2 or np.isfinite(z).sum() < 4:  # too few points to contour: show cells
        cs = ax.pcolormesh(X, Y, z, cmap=cmap, vmin=vmin, vmax=vmax, shading="nearest")
    else:
        cs = ax.contourf(X, Y, np.clip(z, vmin, vmax), levels=levels, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.contour(X, Y, z, levels=levels, colors="k", linewidths=0.25, alpha=0.6)
    if stationary and scan.has(stationary):
        mark_stationarity(ax, X, Y, scan, stationary)
    ax.set_xlabel(scan.axis_names[0])
    ax.set_ylabel(scan.axis_names[1])
    ax.set_title(LABELS.get(metric, metric))
    mark_points(ax, scan)
    return cs


def draw_surface(ax, scan: Scan, metric: str, vmin: float, vmax: float, cmap: str | None = None) -> None:
    x, y = scan.coords
    X, Y = np.meshgrid(x, y, indexing="ij")
    ax.plot_surface(
        X,
        Y,
        scan.values(metric),
        cmap=cmap or CMAPS.get(metric, "viridis"),
        vmin=vmin,
        vmax=vmax,
        linewidth=0,
        antialiased=True,
    )
    ax.set_zlim(vmin, vmax)
    ax.set_title(LABELS.get(metric, metric))
    ax.set_xlabel(scan.axis_names[0], labelpad=-8)
    ax.set_ylabel(scan.axis_names[1], labelpad=-8)
    ax.set_zlabel(ZLABEL.get(metric, metric), labelpad=-2)
    ax.tick_params(pad=-3)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):  # few ticks: a 3D panel is small
        axis.set_major_locator(matplotlib.ticker.MaxNLocator(4))


def draw_curves(ax, scan: Scan, metrics: list[str], colors=None, labels=None) -> None:
    """1D curves with +-1 standard-error bands (bands vanish where the se is 0 or unknown)."""
    x = scan.coords[0]
    for i, m in enumerate(metrics):
        c = (colors or OKABE_ITO)[i % len(colors or OKABE_ITO)]
        y, se = scan.values(m), np.nan_to_num(scan.se(m))
        ax.plot(x, y, color=c, lw=1.2, label=(labels or {}).get(m, LABELS.get(m, m)))
        ax.fill_between(x, y - se, y + se, color=c, alpha=0.25, linewidth=0)
    ax.set_xlabel(f"step along {scan.axis_names[0]}")
    mark_points(ax, scan)


def mark_points(ax, scan: Scan) -> None:
    """The scan centre (star at 0) and every point of points.json inside the plotted range."""
    if scan.ndim == 2:
        ax.plot(0, 0, marker="*", color="white", mec="k", mew=0.5, ms=7, zorder=5)
    else:
        ax.axvline(0, color="grey", lw=0.6, ls=":")
    for p in scan.points:
        c = p.get("coords")
        if c is None or len(c) != scan.ndim:
            continue
        style = dict(
            marker="D" if p.get("kind") == "checkpoint" else "X",
            color="#E69F00",
            mec="k",
            mew=0.5,
            ms=5,
            zorder=6,
            ls="none",
        )
        if scan.ndim == 2:
            ax.plot(c[0], c[1], **style)
            ax.annotate(
                p.get("id", ""),
                (c[0], c[1]),
                textcoords="offset points",
                xytext=(3, 3),
                fontsize=6,
                color="white",
                path_effects=_outline(),
            )
        else:
            ax.axvline(c[0], color="#E69F00", lw=0.8, ls="--")
            ax.annotate(
                p.get("id", ""),
                (c[0], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -8),
                textcoords="offset points",
                fontsize=6,
            )


def _nice_ticks(lo: float, hi: float, n: int = 6) -> np.ndarray:
    """Round colour-bar ticks inside [lo, hi] (the contour levels themselves are not round numbers)."""
    ticks = matplotlib.ticker.MaxNLocator(n).tick_values(lo, hi)
    return ticks[(ticks >= lo - 1e-9 * abs(hi - lo)) & (ticks <= hi + 1e-9 * abs(hi - lo))]


def _outline():
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=1.2, foreground="k")]


# ----------------------------------------------------------------------------------- figures
def figure_1d(scans: list[Scan], metrics: list[str], titles: list[str] | None = None):
    """One panel per scan, curves of `metrics` with se bands, shared y axis."""
    fig, axes = plt.subplots(
        1,
        len(scans),
        figsize=(min(DOUBLE_COL, SINGLE_COL * len(scans) * 0.75 + 0.8), 2.3),
        sharey=True,
        squeeze=False,
        constrained_layout=True,
    )
    for ax, s, t in zip(axes[0], scans, titles or [s.title for s in scans]):
        draw_curves(ax, s, [m for m in metrics if s.has(m)])
        ax.set_title(t)
    axes[0][0].legend(loc="best", frameon=False)
    return fig


def figure_panels(
    scans: list[Scan], metrics: list[str], titles: list[str] | None = None, stationary: dict | None = None
):
    """Rows = scans (e.g. SPO / ARPO / BARPO), columns = metrics; metrics of one group share a colour scale
    across all rows and columns, with one colour bar per group. `stationary` maps a return metric to the
    gradient metric whose cells get the three-way verdict marks (mark_stationarity; legend above)."""
    metrics = [m for m in metrics if any(s.has(m) for s in scans)]
    fig, axes = plt.subplots(
        len(scans),
        len(metrics),
        figsize=(DOUBLE_COL, 1.75 * len(scans) + 0.7),
        squeeze=False,
        sharex="row",
        sharey="row",
        layout="constrained",
    )
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.02, hspace=0.02)
    for group in groups(metrics):
        lo, hi = shared_limits(scans, list(group), CAP.get(group[0]))
        cols = [metrics.index(m) for m in group]
        cs = None
        for r, s in enumerate(scans):
            for c in cols:
                if s.has(metrics[c]):
                    cs = draw_contour(axes[r][c], s, metrics[c], lo, hi, stationary=(stationary or {}).get(metrics[c]))
        if cs is not None:  # under its own columns: no colour bar (and its tick labels) between panels
            bar = fig.colorbar(
                cs,
                ax=axes[:, cols].ravel().tolist(),
                location="bottom",
                shrink=0.9,
                aspect=35,
                pad=0.01,
                label=QUANTITY.get(group[0], group[0]),
            )
            bar.set_ticks(_nice_ticks(lo, hi))
    if any(s.has(g) for s in scans for m, g in (stationary or {}).items() if m in metrics):
        verdict_legend(fig)
    for r, (s, t) in enumerate(zip(scans, titles or [s.title for s in scans])):
        axes[r][0].set_ylabel(f"{t}\n{s.axis_names[1]}")
        for c in range(len(metrics)):
            if r > 0:  # the metric names head the columns once
                axes[r][c].set_title("")
            if r < len(scans) - 1:
                axes[r][c].set_xlabel("")
                axes[r][c].tick_params(labelbottom=False)
            if c > 0:
                axes[r][c].set_ylabel("")
    return fig


def figure_surfaces(scans: list[Scan], metrics: list[str], titles: list[str] | None = None):
    """3D surfaces, rows = scans, columns = metrics, each group on one z and colour scale (z axes labelled).

    3D axes fill a square cell, so the figure is sized to columns of about 2.4 in (not stretched to the page
    width, which only adds white space between the panels) and laid out by hand (constrained layout pads
    3D axes generously)."""
    n_rows, n_cols = len(scans), len(metrics)
    fig = plt.figure(figsize=(min(DOUBLE_COL, 2.4 * n_cols + 0.2), 2.1 * n_rows))
    fig.subplots_adjust(left=0.0, right=0.95, bottom=0.02, top=0.96, wspace=0.05, hspace=0.04)
    limits = {m: shared_limits(scans, list(g)) for g in groups(metrics) for m in g}
    for r, (s, t) in enumerate(zip(scans, titles or [s.title for s in scans])):
        for c, m in enumerate(metrics):
            ax = fig.add_subplot(n_rows, n_cols, r * n_cols + c + 1, projection="3d")
            if s.has(m):
                draw_surface(ax, s, m, *limits[m])
            ax.set_box_aspect(None, zoom=0.88)  # room for the z label inside the cell
            ax.set_title(f"{t}: {LABELS.get(m, m)}" if t else LABELS.get(m, m), pad=0)
    return fig


def render_scan(root: str | Path) -> list[Path]:
    """Images of one store, written into it: per metric group a contour map and a 3D surface (2D scans)
    or a curve plot (1D), each as PDF and PNG. Returns the written paths."""
    with style():
        return _render_scan(root)


def _render_scan(root: str | Path) -> list[Path]:
    scan = load_scan(root)
    out, paths = Path(root), []
    for group in groups(scan.meta["metrics"]):
        name = "_".join(group)
        if scan.ndim == 1:
            fig, ax = plt.subplots(figsize=(SINGLE_COL, 2.4), constrained_layout=True)
            draw_curves(ax, scan, list(group))
            ax.legend(frameon=False)
            paths += save(fig, out / f"{name}_1d")
            continue
        stationary = {"natural": "grad_natural", "adversarial": "grad_adversarial"}
        lo, hi = shared_limits([scan], list(group), CAP.get(group[0]))
        fig, axes = plt.subplots(
            1, len(group), figsize=(SINGLE_COL * len(group) * 0.9 + 0.5, 2.8), constrained_layout=True, squeeze=False
        )
        for ax, m in zip(axes[0], group):
            cs = draw_contour(ax, scan, m, lo, hi, stationary=stationary.get(m))
        if any(m in stationary and scan.has(stationary[m]) for m in group):
            verdict_legend(fig)
        fig.colorbar(
            cs,
            ax=axes[0].tolist(),
            shrink=0.9,
            pad=0.02,
            label=QUANTITY.get(group[0], group[0]),
            ticks=_nice_ticks(lo, hi),
        )
        paths += save(fig, out / f"{name}_contour")
        fig = figure_surfaces([scan], list(group), titles=[""])
        paths += save(fig, out / f"{name}_surface")
    return paths
