"""The Ray backend against the local one: the same natural-return scan, timed end to end as a user runs it.

    python benchmarks/ray_scan.py [--ckpt PATH] [--resolution 9] [--episodes 5] [--address HEAD:PORT]

Runs `python -m landscape.scan --ckpt PATH --metrics natural --resolution R --episodes E --no-render`
twice in the same run -- `--backend local`, then `--backend ray --address ...` -- and reports the wall
time of each, the speed-up and whether the two surfaces are identical (they must be: same chunks, same
seeds). Without --address a head node with the machine's CPUs is started for the benchmark (`ray start
--head --block`, its own process group) and stopped afterwards; its start-up time is reported apart, since
on a cluster it is paid once, not per scan. Worker start-up (importing torch and MuJoCo in each worker)
is inside the Ray time. Writes benchmarks/results/ray_scan.json.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "ray_scan.json"
DEFAULT_CKPT = Path(__file__).resolve().parents[1] / "checkpoints" / "hopper_spo.pt"


def start_head(tmp: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--head",
        "--block",
        "--port",
        str(port),
        "--num-cpus",
        str(os.cpu_count()),
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--temp-dir",
        str(tmp),
    ]
    os.environ["RAY_AUTH_MODE"] = "disabled"  # a private throw-away head; its clients (the scans) agree
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    import ray

    address = f"127.0.0.1:{port}"
    for _ in range(240):  # until the head answers
        try:
            ray.init(address=address, logging_level="WARNING")
            ray.shutdown()
            return proc, address
        except (ConnectionError, RuntimeError):
            time.sleep(0.5)
    raise SystemExit("the Ray head did not come up")


def stop_head(proc: subprocess.Popen) -> None:
    proc.terminate()  # `ray start --block` drains and stops what it started
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def timed_scan(args, out: Path, *extra) -> float:
    cmd = [
        sys.executable,
        "-m",
        "landscape.scan",
        "--ckpt",
        str(args.ckpt),
        "--out",
        str(out),
        "--metrics",
        "natural",
        "--resolution",
        str(args.resolution),
        "--episodes",
        str(args.episodes),
        "--no-render",
        *extra,
    ]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default=str(DEFAULT_CKPT))
    p.add_argument("--resolution", type=int, default=9)
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--address", help="an existing cluster (default: start a head node on this machine)")
    args = p.parse_args()
    if not Path(args.ckpt).is_file():
        raise SystemExit(f"checkpoint not found: {args.ckpt} (give --ckpt)")
    tmp = Path(tempfile.mkdtemp(prefix="raybench", dir="/tmp"))
    proc = None
    try:
        load_before = os.getloadavg()
        t_local = timed_scan(args, tmp / "local")
        t = time.perf_counter()
        if args.address:
            address, t_head = args.address, None
        else:
            proc, address = start_head(tmp / "ray")
            t_head = time.perf_counter() - t
        t_ray = timed_scan(args, tmp / "remote", "--backend", "ray", "--address", address)
        load_after = os.getloadavg()
        a, b = np.load(tmp / "local" / "surface.npz"), np.load(tmp / "remote" / "surface.npz")
        identical = bool(a["done"].all() and b["done"].all() and np.array_equal(a["natural"], b["natural"]))
        meta = json.loads((tmp / "local" / "scan.json").read_text())
    finally:
        if proc is not None:
            stop_head(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    n = args.resolution**2
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "ckpt": str(args.ckpt),
        "ckpt_sha256": meta["ckpt_sha256"],
        "ckpt_step": None,
        "scan": {
            "points": n,
            "grid": f"{args.resolution}x{args.resolution}",
            "metric": "natural",
            "episodes": args.episodes,
            "chunk": meta["chunk"],
            "chunks": int(np.ceil(n / meta["chunk"])),
            "mean_return": float(np.mean(a["natural"])),
        },
        "local_seconds": t_local,
        "ray_seconds": t_ray,
        "ray_head_start_seconds": t_head,
        "speedup": t_local / t_ray,
        "identical_surfaces": identical,
    }
    from landscape.io import checkpoint

    result["ckpt_step"] = checkpoint.load(args.ckpt).step
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
