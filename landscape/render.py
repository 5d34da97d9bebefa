"""Drawing scan stores (matplotlib). Reads only the store; never recomputes.

2D: contour maps and 3D surfaces, natural and adversarial return side by side on one colour scale;
1D: curves with standard-error bands. Colour-blind-safe maps (viridis / cividis).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .store import load_surface  # noqa: E402

LABELS = {"natural": "natural return", "adversarial": "adversarial return", "gap": "natural - adversarial",
          "grad_natural": "||grad J|| natural", "grad_adversarial": "||grad J|| adversarial",
          "surrogate": "PPO surrogate"}
# metrics drawn together on one colour scale
GROUPS = [("natural", "adversarial"), ("grad_natural", "grad_adversarial"), ("gap",), ("surrogate",)]


def _groups(metrics: list[str]) -> list[tuple[str, ...]]:
    out = []
    for g in GROUPS:
        present = tuple(m for m in g if m in metrics)
        if present:
            out.append(present)
    return out


def _axis_names(meta: dict) -> list[str]:
    return [d["kind"] for d in meta["directions"]]


def _masked(surface: dict, m: str) -> np.ndarray:
    return np.where(surface["done"], surface[m], np.nan)


def render_1d(meta: dict, surface: dict, out: Path) -> list[Path]:
    x = surface["coords_0"]
    paths = []
    for group in _groups(meta["metrics"]):
        fig, ax = plt.subplots(figsize=(3.4, 2.6), constrained_layout=True)
        for m, color in zip(group, ("#0072B2", "#D55E00")):
            y, se = _masked(surface, m), np.where(surface["done"], surface[f"{m}_se"], np.nan)
            ax.plot(x, y, color=color, label=LABELS[m])
            ax.fill_between(x, y - se, y + se, color=color, alpha=0.25, linewidth=0)
        ax.axvline(0, color="grey", lw=0.6, ls=":")
        ax.set_xlabel(f"step along {_axis_names(meta)[0]} direction")
        ax.legend(fontsize=7)
        path = out / f"{'_'.join(group)}_1d.png"
        fig.savefig(path, dpi=200)
        plt.close(fig)
        paths.append(path)
    return paths


def render_2d(meta: dict, surface: dict, out: Path) -> list[Path]:
    x, y = surface["coords_0"], surface["coords_1"]
    X, Y = np.meshgrid(x, y, indexing="ij")
    names = _axis_names(meta)
    paths = []
    for group in _groups(meta["metrics"]):
        Z = [_masked(surface, m) for m in group]
        finite = np.concatenate([z[np.isfinite(z)] for z in Z]) if any(np.isfinite(z).any() for z in Z) else np.zeros(1)
        vmin, vmax = float(finite.min()), float(finite.max())
        levels = np.linspace(vmin, vmax if vmax > vmin else vmin + 1, 15)
        fig, axes = plt.subplots(1, len(group), figsize=(3.4 * len(group), 3.0), constrained_layout=True, squeeze=False)
        for ax, m, z in zip(axes[0], group, Z):
            cs = ax.contourf(X, Y, z, levels=levels, cmap="viridis")
            ax.contour(X, Y, z, levels=levels, colors="k", linewidths=0.3)
            ax.plot(0, 0, marker="*", color="white", markeredgecolor="k", ms=10)
            ax.set_title(LABELS[m], fontsize=9)
            ax.set_xlabel(names[0])
            ax.set_ylabel(names[1])
        fig.colorbar(cs, ax=axes[0].tolist(), shrink=0.9)
        path = out / f"{'_'.join(group)}_contour.png"
        fig.savefig(path, dpi=200)
        plt.close(fig)
        paths.append(path)

        fig = plt.figure(figsize=(3.6 * len(group), 3.2), constrained_layout=True)
        for i, (m, z) in enumerate(zip(group, Z)):
            ax = fig.add_subplot(1, len(group), i + 1, projection="3d")
            ax.plot_surface(X, Y, z, cmap="viridis", vmin=vmin, vmax=vmax, linewidth=0, antialiased=True)
            ax.set_zlim(vmin, vmax if vmax > vmin else vmin + 1)
            ax.set_title(LABELS[m], fontsize=9)
            ax.set_xlabel(names[0], fontsize=7)
            ax.set_ylabel(names[1], fontsize=7)
        path = out / f"{'_'.join(group)}_surface.png"
        fig.savefig(path, dpi=200)
        plt.close(fig)
        paths.append(path)
    return paths


def render_scan(root: str | Path) -> list[Path]:
    meta, surface = load_surface(root)
    out = Path(root)
    return render_1d(meta, surface, out) if len(meta["grid"]["shape"]) == 1 else render_2d(meta, surface, out)
