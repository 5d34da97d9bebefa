"""The library layer: typed specs (one-line errors naming the field), the README's Python example, and
the sweep's results of the committed study still counted as finished."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.core.errors import LandscapeError
from landscape.evaluate import EvalSpec
from landscape.io import checkpoint
from landscape.model.agent import Agent
from landscape.probes.scanning import ScanSpec
from landscape.robust.robust_trainer import RobustSpec
from landscape.train import TrainSpec

ROOT = Path(__file__).resolve().parent.parent


def toy(path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    agent = Agent.new("ToyTarget-v0", 2, 1, hidden=(4,))
    agent.obs_norm.count, agent.obs_norm.frozen = 1.0, True
    checkpoint.save(agent, path)
    return path


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- library-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its library example"
    return match.group(1)


def test_readme_example_scans_and_reads_the_surface(tmp_path, monkeypatch, capsys):
    ckpt = toy(tmp_path / "toy.pt")
    code = readme_example()
    assert '"hopper_spo"' in code
    monkeypatch.chdir(tmp_path)  # its store goes to tmp_path/scans/
    scope = {}
    exec(compile(code.replace('"hopper_spo"', repr(str(ckpt))), "README example", "exec"), scope)
    surface = scope["surface"]
    assert surface.values("natural").shape == (5, 5) and surface.done.all()
    assert np.isfinite(surface.se("adversarial")).all()
    assert (tmp_path / "scans" / "spo_small" / "surface.npz").exists()
    assert "best natural return" in capsys.readouterr().out


def test_scan_library_equals_the_cli(tmp_path):
    """`python -m landscape.scan` is parse -> ScanSpec -> scanning.run: same store key, same numbers."""
    from landscape.probes.scanning import run
    from landscape.scan import main as scan_main

    ckpt = toy(tmp_path / "toy.pt")
    scan_main(
        [
            "--ckpt",
            str(ckpt),
            "--out",
            str(tmp_path / "cli"),
            "--resolution",
            "3",
            "--episodes",
            "1",
            "--metrics",
            "natural,adversarial",
            "--no-render",
        ]
    )
    s = run(
        ScanSpec(str(ckpt), out=str(tmp_path / "lib"), resolution=3, episodes=1, metrics=("natural", "adversarial")),
        progress=False,
    )
    cli = json.loads((tmp_path / "cli" / "scan.json").read_text())
    assert s.meta["key"] == cli["key"]
    with np.load(tmp_path / "cli" / "surface.npz") as f:
        assert np.array_equal(f["natural"], s.surface["natural"]) and np.array_equal(
            f["adversarial"], s.surface["adversarial"]
        )


def test_evaluate_library_returns_the_json_of_the_cli(tmp_path, capsys):
    from landscape.evaluate import EvalResult, main, run

    ckpt = toy(tmp_path / "toy.pt")
    main(["--ckpt", str(ckpt), "--episodes", "2", "--attack", "random,mad", "--json"])
    printed = json.loads(capsys.readouterr().out)
    result = run(EvalSpec(str(ckpt), episodes=2, attacks="random,mad"), progress=False)
    assert isinstance(result, EvalResult)
    got = result.to_dict()
    assert list(got) == list(printed)
    drop = ("wall_s", "cpu_s", "build_wall_s", "build_cpu_s")
    same = lambda d: {k: same(v) if isinstance(v, dict) else v for k, v in d.items() if k not in drop}  # noqa: E731
    assert same(got) == same(printed)


def test_train_library_returns_the_agent(tmp_path):
    from landscape.train import run

    agent = run(
        TrainSpec(
            out=str(tmp_path / "r.pt"),
            algo="arpo",
            env="ToyTarget-v0",
            steps=128,
            n_envs=2,
            steps_per_iter=64,
            eval_every=0,
            robust=RobustSpec(pgd_steps=2),
        )
    )
    assert agent.step == 128 and agent.config["robust"]["pgd_steps"] == 2
    assert checkpoint.load(tmp_path / "r.pt").step == 128


def test_train_starts_from_the_initial_std_asked_for(tmp_path):
    """--init-std sets the policy's starting std only: the same seed draws the same initial network."""
    from landscape.train import run, spec_from_flags

    nets = {}
    for std in (1.0, 0.5):
        torch.manual_seed(3)
        nets[std] = Agent.new("ToyTarget-v0", 2, 2, init_std=std).actor
    assert torch.equal(nets[0.5].log_std.detach(), torch.full((2,), math.log(0.5)))
    assert all(torch.equal(a, b) for a, b in zip(nets[1.0].net.parameters(), nets[0.5].net.parameters()))
    flags = ["--env", "ToyTarget-v0", "--steps", "64", "--steps-per-iter", "64", "--eval-every", "0"]
    spec = spec_from_flags([*flags, "--out", str(tmp_path / "r.pt"), "--init-std", "0.5"])
    agent = run(spec)  # one iteration: the std moves a little from 0.5
    assert agent.config["init_std"] == 0.5
    assert torch.allclose(agent.actor.log_std.detach().exp(), torch.full((2,), 0.5), atol=0.02)
    # the default is the environment's: HalfCheetah starts at 0.5 (SA-PPO's and CAR-PPO's configs), the toys at 1
    cheetah = ["--env", "HalfCheetah-v5", "--steps", "64", "--steps-per-iter", "64", "--eval-every", "0"]
    assert run(spec_from_flags([*cheetah, "--out", str(tmp_path / "c.pt")])).config["init_std"] == 0.5
    assert run(spec_from_flags([*flags, "--out", str(tmp_path / "t.pt")])).config["init_std"] == 1.0


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: EvalSpec("x.pt", episodes=0), "episodes"),
        (lambda: EvalSpec("x.pt", attacks="mad", eps=float("nan")), "eps"),
        (lambda: EvalSpec("x.pt", attacks="fgsm"), "fgsm"),
        (lambda: EvalSpec("x.pt", eps=0.1), "attacks"),
        (lambda: TrainSpec("r.pt", algo="ppo"), "algo"),
        (lambda: TrainSpec("r.pt", steps_per_iter=0), "steps_per_iter"),
        (lambda: TrainSpec("r.pt", env="Nope-v0"), "Nope-v0"),
        (lambda: TrainSpec("r.pt", robust=RobustSpec(pgd_steps=3)), "pgd_steps"),
        (lambda: TrainSpec("r.pt", init_std=0.0), "init_std"),
        (lambda: TrainSpec("r.pt", algo="adversary", victim="v.pt", init_std=0.5), "init_std"),
        (lambda: RobustSpec(inner="adam"), "inner"),
        (lambda: ScanSpec("x.pt", chunk=0), "chunk"),
        (lambda: ScanSpec("x.pt", span=float("inf")), "span"),
        (lambda: ScanSpec("x.pt", metrics="natural,height"), "height"),
        (lambda: ScanSpec("x.pt", directions="random"), "directions"),
        (lambda: ScanSpec("x.pt", backend="slurm"), "backend"),
        (lambda: ScanSpec("x.pt", range="1,0"), "range"),
    ],
)
def test_specs_refuse_bad_fields_in_one_line_naming_them(make, field):
    """Validated when built, before any file is read: one line that names the field."""
    with pytest.raises(LandscapeError) as err:
        make()
    msg = str(err.value)
    assert field in msg and "\n" not in msg, msg


