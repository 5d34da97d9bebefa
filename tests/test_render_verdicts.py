"""Three-way stationarity marks: every figure that marks stationary points draws stationary / not stationary /
unresolved distinguishably, from the one verdict rule, with a legend (checked on the matplotlib artists)."""

import json

import numpy as np
from matplotlib.colors import to_rgba

from landscape import fosp
from landscape.stationary import stationarity as st
from landscape.viz import render

from test_render import grid2, make_store


def _scan(tmp_path, se_centre: float = 0.05):
    """|g| = |x| + |y| on a 5 x 5 grid: the centre stationary, (2, 3) unresolved, the rest not stationary
    (tests/test_render.py), cell (0, 0) not computed."""
    coords, g = grid2(lambda x, y: np.abs(x) + np.abs(y))
    se = np.full_like(g, 0.05)
    se[2, 3], se[2, 2] = 0.2, se_centre
    done = np.ones((5, 5), bool)
    done[0, 0] = False
    values = {"natural": (-g, se), "grad_natural": (g, se)}
    return render.load_scan(make_store(tmp_path / f"s{se_centre}", values, coords, done=done)), coords


def _marks(ax) -> dict:
    """verdict -> the (x, y) cells its artist marks."""
    out = {}
    for line in ax.lines:
        gid = line.get_gid() or ""
        if gid.startswith("verdict:"):
            out[gid.split(":", 1)[1]] = sorted(zip(line.get_xdata(), line.get_ydata()))
    return out


def test_contour_marks_follow_the_verdicts(tmp_path):
    scan, (x, y) = _scan(tmp_path)
    fig, ax = render.plt.subplots()
    render.draw_contour(ax, scan, "natural", -2, 0, stationary="grad_natural")
    v = st.grid_verdicts(scan.values("grad_natural"), scan.se("grad_natural"))
    marks = _marks(ax)
    for name in st.VERDICTS:  # each verdict's artist marks exactly its cells, never a cell not computed
        cells = sorted((x[i], y[j]) for i, j in zip(*np.nonzero(v == name)))
        assert marks[name] == cells and (x[0], y[0]) not in marks[name]
    styles = {line.get_gid(): (line.get_marker(), line.get_markerfacecolor()) for line in ax.lines if line.get_gid()}
    assert len(set(styles.values())) == 3  # three distinguishable markers
    render.plt.close(fig)
    # the marks depend on the verdicts: a wide SE at the centre turns its filled dot into a hollow circle
    wide, _ = _scan(tmp_path, se_centre=5.0)
    fig, ax = render.plt.subplots()
    render.draw_contour(ax, wide, "natural", -2, 0, stationary="grad_natural")
    marks = _marks(ax)
    assert st.STATIONARY not in marks and (0.0, 0.0) in marks[st.UNRESOLVED]
    render.plt.close(fig)


def test_panel_figures_carry_the_verdict_legend(tmp_path):
    scan, _ = _scan(tmp_path)
    fig = render.figure_panels([scan], ["natural"], stationary={"natural": "grad_natural"})
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert labels == list(st.VERDICTS)
    render.plt.close(fig)
    fig = render.figure_panels([scan], ["natural"])  # no marks, no legend
    assert not fig.legends
    render.plt.close(fig)


def test_fosp_figure_marks_each_objectives_verdict_and_redraws_from_json(tmp_path, monkeypatch):
    points = [
        {"id": "a", "verdict": {"natural": st.STATIONARY, "adversarial": st.NOT_STATIONARY}},
        {"id": "b", "verdict": {"natural": st.UNRESOLVED, "adversarial": st.UNRESOLVED}},
    ]
    for i, p in enumerate(points):
        p.update(norm_history=[[1.0, 0.1]], natural_return=[10.0 + i, 1.0], adversarial_return=[5.0 + i, 1.0])
    report = {"settings": {"objective": "natural", "threshold": 0.0}, "points": points}
    path = tmp_path / "fosp.json"
    path.write_text(json.dumps(report))
    captured = {}
    save = render.save

    def keep(fig, stem, **kw):  # look at the artists before the figure is closed
        captured["ax"] = fig.axes[1]
        return save(fig, stem, **kw)

    monkeypatch.setattr(render, "save", keep)
    saved = fosp.redraw(path)
    assert sorted(q.suffix for q in saved) == [".pdf", ".png"] and all(q.exists() for q in saved)
    ax = captured["ax"]
    gids = sorted(line.get_gid() for line in ax.lines if (line.get_gid() or "").startswith("verdict:"))
    assert gids == sorted(f"verdict:{o}:{v}" for p in points for o, v in p["verdict"].items())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [*st.VERDICTS, "natural", "adversarial"]
    markers = {g.split(":")[2]: line for line in ax.lines if (g := line.get_gid() or "").startswith("verdict:")}
    assert markers[st.NOT_STATIONARY].get_marker() == "x"
    alpha = {v: to_rgba(line.get_markerfacecolor())[3] for v, line in markers.items()}
    assert alpha[st.UNRESOLVED] == 0 and alpha[st.STATIONARY] == 1  # hollow vs filled


def test_stationary_share_figure_stacks_the_three_verdicts(tmp_path):
    """figures.fig_stationary: per objective the bars are the shares of stationary, unresolved and not
    stationary computed cells (1, 1 and 22 of 24), stacked to 1."""
    from landscape.figures import fig_stationary

    coords, g = grid2(lambda x, y: np.abs(x) + np.abs(y))
    se = np.full_like(g, 0.05)
    se[2, 3] = 0.2
    done = np.ones((5, 5), bool)
    done[0, 0] = False
    values = {m: (g, se) for m in ("natural", "grad_natural", "grad_adversarial")}
    scan = render.load_scan(make_store(tmp_path / "s", values, coords, done=done))
    fig = fig_stationary([scan], ["SPO"], {})
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert np.allclose(heights, [1 / 24, 1 / 24, 22 / 24] * 2)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[2:] == [st.STATIONARY, st.UNRESOLVED, st.NOT_STATIONARY]
    render.plt.close(fig)
