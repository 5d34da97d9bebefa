import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.io import checkpoint
from landscape.model.agent import Agent
from landscape.model.flat import ParamSpace
from landscape.model.policy import Actor
from landscape.probes.directions import random_direction
from landscape.probes.gradients import gradient_norm, per_episode_gradients
from landscape.rl.evaluator import BatchedEvaluator
from landscape.scan import main as scan_main
from landscape.sim.toys.target import exact_gradient, exact_return


def toy_agent(seed=0) -> Agent:
    torch.manual_seed(seed)
    agent = Agent.new("ToyTarget-v0", 2, 1, hidden=())
    agent.obs_norm.count = 1.0  # identity statistics: mean 0, var 1
    agent.obs_norm.frozen = True
    return agent


def test_scanned_surface_matches_closed_form(tmp_path):
    ckpt = tmp_path / "toy.pt"
    checkpoint.save(toy_agent(), ckpt)
    out = tmp_path / "scan"
    scan_main(
        [
            "--ckpt",
            str(ckpt),
            "--out",
            str(out),
            "--metrics",
            "natural",
            "--params",
            "weights+biases",
            "--norm",
            "layer",
            "--resolution",
            "5",
            "--span",
            "2",
            "--episodes",
            "2",
            "--no-render",
        ]
    )
    surf = np.load(out / "surface.npz")
    dirs = np.load(out / "directions.npz")
    th0, d = dirs["theta0"].astype(np.float64), dirs["directions"].astype(np.float64)
    a, b = np.meshgrid(dirs["coords_0"], dirs["coords_1"], indexing="ij")
    theta = th0 + a[..., None] * d[0] + b[..., None] * d[1]  # layout: log_std, w1, w2, b
    expected = exact_return(theta[..., 1:3], theta[..., 3])
    assert surf["done"].all()
    np.testing.assert_allclose(surf["natural"], expected, rtol=1e-5, atol=1e-5)
    assert np.allclose(surf["natural_se"], 0.0)
    meta = json.loads((out / "scan.json").read_text())
    assert meta["ckpt_sha256"] == checkpoint.file_hash(ckpt) and meta["env_id"] == "ToyTarget-v0"


def test_filter_normalized_direction_row_norms():
    actor = Actor(11, 3)
    space = ParamSpace(actor)
    theta = space.flatten(actor)
    d = random_direction(space, theta, torch.Generator().manual_seed(0), "filter", "weights")
    for blk in space.blocks:
        sl = slice(blk.offset, blk.offset + blk.size)
        if blk.kind == "weight":  # each output row scaled to theta's row norm
            assert torch.allclose(d[sl].view(blk.shape).norm(dim=1), theta[sl].view(blk.shape).norm(dim=1), rtol=1e-5)
        else:
            assert torch.all(d[sl] == 0)
    # Gaussian, not uniform: signs are mixed
    assert 0.3 < (d[d != 0] > 0).float().mean() < 0.7


def test_gradient_estimate_unbiased_on_toy():
    agent = toy_agent()
    with torch.no_grad():
        agent.actor.log_std.fill_(np.log(0.5))
    space = agent.space
    theta = space.flatten(agent.actor)
    ev = BatchedEvaluator("ToyTarget-v0", space, agent.obs_norm)
    E = 4000
    roll = ev.run(theta[None], E, seed=0, deterministic=False, record=True)
    g = per_episode_gradients(space, theta[None], roll.trajectories, E, gamma=1.0, lam=1.0)[0].double()
    mean, se = g.mean(0).numpy(), (g.std(0) / np.sqrt(E)).numpy()
    exact = exact_gradient(theta[1:3].double().numpy(), float(theta[3]), float(theta[0]))
    assert np.all(np.abs(mean - exact) < 4 * se + 1e-9), (mean, exact, se)
    norm, norm_se = gradient_norm(g[None])
    assert abs(norm[0] - np.linalg.norm(exact)) < 4 * norm_se[0]


