"""`python -m landscape.figures --quick`: every config draws (or is listed as skipped), stores are reused, the
manifest names files, commands and data; the exact toy surfaces agree with brute force."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import figures
from landscape.compare import plane, rebase
from landscape.core.errors import LandscapeError

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "analyses" / "figures"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs")
    figures.main(["--quick", "--out", str(out), "--configs", str(CONFIGS)])
    return out


def test_quick_set_draws_every_config(quick):
    manifest = json.loads((quick / "manifest.json").read_text())
    names = {p.stem for p in CONFIGS.glob("*.toml")}
    assert set(manifest["figures"]) == names and manifest["quick"]
    for name, entry in manifest["figures"].items():
        assert entry["status"] == "ok", (name, entry)
        suffixes = sorted(Path(f).suffix for f in entry["files"])
        assert suffixes == (
            [".html"] + [".png"] * (len(suffixes) - 1) if entry["kind"] == "compare" else [".pdf", ".png"]
        )
        assert all(Path(f).stat().st_size > 1000 for f in entry["files"])
        for src in entry["sources"]:  # data behind the figure: a finished store of the named checkpoint
            if entry["kind"] == "script":
                assert src["command"].startswith("python analyses/")
                continue
            meta = json.loads((Path(src["store"]) / "scan.json").read_text())
            assert meta["key"] == src["key"] and meta["ckpt_sha256"] == src["ckpt_sha256"]
            assert np.load(Path(src["store"]) / "surface.npz")["done"].all()
            tool = "compare" if entry["kind"] == "compare" else "scan --ckpt"
            assert src["command"].startswith(f"python -m landscape.{tool} ")
    assert "| hopper_reshaping" in (quick / "manifest.md").read_text()


def test_quick_adversarial_panels_differ_from_natural(quick):
    """Toy agents have eps 0: the attack takes the environment's standard eps, so an adversarial panel is not
    a copy of the natural one (before, every quick adversarial panel was computed at eps 0)."""
    stores = [p.parent for p in quick.glob("data/*/scan.json") if "adversarial" in json.loads(p.read_text())["metrics"]]
    assert stores
    for store in stores:
        assert json.loads((store / "scan.json").read_text())["attack"]["eps"] == 0.1  # ToyTarget's standard
        surf = np.load(store / "surface.npz")
        assert not np.allclose(surf["adversarial"], surf["natural"]), store


def test_rerun_reuses_stores(quick, capsys):
    chunks = sorted(quick.glob("data/*/chunks/*.npz"))
    stamps = [p.stat().st_mtime_ns for p in chunks]
    figures.main(["--quick", "--out", str(quick), "--configs", str(CONFIGS), "--only", "hopper_tradeoff"])
    assert "scan:" not in capsys.readouterr().out  # nothing recomputed
    assert [p.stat().st_mtime_ns for p in chunks] == stamps
    manifest = json.loads((quick / "manifest.json").read_text())
    assert len(manifest["figures"]) == len(list(CONFIGS.glob("*.toml")))  # --only keeps the other entries


def test_missing_checkpoint_is_listed_as_skipped(tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "f.toml").write_text('kind = "panels"\n[[panel]]\nckpt = ["/nonexistent/a.pt"]\n')
    figures.main(["--out", str(tmp_path / "out"), "--configs", str(tmp_path / "cfg")])
    entry = json.loads((tmp_path / "out" / "manifest.json").read_text())["figures"]["f"]
    assert entry["status"] == "skipped: ? (checkpoint not found: /nonexistent/a.pt)"


def test_bad_config_is_one_line_error(tmp_path):
    (tmp_path / "x.toml").write_text('kind = "pie"\n')
    with pytest.raises(LandscapeError, match="kind must be one of"):
        figures.load_configs(tmp_path, None)


def test_target_worst_case_matches_brute_force():
    """The closed-form worst case of ToyTarget-v0 against enumerating the vertices of the eps-box (the
    per-step loss is convex in the perturbation, so the worst perturbation is a vertex)."""
    from landscape.sim.toys.target import NORM, X, Y

    res = figures.target_exact(resolution=7, span=2.0, eps=0.3)
    for i, j in [(0, 0), (3, 4), (6, 1), (2, 5)]:
        w = np.array([res["x"][i], res["y"][j]])
        worst = 0.0
        for t in range(len(Y)):
            worst += min(
                -((w @ (X[t] / NORM + 0.3 * np.array(s)) - Y[t]) ** 2) for s in itertools.product((-1, 1), repeat=2)
            )
        assert res["surfaces"]["adversarial"][i, j] == pytest.approx(worst)
        assert res["surfaces"]["natural"][i, j] == pytest.approx(-(((X / NORM) @ w - Y) ** 2).sum())


def test_rebase_keeps_the_policy_under_another_normalizer():
    from landscape.model.agent import Agent

    torch.manual_seed(0)
    a, b = Agent.new("Hopper-v5", 11, 3), Agent.new("Hopper-v5", 11, 3)
    rng = np.random.default_rng(0)
    for ag in (a, b):
        ag.obs_norm.mean, ag.obs_norm.var, ag.obs_norm.count = rng.normal(size=11), rng.uniform(0.2, 4, 11), 10.0
    s = rng.normal(size=(50, 11))
    with torch.no_grad():  # B acting on its own normalized observations
        native = b.actor(torch.as_tensor(b.obs_norm(s), dtype=torch.float32))
    b.space.assign(b.actor, rebase(b.space.flatten(b.actor), b, a))
    with torch.no_grad():  # the rebased B acting on A's normalized observations
        ours = b.actor(torch.as_tensor(a.obs_norm(s), dtype=torch.float32))
    assert torch.allclose(ours, native, atol=1e-4)


def test_plane_through_three_checkpoints():
    from landscape.model.agent import Agent

    torch.manual_seed(1)
    centre = Agent.new("Hopper-v5", 11, 3)
    thetas = torch.randn(4, centre.space.size)
    thetas[3] = thetas[0] + 0.3 * (thetas[1] - thetas[0]) + 0.6 * (thetas[2] - thetas[0])  # in the plane
    dirs, coords, pts, dist = plane(thetas, centre, seed=0, span=0.5, margin=0.25, n=5)
    assert np.allclose(pts[:2], [[0, 0], [1, 0]], atol=1e-5) and pts[2, 1] == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(dist, 0, atol=1e-5)
    assert float(dirs[0] @ dirs[1]) == pytest.approx(0.0, abs=1e-2 * float(dirs[0].norm() * dirs[1].norm()))
    for k in range(4):  # every checkpoint is reproduced from the plane and lies inside the grid
        rebuilt = thetas[0] + pts[k, 0] * dirs[0] + pts[k, 1] * dirs[1]
        assert torch.allclose(rebuilt, thetas[k], atol=1e-4)
        assert all(coords[i][0] < pts[k, i] < coords[i][-1] for i in range(2))


def test_plane_coordinates_are_exact_and_independent_of_memory_layout():
    """The compare page writes the plane's axes: the two spanning checkpoints sit at exactly (0, 0) and
    (1, 0), and copies of the same parameters at other addresses give the same bits (BLAS dot products and
    lstsq may not: their summation order can follow alignment, which once made two identical runs' pages
    differ in the last digit of an axis)."""
    from landscape.compare import on_plane
    from landscape.model.agent import Agent

    torch.manual_seed(2)
    centre = Agent.new("Hopper-v5", 11, 3)
    thetas = torch.randn(2, centre.space.size)
    _, coords, pts, _ = plane(thetas, centre, seed=0, span=0.5, margin=0.25, n=3)
    assert pts.tolist() == [[0.0, 0.0], [1.0, 0.0]] and coords[0].tolist() == [-0.25, 0.5, 1.25]
    dirs = torch.randn(2, 1001, dtype=torch.float64)
    offs = torch.randn(3, 1001, dtype=torch.float64)
    ref = on_plane(offs, dirs)
    assert torch.allclose(ref[0], torch.linalg.lstsq(dirs.T, offs.T).solution.T, atol=1e-12)
    for shift in range(1, 4):  # the same numbers at addresses shifted by 8-24 bytes
        shifted = lambda x: torch.cat([torch.zeros(shift, dtype=x.dtype), x.flatten()])[shift:].view(x.shape)  # noqa: E731
        got = on_plane(shifted(offs), shifted(dirs))
        assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])


def test_figure_with_a_missing_panel_is_partial(tmp_path):
    from landscape.figures import toy_checkpoint

    ckpt = toy_checkpoint(0, tmp_path / "data")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "f.toml").write_text(
        'kind = "tradeoff"\n[scan]\nresolution = 3\nepisodes = 1\nmetrics = "natural,adversarial"\n'
        f'[[panel]]\nlabel = "SPO"\nckpt = "{ckpt}"\n[[panel]]\nlabel = "ARPO"\nckpt = "/nonexistent/arpo.pt"\n'
    )
    figures.main(["--out", str(tmp_path / "out"), "--configs", str(tmp_path / "cfg")])
    entry = json.loads((tmp_path / "out" / "manifest.json").read_text())["figures"]["f"]
    assert entry["status"].startswith("partial: missing ARPO") and len(entry["sources"]) == 1
    assert (tmp_path / "out" / "f.pdf").exists()


def test_compare_bad_input_is_one_line_error(tmp_path, capsys):
    from landscape.compare import main as compare_main
    from landscape.figures import toy_checkpoint
    from landscape.io import checkpoint

    a = toy_checkpoint(0, tmp_path)
    twin = tmp_path / "twin.pt"
    twin.write_bytes(a.read_bytes())  # same parameters under another name
    from landscape.sim.toys import trap

    checkpoint.save(trap.make_agent(trap.ORP), tmp_path / "trap.pt")  # a valid checkpoint of another env
    assert checkpoint.load(a).env_id != "ToyTrap-v0"
    for argv, msg in (
        ([a, a], "given twice"),
        ([a, twin], "identical parameters"),
        ([a, tmp_path / "trap.pt"], "compare one environment"),
    ):
        with pytest.raises(SystemExit):
            compare_main([*map(str, argv), "--out", str(tmp_path / "c.html")])
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and msg in err and "\n" not in err


def test_compare_reads_native_fosp_and_sticky_reports(tmp_path, monkeypatch):
    from landscape import fosp, sticky
    from landscape.compare import main as compare_main
    from landscape.io import checkpoint
    from landscape.sim.toys import trap

    monkeypatch.chdir(tmp_path)
    for name, w in (("nat", trap.NATURAL_OPT), ("orp", trap.ORP), ("trap", trap.TRAP)):
        checkpoint.save(trap.make_agent(w), tmp_path / f"{name}.pt")
    fosp.main(["--ckpt", "trap.pt", "--objective", "adversarial", "--exact", "--steps", "5", "--out", "f.json"])
    sticky.main(
        ["--ckpt", "trap.pt", "--exact", "--objectives", "spo,arpo", "-K", "3", "--updates", "5", "--out", "s.json"]
    )
    compare_main(
        [
            "nat.pt",
            "orp.pt",
            "trap.pt",
            "--reports",
            "f.json",
            "s.json",
            "--resolution",
            "3",
            "--episodes",
            "1",
            "--grad-episodes",
            "3",
            "--out",
            "c.html",
        ]
    )
    html = (tmp_path / "c.html").read_text()
    data = json.loads(html[html.index("const D = ") + 10 : html.index(";\nlet objective")].replace("<\\/", "</"))
    pts = {p["id"]: p for p in data["points"]}
    assert set(pts) == {"A", "B", "C", "f:ckpt"}
    rep = json.loads((tmp_path / "s.json").read_text())
    assert pts["C"]["sticky"]["arpo"]["fall_back"] == rep["objectives"]["arpo"]["fall_back_share"]
    f = json.loads((tmp_path / "f.json").read_text())["points"][0]
    assert pts["f:ckpt"]["adversarial"] == pytest.approx(f["adversarial_return"])
    # the refined point moved little from the trap checkpoint C: it sits next to C on the plane
    assert np.allclose(pts["f:ckpt"]["coords"], pts["C"]["coords"], atol=0.05) and pts["f:ckpt"]["off_plane"] < 1e-3
