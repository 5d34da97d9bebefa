import json

import numpy as np
import pytest
import torch

from landscape.fosp import SampledOracle, dedupe, local_maxima, refine
from landscape.fosp import main as fosp_main
from landscape.io import checkpoint
from landscape.sim.toys import trap


def _grid_candidates(f, n=10):
    g = torch.linspace(-2, 2.5, n, dtype=torch.float64)
    W = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1)
    v = f(W).numpy()
    return W.reshape(-1, 2)[local_maxima(v, np.ones_like(v, bool))]


def _found(objective, f):
    starts = torch.cat([_grid_candidates(f), trap.random_starts(8, seed=3)])
    mask = trap.make_agent().space.mask({"weight"})
    res = refine(
        trap.ExactOracle(objective),
        trap.to_theta(starts),
        mask,
        steps=1500,
        step=0.05,
        threshold=1e-4,
        normalized=False,
    )
    assert res["stationary"].all()
    keep = sorted(set(dedupe(res["thetas"], 1e-2)))
    return trap.from_theta(res["thetas"][keep]).numpy()


def _same_set(found, expected, tol=2e-3):
    assert len(found) == len(expected), found
    for e in expected:
        assert np.min(np.abs(found - np.array(e)).max(1)) < tol, (found, e)


def test_finder_recovers_every_stationary_point_natural():
    _same_set(_found("natural", trap.natural_return), [trap.NATURAL_OPT])


def test_finder_recovers_every_stationary_point_worst_case():
    _same_set(_found("adversarial", trap.worst_return), [trap.ORP, trap.TRAP])


def test_dedupe_names_the_point_a_duplicate_is_near():
    """C duplicates A, not B (the last point kept before it, which the report used to name)."""
    thetas = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 1e-4], [5.0, 1e-4], [9.0, 0.0]])
    assert dedupe(thetas, 1e-3) == [0, 1, 0, 1, 4]


def test_local_maxima_respect_done_mask():
    v = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [5.0, 0.0, 2.0]])
    done = np.ones_like(v, bool)
    assert set(local_maxima(v, done)) == {1, 6, 8}
    done[2, 0] = False  # an uncomputed cell is neither a maximum nor a competitor
    assert set(local_maxima(v, done)) == {1, 8}


def test_sampled_verdicts_through_the_evaluator():
    """The CLI's path (batched evaluator + gradients.py + sequential test) on the toy env: the natural optimum
    (exact gradient 0) is stationary at threshold 0.5, a point with exact |grad| 1.2 is not; both with SE > 0."""
    from landscape.fosp import verdicts

    agent = trap.make_agent()
    mask = agent.space.mask({"weight"})
    oracle = SampledOracle(agent, "natural", seed=0, mask=mask)
    W = torch.tensor([trap.NATURAL_OPT, (0.6, 1.25)], dtype=torch.float64)
    res = verdicts(oracle, trap.to_theta(W), "natural", mask, threshold=0.5, start=256, budget=4096)
    oracle.close()
    assert [r["verdict"] for r in res] == ["stationary", "not stationary"], res
    assert all(r["raw"]["U_se"] > 0 and r["raw"]["test_se"] > 0 for r in res)
    assert res[1]["raw"]["lower"] < 1.2209 < res[1]["raw"]["upper"] + 0.3


def test_cli_exact_report(tmp_path):
    ckpt = tmp_path / "toy.pt"
    checkpoint.save(trap.make_agent(trap.DOCUMENTED_STARTS[0]), ckpt)
    out = tmp_path / "fosp.json"
    fosp_main(
        [
            "--ckpt",
            str(ckpt),
            "--exact",
            "--objective",
            "adversarial",
            "--params",
            "weights",
            "--steps",
            "1500",
            "--step",
            "0.05",
            "--threshold",
            "1e-4",
            "--out",
            str(out),
        ]
    )
    rep = json.loads(out.read_text())
    p = rep["points"][0]
    assert p["stationary"] and np.allclose(np.load(tmp_path / "fosp.npz")["thetas"][0, 1:3], trap.TRAP, atol=2e-3)
    from PIL import Image

    assert np.allclose(Image.open(tmp_path / "fosp.png").info["dpi"], 300, atol=0.01)  # as the README promises
    assert abs(p["adversarial_return"][0] - 1.308) < 1e-3 and abs(p["natural_return"][0] - 1.349) < 1e-3
    assert p["grad_norm_natural"][0] > 0.01  # the natural objective is not stationary there
    assert (tmp_path / "fosp.png").exists()


def test_cli_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as ex:
        fosp_main(["--ckpt", str(tmp_path / "missing.pt")])
    assert ex.value.code == 2 and "not found" in capsys.readouterr().err


def test_reference_norm_says_when_the_threshold_rests_on_noise():
    """The relative threshold's reference: root mean U over the reference points, resolved only when the mean
    U is more than 2 SE above 0 (a Hopper census point got threshold 0 from U <= 0 at 64 episodes)."""
    import numpy as np

    from landscape.fosp import reference_norm

    U = np.array([100.0, 120.0, 80.0, 100.0, -50.0, 30.0, 10.0, -10.0])  # 2 points x 4 reference points
    se = np.array([10.0, 10.0, 10.0, 10.0, 40.0, 40.0, 40.0, 40.0])
    norm, resolved = reference_norm(U, se, K=2, ref_points=4)
    assert np.allclose(norm, [10.0, 0.0]) and resolved.tolist() == [True, False]


def test_library_run_equals_the_cli(tmp_path):
    """`python -m landscape.fosp` is parse -> FospSpec -> fosp.run: the same report, parameters and figure."""
    from landscape.fosp import FospSpec, run

    ckpt = tmp_path / "toy.pt"
    checkpoint.save(trap.make_agent(trap.TRAP), ckpt)
    small = dict(steps=1, grad_episodes=4, ref_points=2, ref_episodes=8, start_episodes=8, budget=16, episodes=2)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in small.items()]
    fosp_main(["--ckpt", str(ckpt), "--params", "weights", *flags, "--out", str(tmp_path / "cli.json")])
    report = run(FospSpec(str(ckpt), params="weights", out=str(tmp_path / "lib.json"), **small), progress=False)
    cli = json.loads((tmp_path / "cli.json").read_text())
    assert json.loads(json.dumps(report)) == cli == json.loads((tmp_path / "lib.json").read_text())
    assert list(report["settings"]) == [k for k in FospSpec.__dataclass_fields__ if k not in ("ckpt", "out")]
    with np.load(tmp_path / "cli.npz") as a, np.load(tmp_path / "lib.npz") as b:
        assert np.array_equal(a["thetas"], b["thetas"]) and np.array_equal(a["starts"], b["starts"])
    assert (tmp_path / "lib.png").read_bytes() == (tmp_path / "cli.png").read_bytes()


@pytest.mark.parametrize(
    "fields, name",
    [
        ({"steps": -1}, "steps"),
        ({"step": float("nan")}, "step"),
        ({"params": "bias"}, "params"),
        ({"grad_episodes": 2}, "grad_episodes"),
        ({"attack": "none", "test_objectives": "adversarial"}, "test_objectives"),
        ({"attack": "none", "objective": "adversarial"}, "attack"),
    ],
)
def test_spec_refuses_a_bad_field_naming_it(fields, name):
    from landscape.core.specs import SpecError
    from landscape.fosp import FospSpec

    with pytest.raises(SpecError) as err:
        FospSpec("missing.pt", **fields)  # refused when built, before the checkpoint is looked for
    assert err.value.field == name and "\n" not in str(err.value)
