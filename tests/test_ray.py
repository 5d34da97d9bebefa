"""The Ray backend on a real local cluster (`ray start --head`, 2 CPUs, this machine only).

Skipped only when Ray is not installed (CI installs the `ray` extra, so these run there).
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from landscape.io import checkpoint  # noqa: E402
from landscape.model.agent import Agent  # noqa: E402
from landscape.scan import main as scan_main  # noqa: E402
from landscape.sweep import main as sweep_main  # noqa: E402


# ports a Ray head takes by default whatever --port says (dashboard, its agent, client server, workers): a free
# port the OS hands out can be one of them (52365 was, on 2026-12-07), and `ray start` then refuses the clash
RAY_DEFAULT_PORTS = {6379, 8265, 10001, 52365, *range(10002, 20000)}


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in RAY_DEFAULT_PORTS:
            return port


@pytest.fixture(scope="module")
def cluster():
    """A head node with 2 CPUs in its own process group; stopped (only it) even when a test fails."""
    tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live under it
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--head",
        "--block",
        "--num-cpus",
        "2",
        "--node-ip-address",
        "127.0.0.1",
        "--port",
        str(port),
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--temp-dir",
        tmp,
    ]
    # Ray turns token authentication on when ~/.ray/auth_token exists (any earlier local ray.init() leaves
    # one); this private loopback cluster and its one client agree to run without it
    saved_mode = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    log_path = Path(tmp) / "start.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.time() + 180  # a loaded 2-core machine can take a while to bring a head up
        while "Ray runtime started" not in log_path.read_text():
            assert proc.poll() is None and time.time() < deadline, "ray start failed: " + log_path.read_text()[-2000:]
            time.sleep(0.2)
        ray.init(address=address, log_to_driver=False, logging_level="WARNING")
        yield {"address": address, "pid": proc.pid}
    finally:
        ray.shutdown()
        proc.terminate()  # `ray start --block` drains and stops the processes it started (about 2 s)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # last resort: the cluster's own process group, nothing else
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if saved_mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved_mode


def _descendants(root: int) -> list[int]:
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, frontier = [], [root]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        out += kids
        frontier = kids
    return out


def _busy_chunk_workers(root: int) -> list[int]:
    """Our cluster's worker processes that are computing a chunk now (Ray titles them ray::<task>)."""
    busy = []
    for pid in _descendants(root):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::scan_chunk"):
                busy.append(pid)
        except OSError:
            pass
    return busy


@pytest.fixture(scope="module")
def hopper_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    agent = Agent.new("Hopper-v5", 11, 3)
    agent.obs_norm.update(np.random.default_rng(0).normal(size=(100, 11)))
    path = tmp_path_factory.mktemp("ckpt") / "hopper.pt"
    checkpoint.save(agent, path)
    return path


def _scan(ckpt, out, *extra):
    scan_main(
        [
            "--ckpt",
            str(ckpt),
            "--out",
            str(out),
            "--metrics",
            "natural,adversarial",
            "--attack",
            "mad",
            "--eps",
            "0.075",
            "--episodes",
            "2",
            "--resolution",
            "3",
            "--chunk",
            "1",
            "--no-render",
            *extra,
        ]
    )
    return np.load(Path(out) / "surface.npz")