def test_committed_study_results_are_finished():
    """The sweep's spec format is unchanged: the committed Hopper study's results (written by the code
    before the library layer) still count as finished, so its runs are never redone."""
    from landscape.sweep import finished, load_config, result_path, run_specs

    cfg = load_config(ROOT / "analyses/study/hopper.toml")
    specs = {s["name"]: s for s in run_specs(cfg)}
    results = sorted((ROOT / "analyses/study/hopper/results").glob("*.json"))
    assert results, "no committed results"
    for path in results:
        name = json.loads(path.read_text())["name"]
        assert result_path(cfg, name) == path
        assert finished(cfg, specs[name]), name
    unfinished = [n for n in specs if not result_path(cfg, n).exists()]
    assert all(not finished(cfg, specs[n]) for n in unfinished)


def test_compare_library_equals_the_cli(tmp_path, monkeypatch):
    """`python -m landscape.compare` is parse -> CompareSpec -> compare.run: the same page, byte for byte."""
    from landscape.compare import CompareSpec, run
    from landscape.compare import main as compare_main

    a, b = toy(tmp_path / "a.pt", 0), toy(tmp_path / "b.pt", 1)
    for name in ("cli", "lib"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "cli")  # the same relative page and store paths in both
    compare_main([str(a), str(b), "--resolution", "3", "--episodes", "1", "--grad-episodes", "3", "--out", "c.html"])
    monkeypatch.chdir(tmp_path / "lib")
    data = run(CompareSpec((str(a), str(b)), resolution=3, episodes=1, grad_episodes=3, out="c.html"), progress=False)
    assert (tmp_path / "lib" / "c.html").read_bytes() == (tmp_path / "cli" / "c.html").read_bytes()
    assert [p["id"] for p in data["points"]] == ["A", "B"]
    with pytest.raises(LandscapeError) as err:
        CompareSpec(("a.pt",), resolution=61)  # refused when built, before any checkpoint is read
    assert err.value.field == "resolution" and "\n" not in str(err.value)
