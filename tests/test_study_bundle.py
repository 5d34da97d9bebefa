"""analyses/study/bundle.py: the bundled default checkpoints are each study's median-robustness seeds."""

import filecmp
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("study_bundle", ROOT / "analyses/study/bundle.py")
bundle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bundle)


@pytest.mark.parametrize(
    "worst, seed",
    [
        ({0: 42.0, 1: 395.0, 2: 44.0}, 2),  # Hopper SPO: the median is 44, not the best (395)
        ({0: 5.0, 1: 1.0, 2: 3.0, 3: 4.0}, 2),  # even count: the lower middle
        ({0: 7.0, 1: 7.0, 2: 7.0}, 1),  # ties go by seed
        ({4: -3.0}, 4),
    ],
)
def test_median_seed(worst, seed):
    assert bundle.median_seed(worst) == seed


@pytest.mark.parametrize(
    "env, prefix, seeds",
    [
        ("hopper", "hopper", {"spo": 2, "arpo": 1, "barpo": 1}),
        ("walker2d", "walker2d", {"spo": 0, "arpo": 1, "barpo": 1}),
        ("halfcheetah", "halfcheetah", {"spo": 1, "arpo": 0, "barpo": 1}),
        ("ant", "ant", {"spo": 2, "arpo": 0, "barpo": 1}),
    ],
)
def test_bundled_checkpoints_are_the_median_seeds(env, prefix, seeds):
    chosen = bundle.choose(str(ROOT / f"analyses/study/{env}.toml"))
    assert {algo: pick["spec"]["seed"] for algo, pick in chosen.items()} == seeds
    for algo, pick in chosen.items():
        run = Path(pick["spec"]["ckpt"])
        stem = f"{prefix}_{algo}"
        for suffix in (".pt", ".rs.pt"):
            assert filecmp.cmp(run.with_name(run.stem + suffix), bundle.BUNDLED / (stem + suffix), shallow=False)
        # the learned attackers' runs: every one the study trained is in the bundled set, unchanged (a bundled set
        # may have grown since, as Hopper's PA-AD set did in analyses/attacks/tuning/)
        for sets in run.parent.glob(f"{run.stem}.*.runs"):
            bundled = bundle.BUNDLED / sets.name.replace(run.stem, stem, 1)
            for f in sets.glob("*.pt"):
                assert filecmp.cmp(f, bundled / f.name, shallow=False), f"{bundled.name}/{f.name}"


def test_bundle_copies_the_checkpoint_and_its_attackers_under_the_new_stem(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    stem = "Ant-v5_arpo_s1"
    for name in (f"{stem}.pt", f"{stem}.rs.pt", f"{stem}.optimal-eps0.15.pt", f"{stem}.paad-eps0.15.pt"):
        (runs / name).write_text(name)
    for kind in ("optimal", "paad"):
        (runs / f"{stem}.{kind}-eps0.15.runs").mkdir()
        (runs / f"{stem}.{kind}-eps0.15.runs" / "runs.json").write_text(kind)
    dest = tmp_path / "checkpoints"
    dest.mkdir()
    spec = {"name": stem, "env": "Ant-v5", "algo": "arpo", "ckpt": str(runs / f"{stem}.pt")}
    written = {p.name for p in bundle.bundle(spec, "ant", dest)}
    assert written == {
        "ant_arpo.pt",
        "ant_arpo.rs.pt",
        "ant_arpo.optimal-eps0.15.pt",
        "ant_arpo.paad-eps0.15.pt",
        "ant_arpo.optimal-eps0.15.runs",
        "ant_arpo.paad-eps0.15.runs",
    }
    assert (dest / "ant_arpo.paad-eps0.15.runs" / "runs.json").read_text() == "paad"
    assert (dest / "ant_arpo.pt").read_text() == f"{stem}.pt"


def test_bundle_refuses_a_run_without_its_attackers(tmp_path):
    (tmp_path / "Ant-v5_spo_s0.pt").write_text("x")
    spec = {"name": "Ant-v5_spo_s0", "env": "Ant-v5", "algo": "spo", "ckpt": str(tmp_path / "Ant-v5_spo_s0.pt")}
    with pytest.raises(SystemExit, match="lacks .*rs.pt"):
        bundle.bundle(spec, "ant", tmp_path)
