import json

import numpy as np
import torch

from landscape.io import checkpoint
from landscape.rl.ppo import PPOConfig
from landscape.sim.toys import trap
from landscape.sticky import main as sticky_main
from landscape.sticky import ppo_paths, restart_points, summarize, toy_paths


def test_restart_points_on_the_sphere_and_mask():
    theta = torch.arange(6, dtype=torch.float32)
    mask = torch.tensor([0, 1, 1, 1, 0, 1], dtype=torch.bool)
    pts = restart_points(theta, mask, 5, 0.3, seed=1)
    assert torch.allclose((pts - theta).norm(dim=1), torch.full((5,), 0.3))
    assert torch.all(pts[:, ~mask] == theta[~mask])


def test_summarize_fall_back_and_escape_times():
    theta = torch.zeros(2)
    paths = torch.tensor([[[1.0, 0], [0.5, 0], [0.2, 0]], [[1.0, 0], [1.5, 0], [2.5, 0]]])
    s = summarize(theta, paths, radius=1.0, escape=2.0)
    assert s["fell_back"] == [True, False] and s["escape_times"] == [None, 2] and s["fall_back_share"] == 0.5


def test_trap_is_sticky_under_arpo_not_under_spo_or_barpo():
    theta = trap.to_theta(trap.TRAP)
    starts = restart_points(theta, trap.make_agent().space.mask({"weight"}), 8, 0.2, seed=0)
    result = {}
    for obj in ("spo", "arpo", "barpo"):
        paths = toy_paths(starts, obj, 600)
        result[obj] = summarize(theta, paths, 0.2, 3.0)
    assert result["arpo"]["fall_back_share"] == 1.0 and result["arpo"]["escaped_share"] == 0.0
    assert result["spo"]["fall_back_share"] == 0.0 and result["spo"]["escaped_share"] == 1.0
    assert result["barpo"]["escaped_share"] > result["arpo"]["escaped_share"]  # the ramp starts SPO-like


def test_ppo_restarts_run_the_trainers_losses():
    agent = trap.make_agent(trap.TRAP)
    theta = agent.space.flatten(agent.actor)
    starts = restart_points(theta, agent.space.mask({"weight"}), 2, 0.1)
    cfg = PPOConfig(steps_per_iter=64, minibatches=4, epochs=2, anneal_lr=False)
    for obj in ("spo", "arpo", "barpo"):
        paths, agents = ppo_paths(agent, starts, obj, 2, trap.EPS, cfg, progress=False)
        assert paths.shape == (2, 3, theta.numel()) and torch.isfinite(paths).all()
        assert not torch.equal(paths[:, 0], paths[:, -1])  # the updates moved the policy
        assert agents[0].obs_norm.frozen


def test_cli_exact(tmp_path):
    ckpt = tmp_path / "toy.pt"
    checkpoint.save(trap.make_agent(trap.TRAP), ckpt)
    out = tmp_path / "sticky.json"
    sticky_main(
        [
            "--ckpt",
            str(ckpt),
            "--exact",
            "--objectives",
            "spo,arpo",
            "-K",
            "4",
            "--radius",
            "0.1",
            "--updates",
            "400",
            "--params",
            "weights",
            "--attack",
            "none",
            "--out",
            str(out),
        ]
    )
    rep = json.loads(out.read_text())
    assert rep["objectives"]["arpo"]["fall_back_share"] == 1.0 and rep["objectives"]["spo"]["fall_back_share"] == 0.0
    from PIL import Image

    assert np.allclose(Image.open(out.with_suffix(".png")).info["dpi"], 300, atol=0.01)  # as the README promises
    assert np.mean(rep["objectives"]["spo"]["returns_reached"]["natural"]) > rep["at_point"]["natural"][0]
    assert (tmp_path / "sticky.png").exists()


