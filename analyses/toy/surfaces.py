"""The toy's exact landscape: natural vs worst-case return of ToyTrap-v0, its stationary points, and the
exact SPO / ARPO / BARPO trajectories from the documented starts (landscape/sim/toys/trap.py).

    python analyses/toy/surfaces.py [--out figures]      # writes figures/toy_surfaces.png/.pdf
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from landscape.sim.toys import trap  # noqa: E402

COLORS = {"spo": "#0072B2", "arpo": "#D55E00", "barpo": "#009E73"}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="figures")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    (a0, a1), (b0, b1) = (-2.0, 2.0), (-0.5, 2.5)
    w1, w2 = torch.linspace(a0, a1, 161, dtype=torch.float64), torch.linspace(b0, b1, 121, dtype=torch.float64)
    W = torch.stack(torch.meshgrid(w1, w2, indexing="ij"), -1)
    surfaces = {
        "natural return $J(\\theta, \\mathrm{id})$": trap.natural_return(W),
        f"worst-case return (eps = {trap.EPS})": trap.worst_return(W),
    }
    starts = torch.tensor(trap.DOCUMENTED_STARTS, dtype=torch.float64)
    paths = {a: trap.ascend(starts, a, record=True) for a in ("spo", "arpo", "barpo")}
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2), sharey=True, constrained_layout=True)
    lo = min(float(s.min()) for s in surfaces.values())
    hi = max(float(s.max()) for s in surfaces.values())
    for ax, (title, z) in zip(axes, surfaces.items()):
        cs = ax.contourf(w1, w2, z.T, levels=torch.linspace(lo, hi, 31).tolist(), cmap="viridis")  # one scale
        for algo, path in paths.items():
            for k in range(path.shape[1]):
                ax.plot(path[:, k, 0], path[:, k, 1], color=COLORS[algo], lw=1, label=algo.upper() if k == 0 else None)
        ax.plot(starts[:, 0], starts[:, 1], "wo", ms=3)
        ax.set(title=title, xlabel="$W_1$ (branch choice at $s_0$)")
    # each label on its own side of its marker: the natural optimum and the ORP sit close together on W2 = 1.5
    outline = [patheffects.withStroke(linewidth=1.5, foreground="black")]
    for name, pt, mk, offset, ha in (
        ("natural optimum", trap.NATURAL_OPT, "*", (5, 7), "left"),
        ("ORP", trap.ORP, "P", (-6, 7), "right"),
        ("trap", trap.TRAP, "X", (-6, 7), "right"),
    ):
        for ax in axes:
            ax.plot(*pt, mk, color="white", mec="black", ms=9)
            ax.annotate(
                name,
                pt,
                xytext=offset,
                textcoords="offset points",
                fontsize=7,
                color="white",
                ha=ha,
                path_effects=outline,
            )
    axes[0].set_ylabel("$W_2$ (action at $s_1$)")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.colorbar(cs, ax=axes, shrink=0.8, pad=0.01, label="return", ticks=MaxNLocator(6))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(out / f"toy_surfaces.{ext}", dpi=200)
    print(f"wrote {out / 'toy_surfaces.png'} and .pdf")


if __name__ == "__main__":
    main()
