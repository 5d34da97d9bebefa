"""Packaging: a regular (non-editable) wheel carries the bundled checkpoints, and the user's command runs from
it in a fresh virtual environment, from an empty directory outside the clone (also `bash .ci/wheel_smoke`,
which runs the command with its default metrics)."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("setuptools") is None,
    reason="building the wheel without network needs setuptools installed here",
)


def test_wheel_runs_the_users_command_outside_the_clone(tmp_path):
    src, work, venv = tmp_path / "src", tmp_path / "work", tmp_path / "venv"
    src.mkdir()
    work.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src)
    shutil.copytree(ROOT / "landscape", src / "landscape", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("landscape-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled_envs = (("hopper", 0.075), ("walker2d", 0.05), ("halfcheetah", 0.15), ("ant", 0.15))
    shipped = 0
    for env, eps in bundled_envs:
        for stem in (f"{env}_spo", f"{env}_arpo", f"{env}_barpo"):
            for f in (f"{stem}.pt", f"{stem}.rs.pt", f"{stem}.optimal-eps{eps}.pt", f"{stem}.paad-eps{eps}.pt"):
                assert f"landscape/checkpoints/{f}" in names
                shipped += (ROOT / "landscape" / "checkpoints" / f).stat().st_size
    # the checkpoints with their selected attackers only, not the attackers' run sets (each set holds at least two
    # more checkpoints per attacker): those files (torch's zip format barely compresses) and the code, 0.26 MB
    # compressed on 2026-12-07
    assert wheel.stat().st_size < shipped + 300_000
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    py, cli = venv / "bin" / "python", venv / "bin" / "landscape"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(py), "-c", "import landscape; print(landscape.__file__)"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), f"the venv imports landscape from {where}, not from the wheel"
    installed = Path(where).parent / "checkpoints"

    small = ["--resolution", "5", "--episodes", "1", "--no-render"]
    a = subprocess.run(
        [
            str(py),
            "-m",
            "landscape.scan",
            "--ckpt",
            "hopper_arpo.pt",
            *small,
            "--metrics",
            "natural",
            "--out",
            str(tmp_path / "arpo"),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert a.returncode == 0, a.stderr
    assert f"using the bundled checkpoint {installed / 'hopper_arpo.pt'}" in a.stderr
    # the learned optimal adversary comes from the cache beside the bundled file (a scan never trains one)
    b = subprocess.run(
        [
            str(cli),
            "scan",
            "--ckpt",
            "hopper_spo",
            *small,
            "--metrics",
            "natural,adversarial",
            "--attack",
            "optimal",
            "--out",
            str(tmp_path / "spo"),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert b.returncode == 0, b.stderr
    meta = json.loads((tmp_path / "spo" / "scan.json").read_text())
    assert meta["ckpt"] == str(installed / "hopper_spo.pt") and meta["attack"]["name"] == "optimal"
    assert (tmp_path / "arpo" / "surface.npz").is_file() and (tmp_path / "spo" / "surface.npz").is_file()
    assert not any(work.iterdir()), "the scans wrote into the working directory"
    bad = subprocess.run([str(cli), "scan", "--ckpt", "hopper_nope"], cwd=work, env=env, capture_output=True, text=True)
    assert (
        bad.returncode == 2
        and "bundled: ant_arpo, ant_barpo, ant_spo, halfcheetah_arpo, halfcheetah_barpo, halfcheetah_spo, hopper_arpo"
        in bad.stderr
    )