def test_against_null_exact_p_values():
    from math import comb

    from landscape.sticky import against_null

    def rep(final, fell):
        return {"distances": [[1.0, f] for f in final], "fell_back": fell}

    far = rep([3.0 + 0.1 * i for i in range(8)], [False] * 8)
    near = rep([0.5 + 0.01 * i for i in range(8)], [True] * 8)
    v = against_null(far, near, radius=1.0)
    assert abs(v["mann_whitney_p"] - 2 / comb(16, 8)) < 1e-9 and v["differs_from_null"]  # complete separation
    assert abs(v["fisher_p"] - 2 / comb(16, 8)) < 1e-9
    same = against_null(near, near, radius=1.0)
    assert same["mann_whitney_p"] > 0.9 and not same["differs_from_null"]
    four = against_null(rep([3, 3.1, 3.2, 3.3], [False] * 4), rep([1, 1.1, 1.2, 1.3], [False] * 4), 1.0)
    assert abs(four["smallest_attainable_p"] - 2 / 70) < 1e-12  # K = 4 can barely reach 0.05 at all


def test_null_objective_shuffles_advantages():
    """The null runs SPO's update on permuted advantages: from the same starts and seeds it moves, but not along
    SPO's path."""
    agent = trap.make_agent(trap.TRAP)
    theta = agent.space.flatten(agent.actor)
    starts = restart_points(theta, agent.space.mask({"weight"}), 2, 0.1)
    cfg = PPOConfig(steps_per_iter=64, minibatches=4, epochs=2, anneal_lr=False)
    spo, _ = ppo_paths(agent, starts, "spo", 2, trap.EPS, cfg, progress=False)
    null, _ = ppo_paths(agent, starts, "null", 2, trap.EPS, cfg, progress=False)
    assert torch.isfinite(null).all() and not torch.equal(null[:, 0], null[:, -1])
    assert torch.equal(spo[:, 0], null[:, 0]) and not torch.allclose(spo[:, -1], null[:, -1])


def test_library_run_equals_the_cli(tmp_path):
    """`python -m landscape.sticky` is parse -> StickySpec -> sticky.run: the same report and figure (PPO
    restarts with the null, and the exact dynamics)."""
    from landscape.sticky import StickySpec, run

    ckpt = tmp_path / "toy.pt"
    checkpoint.save(trap.make_agent(trap.TRAP), ckpt)
    sampled = dict(objectives="spo", restarts=2, updates=1, steps_per_iter=64, episodes=1)
    exact = dict(exact=True, objectives="spo,arpo", restarts=3, radius=0.1, updates=20, attack="none")
    for name, small in (("sampled", sampled), ("exact", exact)):
        flags = [f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')}={v}" for k, v in small.items()]
        sticky_main(["--ckpt", str(ckpt), "--params", "weights", *flags, "--out", str(tmp_path / f"cli_{name}.json")])
        spec = StickySpec(str(ckpt), params="weights", out=str(tmp_path / f"lib_{name}.json"), **small)
        report = run(spec, progress=False)
        cli = json.loads((tmp_path / f"cli_{name}.json").read_text())
        assert json.loads(json.dumps(report)) == cli == json.loads((tmp_path / f"lib_{name}.json").read_text()), name
        assert (tmp_path / f"lib_{name}.png").read_bytes() == (tmp_path / f"cli_{name}.png").read_bytes()
    assert "null" in json.loads((tmp_path / "lib_sampled.json").read_text())["objectives"]  # beside spo


def test_spec_refuses_a_bad_field_naming_it():
    import pytest

    from landscape.core.specs import SpecError
    from landscape.sticky import StickySpec

    for fields, name in (
        ({"objectives": "spo,ppo"}, "objectives"),
        ({"restarts": 0}, "restarts"),
        ({"escape": 1.0}, "escape"),
        ({"radius": float("inf")}, "radius"),
        ({"exact": True, "objectives": ("spo", "null")}, "objectives"),
    ):
        with pytest.raises(SpecError) as err:
            StickySpec("missing.pt", **fields)
        assert err.value.field == name and "\n" not in str(err.value)
    assert StickySpec("x.pt", objectives=("spo", "barpo"), radius=1).settings()["objectives"] == "spo,barpo"