def test_ray_scan_equals_local_and_survives_a_killed_worker(cluster, hopper_ckpt, tmp_path):
    local = _scan(hopper_ckpt, tmp_path / "local")
    out = tmp_path / "ray"
    killed = []

    def kill_a_worker():  # once the scan is under way, SIGKILL a worker in the middle of a chunk
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            if len(list((out / "chunks").glob("[0-9]*.npz"))) >= 2:
                for pid in _busy_chunk_workers(cluster["pid"])[:1]:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_worker, daemon=True)
    killer.start()
    remote = _scan(hopper_ckpt, out, "--backend", "ray", "--address", cluster["address"])
    killer.join()
    assert killed, "no worker was killed mid-scan"
    assert local["done"].all() and remote["done"].all()
    for m in ("natural", "natural_se", "adversarial", "adversarial_se"):
        assert np.array_equal(local[m], remote[m]), m  # same chunks, same seeds: bit for bit
    assert not np.array_equal(remote["natural"], remote["adversarial"])  # the attack did something

    # resumption as locally: only missing chunks are computed, finished ones are never rewritten
    chunks = sorted((out / "chunks").glob("[0-9]*.npz"))
    for p in chunks[3:5]:
        p.unlink()
    before = {p.name: p.stat().st_mtime_ns for p in chunks[:3] + chunks[5:]}
    again = _scan(hopper_ckpt, out, "--backend", "ray", "--address", cluster["address"])
    assert all((out / "chunks" / k).stat().st_mtime_ns == v for k, v in before.items())
    assert np.array_equal(again["adversarial"], local["adversarial"]) and again["done"].all()


def test_ray_scan_ships_the_learned_adversary_cached_beside_the_checkpoint(cluster, tmp_path):
    """--attack optimal without --adversary reads `<stem>.optimal-eps<E>.pt` beside the checkpoint; the Ray
    workers get that file too (before, only a given --adversary was shipped and every task failed)."""
    from landscape.attacks import cache_path, fingerprint

    torch.manual_seed(0)
    victim = Agent.new("ToyTarget-v0", 2, 1, hidden=(4,))
    victim.obs_norm.count, victim.obs_norm.frozen = 1.0, True
    ckpt = tmp_path / "toy.pt"
    checkpoint.save(victim, ckpt)
    adv = Agent.new(
        "ToyTarget-v0",
        2,
        2,
        algo="adversary",
        eps=0.1,
        config={"victim_env": "ToyTarget-v0", "eps": 0.1, "victim_fingerprint": fingerprint(victim)},
    )
    with torch.no_grad():
        adv.actor.net[-1].weight.mul_(100)
    checkpoint.save(adv, cache_path(ckpt, "optimal", 0.1))
    argv = [
        "--ckpt",
        str(ckpt),
        "--metrics",
        "natural,adversarial",
        "--attack",
        "optimal",
        "--eps",
        "0.1",
        "--episodes",
        "2",
        "--resolution",
        "3",
        "--chunk",
        "3",
        "--no-render",
    ]
    scan_main([*argv, "--out", str(tmp_path / "local")])
    scan_main([*argv, "--out", str(tmp_path / "ray"), "--backend", "ray", "--address", cluster["address"]])
    local, remote = np.load(tmp_path / "local" / "surface.npz"), np.load(tmp_path / "ray" / "surface.npz")
    assert remote["done"].all()
    for m in ("natural", "adversarial", "adversarial_se"):
        assert np.array_equal(local[m], remote[m]), m
    assert not np.array_equal(local["natural"], local["adversarial"])  # the adversary did something


def test_ray_scan_of_an_imported_model_ships_what_was_loaded(cluster, tmp_path):
    """An SB3 model's VecNormalize statistics live in a side file: the workers get the agent as loaded
    (re-saved in our format), so the Ray scan equals the local one (before, they ran without the statistics)."""
    from test_imported import _sb3_zip, _vecnormalize

    _sb3_zip(tmp_path / "ppo.zip")
    _vecnormalize(tmp_path / "ppo_vecnormalize.pkl")
    argv = [
        "--ckpt",
        str(tmp_path / "ppo.zip"),
        "--metrics",
        "natural",
        "--episodes",
        "2",
        "--resolution",
        "3",
        "--chunk",
        "3",
        "--no-render",
    ]
    scan_main([*argv, "--out", str(tmp_path / "local")])
    scan_main([*argv, "--out", str(tmp_path / "ray"), "--backend", "ray", "--address", cluster["address"]])
    local, remote = np.load(tmp_path / "local" / "surface.npz"), np.load(tmp_path / "ray" / "surface.npz")
    assert remote["done"].all() and np.array_equal(local["natural"], remote["natural"])