def test_gradient_norm_is_bias_corrected():
    gen = torch.Generator().manual_seed(0)
    m = torch.zeros(1, 1, 50)
    g = m + torch.randn(1, 400, 50, generator=gen)  # true gradient 0, noisy samples
    norm, se = gradient_norm(g)
    naive = g.mean(1).norm().item()  # ~ sqrt(50/400) = 0.35: biased upward
    assert naive > 0.25 and norm[0] < 3 * se[0] + 0.05


BUNDLED = Path(__file__).resolve().parents[1] / "landscape" / "checkpoints" / "hopper_spo.pt"


def _scan_cmd(ckpt, out):
    # the trained policy keeps episodes long, so each one-point chunk takes a visible moment
    return [
        sys.executable,
        "-m",
        "landscape.scan",
        "--ckpt",
        str(ckpt),
        "--out",
        str(out),
        "--metrics",
        "natural",
        "--episodes",
        "1",
        "--resolution",
        "5",
        "--span",
        "0.02",
        "--chunk",
        "1",
        "--no-render",
    ]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_scan_resumes_to_identical_numbers(tmp_path, sig):
    ckpt = BUNDLED
    full, part = tmp_path / "full", tmp_path / "part"
    subprocess.run(_scan_cmd(ckpt, full), check=True, capture_output=True)
    # a background parent (nohup, CI runners) may hand down SIGINT ignored; restore what a terminal gives
    proc = subprocess.Popen(
        _scan_cmd(ckpt, part),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while time.time() < deadline and len(list((part / "chunks").glob("*.npz"))) < 2:
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    n_before = len(list((part / "chunks").glob("[0-9]*.npz")))
    assert 0 < n_before < 25, "the scan should have been interrupted half way"
    before = {p.name: p.stat().st_mtime_ns for p in (part / "chunks").glob("[0-9]*.npz")}
    subprocess.run(_scan_cmd(ckpt, part), check=True, capture_output=True)
    after = {p.name: p.stat().st_mtime_ns for p in (part / "chunks").glob("[0-9]*.npz")}
    assert all(after[k] == v for k, v in before.items()), "finished chunks must not be rewritten"
    a, b = np.load(full / "surface.npz"), np.load(part / "surface.npz")
    assert a["done"].all() and b["done"].all()
    assert np.array_equal(a["natural"], b["natural"])


def _err(argv, capsys) -> str:
    with pytest.raises(SystemExit) as ex:
        scan_main(argv)
    assert ex.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error:")
    return err


def test_bad_input_one_line_errors(tmp_path, capsys):
    ckpt = tmp_path / "toy.pt"
    checkpoint.save(toy_agent(), ckpt)
    base = ["--out", str(tmp_path / "s"), "--metrics", "natural", "--no-render"]
    assert "not found" in _err(["--ckpt", str(tmp_path / "missing.pt"), *base], capsys)
    (tmp_path / "corrupt.pt").write_bytes(b"\x00garbage")
    assert "corrupt.pt" in _err(["--ckpt", str(tmp_path / "corrupt.pt"), *base], capsys)
    assert "resolution" in _err(["--ckpt", str(ckpt), "--resolution", "0", *base], capsys)
    assert "100489 grid points" in _err(["--ckpt", str(ckpt), "--resolution", "317", *base], capsys)
    assert "metric" in _err(["--ckpt", str(ckpt), "--out", str(tmp_path / "s"), "--metrics", "bogus"], capsys)
    assert "unknown attack 'bogus'" in _err(
        [
            "--ckpt",
            str(ckpt),
            "--out",
            str(tmp_path / "s"),
            "--attack",
            "bogus",
            "--metrics",
            "adversarial",
            "--no-render",
        ],
        capsys,
    )
    assert "needs its learned adversary" in _err(
        [
            "--ckpt",
            str(ckpt),
            "--out",
            str(tmp_path / "s"),
            "--attack",
            "optimal",
            "--metrics",
            "adversarial",
            "--no-render",
        ],
        capsys,
    )
    nan = toy_agent()
    with torch.no_grad():
        nan.actor.net[0].weight.fill_(float("nan"))
    checkpoint.save(nan, tmp_path / "nan.pt")
    assert "NaN" in _err(
        ["--ckpt", str(ckpt), "--directions", "line,random", "--to", str(tmp_path / "nan.pt"), *base], capsys
    )


def test_line_direction_reaches_the_other_checkpoint_despite_other_statistics(tmp_path):
    a, b = toy_agent(0), toy_agent(1)
    b.obs_norm.mean, b.obs_norm.var = np.array([0.3, -0.2]), np.array([2.0, 0.5])
    checkpoint.save(a, tmp_path / "a.pt")
    checkpoint.save(b, tmp_path / "b.pt")
    out = tmp_path / "line"
    scan_main(
        [
            "--ckpt",
            str(tmp_path / "a.pt"),
            "--1d",
            "--directions",
            "line",
            "--to",
            str(tmp_path / "b.pt"),
            "--range",
            "0,1",
            "--resolution",
            "2",
            "--metrics",
            "natural",
            "--episodes",
            "1",
            "--out",
            str(out),
            "--no-render",
        ]
    )
    surf = np.load(out / "surface.npz")
    own = BatchedEvaluator("ToyTarget-v0", b.space, b.obs_norm).run(b.space.flatten(b.actor)[None], 1)
    assert surf["natural"][1] == pytest.approx(own.returns[0, 0], rel=1e-5)
    own_a = BatchedEvaluator("ToyTarget-v0", a.space, a.obs_norm).run(a.space.flatten(a.actor)[None], 1)
    assert surf["natural"][0] == pytest.approx(own_a.returns[0, 0], rel=1e-6)


def _line_argv(tmp_path, a, b):
    return [
        "--ckpt",
        str(a),
        "--to",
        str(b),
        "--1d",
        "--directions",
        "line",
        "--metrics",
        "natural",
        "--resolution",
        "3",
        "--episodes",
        "1",
        "--out",
        str(tmp_path / "line"),
        "--no-render",
    ]


def test_scan_key_follows_the_contents_of_to_and_trajectory(tmp_path, capsys):
    """Another checkpoint saved under the --to name is another computation: refused, not resumed with the
    stale direction (the key hashed the path only); the --trajectory files are part of the key too."""
    from landscape.probes.scanning import ScanSpec, direction_meta

    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    checkpoint.save(toy_agent(0), a)
    checkpoint.save(toy_agent(1), b)
    scan_main(_line_argv(tmp_path, a, b))
    checkpoint.save(toy_agent(2), b)
    with pytest.raises(SystemExit) as ex:
        scan_main(_line_argv(tmp_path, a, b))
    assert ex.value.code == 2 and "holds a different scan" in capsys.readouterr().err
    args = ScanSpec(str(a), directions="pca,pca", trajectory=str(tmp_path / "t*.pt"))
    checkpoint.save(toy_agent(3), tmp_path / "t1.pt")
    before = direction_meta(args, "pca")
    checkpoint.save(toy_agent(4), tmp_path / "t2.pt")
    assert direction_meta(args, "pca") != before


def test_resume_reads_the_stored_directions_without_building_them(tmp_path, monkeypatch, capsys):
    import landscape.probes.scanning

    a = tmp_path / "a.pt"
    checkpoint.save(toy_agent(0), a)
    argv = [
        "--ckpt",
        str(a),
        "--metrics",
        "natural",
        "--resolution",
        "3",
        "--episodes",
        "1",
        "--chunk",
        "3",
        "--out",
        str(tmp_path / "s"),
        "--no-render",
    ]
    scan_main(argv)
    (tmp_path / "s" / "chunks" / "00001.npz").unlink()  # an interrupted scan

    def refuse(*args):
        raise AssertionError("directions rebuilt on resume (a gradient direction costs 32 episodes)")

    monkeypatch.setattr(landscape.probes.scanning, "build_directions", refuse)
    scan_main(argv)
    assert "resuming" in capsys.readouterr().out and np.load(tmp_path / "s" / "surface.npz")["done"].all()
