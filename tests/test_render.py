"""Rendering reads the results store only: shared colour scales, stationary cells, se bands, marked points."""

import json

import numpy as np
import pytest

from landscape.core.errors import LandscapeError
from landscape.probes.store import ScanStore
from landscape.viz import render


def make_store(root, values: dict, coords, done=None, points=None):
    """A store written by hand: metric -> (value grid, se grid)."""
    shape = tuple(len(c) for c in coords)
    meta = {
        "key": "test",
        "grid": {"shape": list(shape)},
        "metrics": list(values),
        "algo": "spo",
        "ckpt": "x.pt",
        "directions": [{"kind": "random"} for _ in coords],
        "attack": {"name": "mad", "eps": 0.1},
    }
    store = ScanStore(root)
    store.create_or_resume(meta, np.zeros(3), np.zeros((len(coords), 3)), coords)
    n = int(np.prod(shape))
    pts = np.arange(n) if done is None else np.flatnonzero(np.asarray(done).ravel())
    store.write_chunk(0, pts, {m: (v.ravel()[pts], se.ravel()[pts]) for m, (v, se) in values.items()})
    if points:
        (root / "points.json").write_text(json.dumps({"points": points}))
    return root


def grid2(f, n=5):
    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    return [x, x], f(X, Y)


def test_shared_limits_span_all_panels(tmp_path):
    coords, z = grid2(lambda x, y: x + y)
    a = render.load_scan(make_store(tmp_path / "a", {"natural": (z, 0 * z), "adversarial": (z - 5, 0 * z)}, coords))
    b = render.load_scan(make_store(tmp_path / "b", {"natural": (z + 10, 0 * z), "adversarial": (z, 0 * z)}, coords))
    assert render.shared_limits([a, b], ["natural", "adversarial"]) == (-7.0, 12.0)
    assert render.shared_limits([a], ["natural"]) == (-2.0, 2.0)
    both = np.concatenate([z.ravel() + 10, z.ravel()])  # b's natural and adversarial values
    assert render.shared_limits([b], ["natural", "adversarial"], 95) == (-2.0, pytest.approx(np.percentile(both, 95)))


def test_not_computed_cells_are_nan_not_sentinels(tmp_path):
    coords, z = grid2(lambda x, y: x * 0 - 3.0)
    done = np.zeros((5, 5), bool)
    done[:2] = True
    s = render.load_scan(make_store(tmp_path / "s", {"natural": (z, 0 * z)}, coords, done=done))
    v = s.values("natural")
    assert np.isnan(v[2:]).all() and (v[:2] == -3.0).all()
    assert render.shared_limits([s], ["natural"]) == (-3.5, -2.5)  # a flat surface still gets a range
    assert render.render_scan(tmp_path / "s")  # a partial store draws (blank where not computed)
    with pytest.raises(LandscapeError):
        s.values("adversarial")


def test_grid_verdicts_three_ways(tmp_path):
    coords, g = grid2(lambda x, y: np.abs(x) + np.abs(y))  # zero only at the centre; median of the cells 1.0
    se = np.full_like(g, 0.05)
    se[2, 3] = 0.2  # |g| 0.5: 0.5 - 1.96 x 0.2 < tau = 0.25 x 1.0 -> unresolved
    done = np.ones((5, 5), bool)
    done[0, 0] = False
    s = render.load_scan(make_store(tmp_path / "s", {"grad_natural": (g, se)}, coords, done=done))
    v = render.grid_verdicts(s, "grad_natural")
    assert v[2, 2] == "stationary" and (render.stationary_mask(s, "grad_natural").sum() == 1)
    assert v[2, 3] == "unresolved" and v[0, 0] == ""
    others = np.ones((5, 5), bool)
    others[2, 2] = others[2, 3] = others[0, 0] = False
    assert (v[others] == "not stationary").all()
    se0 = np.zeros_like(g)  # an SE of 0 never makes a cell stationary
    s0 = render.load_scan(make_store(tmp_path / "s0", {"grad_natural": (g, se0)}, coords))
    assert (render.grid_verdicts(s0, "grad_natural") == "").all()
    assert render.verdict_marker("") is None and render.verdict_marker("not stationary")["marker"] == "x"
    assert render.verdict_marker("stationary")["mfc"] != "none" and render.verdict_marker("unresolved")["mfc"] == "none"


def test_render_scan_writes_pdf_and_png_per_group(tmp_path):
    coords, z = grid2(lambda x, y: -(x**2 + y**2))
    root = make_store(
        tmp_path / "s",
        {m: (z, 0.1 + 0 * z) for m in ("natural", "adversarial", "grad_natural", "grad_adversarial")},
        coords,
    )
    paths = render.render_scan(root)
    names = sorted(p.name for p in paths)
    assert names == sorted(
        f"{g}_{k}.{ext}"
        for g in ("natural_adversarial", "grad_natural_grad_adversarial")
        for k in ("contour", "surface")
        for ext in ("pdf", "png")
    )
    for p in paths:
        head = p.read_bytes()[:8]
        assert head.startswith(b"%PDF") if p.suffix == ".pdf" else head.startswith(b"\x89PNG")
    pdf = (root / "natural_adversarial_contour.pdf").read_bytes()
    assert b"/Subtype /Image" not in pdf  # contours are vector paths, not an embedded bitmap


def test_curves_have_standard_error_bands_and_points(tmp_path):
    x = np.linspace(-1, 1, 7)
    y, se = x**2, 0.1 + 0.05 * np.abs(x)
    root = make_store(tmp_path / "s", {"natural": (y, se)}, [x], points=[{"id": "B", "coords": [0.5]}])
    s = render.load_scan(root)
    fig, ax = render.plt.subplots()
    render.draw_curves(ax, s, ["natural"])
    band = ax.collections[0].get_paths()[0].vertices
    upper = {round(a, 6): b for a, b in band if b >= np.interp(a, x, y)}
    for xi, yi, si in zip(x, y, se):
        assert upper[round(xi, 6)] == pytest.approx(yi + si)
    assert any(list(line.get_xdata()) == [0.5, 0.5] for line in ax.lines)  # the marked point
    render.plt.close(fig)
    assert len(render.render_scan(root)) == 2  # natural_1d.pdf/.png


def test_panels_share_one_colour_scale_and_mark_points(tmp_path):
    coords, z = grid2(lambda x, y: x - y)
    pts = [{"id": "A", "coords": [0.0, 0.0], "kind": "checkpoint"}, {"id": "F", "coords": [0.5, -0.5]}]
    scans = [
        render.load_scan(
            make_store(
                tmp_path / f"s{i}",
                {"natural": (z + 3 * i, 0 * z), "adversarial": (z - 3 * i, 0 * z)},
                coords,
                points=pts,
            )
        )
        for i in range(3)
    ]
    fig = render.figure_panels(scans, ["natural", "adversarial"], ["SPO", "ARPO", "BARPO"])
    axes = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    assert len(axes) == 6
    limits = {tuple(np.round(a.collections[0].get_clim(), 6)) for a in axes}
    assert limits == {(-8.0, 8.0)}  # every panel on the same scale: min over all rows/columns to max
    for a in axes:  # both points drawn on every panel
        assert {t.get_text() for t in a.texts} == {"A", "F"}
    render.plt.close(fig)