def _sweep_config(tmp_path, out, seeds=(0, 1)) -> Path:
    cfg = {
        "out": str(out),
        "algos": ["spo"],
        "envs": ["ToyTarget-v0"],
        "seeds": list(seeds),
        "steps": 128,
        "train_flags": ["--steps-per-iter", "64", "--n-envs", "2", "--eval-every", "0"],
        "evaluation": {"episodes": 4, "seed": 0, "attacks": ["random"]},
    }
    path = tmp_path / f"{out.name}.json"
    path.write_text(json.dumps(cfg))
    return path


def test_ray_sweep_trains_evaluates_and_tabulates(cluster, tmp_path):
    on_ray, here = tmp_path / "sweep_ray", tmp_path / "sweep_local"
    sweep_main([str(_sweep_config(tmp_path, on_ray)), "--backend", "ray", "--address", cluster["address"]])
    sweep_main([str(_sweep_config(tmp_path, here, seeds=[1]))])  # the same run, alone, in this process
    res = {s: json.loads((on_ray / "results" / f"ToyTarget-v0_spo_s{s}.json").read_text()) for s in (0, 1)}
    for s, r in res.items():
        assert r["steps"] == 128 and set(r["attacks"]) == {"random"} and r["worst"]["attack"] == "random"
        assert (on_ray / "runs" / f"ToyTarget-v0_spo_s{s}.pt").exists()
    loc = json.loads((here / "results" / "ToyTarget-v0_spo_s1.json").read_text())
    timing = ("wall_s", "cpu_s", "build_wall_s", "build_cpu_s")
    untimed = lambda r: {f: v for f, v in r.items() if f not in timing}  # noqa: E731
    assert untimed(loc["natural"]) == untimed(res[1]["natural"])  # depends on its spec only (timings aside)
    assert {k: untimed(a) for k, a in loc["attacks"].items()} == {k: untimed(a) for k, a in res[1]["attacks"].items()}
    assert res[0]["natural"] != res[1]["natural"]  # seeds differ
    rows = (on_ray / "summary.csv").read_text().splitlines()
    assert rows[0] == "env,algo,runs,natural,random,worst"
    env, algo, runs, nat, rnd, worst = rows[1].split(",")
    assert (env, algo, runs) == ("ToyTarget-v0", "spo", "2")
    assert float(nat) == pytest.approx(statistics.median(r["natural"]["mean"] for r in res.values()))
    assert float(worst) == pytest.approx(statistics.median(r["worst"]["mean"] for r in res.values()))

    # a re-run skips finished runs: nothing is retrained or rewritten
    stamps = {p: p.stat().st_mtime_ns for p in [*(on_ray / "results").iterdir(), *(on_ray / "runs").glob("*.pt")]}
    sweep_main([str(_sweep_config(tmp_path, on_ray)), "--backend", "ray", "--address", cluster["address"]])
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())


def test_sweep_config_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('out = "x"\nalgos = ["spo", "ppo2"]\nenvs = ["Hopper-v5"]\nseeds = [0]\nsteps = 10\n')
    with pytest.raises(SystemExit) as ex:
        sweep_main([str(bad)])
    assert ex.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ppo2" in err


def test_missing_ray_is_a_one_line_error(monkeypatch):
    from landscape.core.errors import LandscapeError
    from landscape.exec.distributed import connect

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(LandscapeError, match=r'needs Ray: pip install -e "\.\[ray\]"'):
        connect(None)


def test_task_errors_are_one_line():
    from landscape.core.errors import LandscapeError
    from landscape.exec.distributed import task_error

    class Failed(Exception):  # what ray.get raises: the worker's exception as .cause
        def __init__(self, cause):
            self.cause = cause

    assert str(task_error(Failed(LandscapeError("bad grid\n  traceback...")))) == "bad grid"
    assert str(task_error(Failed(ValueError("nan\nmore")))) == "a task failed on the cluster: ValueError: nan"
