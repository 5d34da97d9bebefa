"""Bundled checkpoints by name (landscape/io/bundled.py) and the `landscape` entry point (landscape/cli.py)."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from landscape import cli
from landscape.attacks import cache_path
from landscape.core.errors import LandscapeError
from landscape.io import bundled, checkpoint

PKG = Path(bundled.__file__).resolve().parents[1]  # landscape/
STUDY_EPS = {"ant": 0.15, "halfcheetah": 0.15, "hopper": 0.075, "walker2d": 0.05}  # the study's budget per environment


def test_the_bundled_checkpoints_and_their_attackers_are_package_data():
    stems = [f"{env}_{algo}" for env in sorted(STUDY_EPS) for algo in ("arpo", "barpo", "spo")]
    assert bundled.names() == stems
    for name in bundled.names():
        f = bundled.DIRECTORY / f"{name}.pt"
        assert f.parent == PKG / "checkpoints"
        eps = STUDY_EPS[name.split("_")[0]]
        assert checkpoint.load(f).eps == eps
        for attack in ("optimal", "paad"):
            assert cache_path(f, attack, eps).is_file()
        assert cache_path(f, "rs").is_file()


@pytest.mark.parametrize("name", ["hopper_arpo.pt", "hopper_arpo", "checkpoints/hopper_arpo.pt"])
def test_a_bundled_name_resolves_from_any_directory_and_says_so(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    path = bundled.resolve(name)
    assert path == bundled.DIRECTORY / "hopper_arpo.pt"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    agent = checkpoint.load(name)  # the hook in checkpoint.load
    assert agent.algo == "arpo" and agent.env_id == "Hopper-v5"
    assert checkpoint.load_raw(name)["algo"] == "arpo"
    # learned attackers are looked up beside the resolved file: the bundled caches
    assert cache_path(path, "optimal", agent.eps).is_file()


def test_learned_set_of_a_bundled_name_is_the_one_beside_the_bundled_file(tmp_path, monkeypatch, capsys):
    from landscape.attacks import learned

    monkeypatch.chdir(tmp_path)  # nothing here: `--list` must read the set beside the bundled checkpoint
    learned.main(["--ckpt", "hopper_barpo", "--attack", "paad", "--list"])
    out = capsys.readouterr().out
    assert str(bundled.DIRECTORY / "hopper_barpo.pt") in out and "<- selected" in out
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_working_directory_wins_over_the_bundled_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hopper_spo.pt").write_bytes((bundled.DIRECTORY / "hopper_arpo.pt").read_bytes())
    assert bundled.resolve("hopper_spo.pt") == Path("hopper_spo.pt")
    assert checkpoint.load("hopper_spo.pt").algo == "arpo"
    assert capsys.readouterr().err == ""


def test_an_unknown_name_lists_the_bundled_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("hopper_foo.pt", "hopper_foo"):
        with pytest.raises(
            LandscapeError,
            match=r"checkpoint not found: hopper_foo.*hopper_arpo, hopper_barpo, "
            r"hopper_spo",
        ):
            checkpoint.load(name)
    # a missing path with a directory, or a lineage file, keeps the caller's own error
    assert bundled.resolve("runs/hopper_spo.pt") == Path("runs/hopper_spo.pt")
    assert bundled.resolve("x.model") == Path("x.model")
    with pytest.raises(LandscapeError, match="checkpoint not found: runs/hopper_spo.pt"):
        checkpoint.load("runs/hopper_spo.pt")


def test_cli_unknown_name_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "landscape.scan", "--ckpt", "nope.pt"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: checkpoint not found: nope.pt (no such file here; bundled: ant_arpo, ant_barpo, ant_spo, halfcheetah_arpo, halfcheetah_barpo, halfcheetah_spo, hopper_arpo, hopper_barpo, hopper_spo, walker2d_arpo, walker2d_barpo, walker2d_spo)"
    ]


def test_every_command_module_is_a_subcommand():
    root = PKG
    mains = {
        p.stem
        for p in root.glob("*.py")
        if re.search(r'^if __name__ == "__main__":', p.read_text(), re.M) and p.stem not in ("cli", "__main__")
    }
    assert mains == set(cli.COMMANDS)
    for name in cli.COMMANDS:
        assert callable(importlib.import_module(f"landscape.{name}").main)


def test_landscape_help_lists_the_subcommands_one_line_each():
    done = subprocess.run([sys.executable, "-m", "landscape", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for name, text in cli.COMMANDS.items():
        assert re.search(rf"^  {name} +{re.escape(text)}$", done.stdout, re.M)
    assert f"bundled one ({', '.join(bundled.names())}) from any directory" in " ".join(done.stdout.split())
    bad = subprocess.run([sys.executable, "-m", "landscape", "scna"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        f"error: unknown command 'scna' (commands: {', '.join(cli.COMMANDS)})"
    ]


def test_dispatch_runs_the_module_main_with_the_rest(monkeypatch):
    seen = {}
    monkeypatch.setattr(importlib.import_module("landscape.evaluate"), "main", lambda argv: seen.setdefault("a", argv))
    cli.main(["evaluate", "--ckpt", "hopper_spo", "--episodes", "1"])
    assert seen["a"] == ["--ckpt", "hopper_spo", "--episodes", "1"]
