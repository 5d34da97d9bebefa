"""Ray execution: a scan's chunks as Ray tasks (`python -m landscape.scan ... --backend ray [--address ADDR]`).

A task receives plain data only -- the checkpoint's bytes, the scan settings, theta0, the directions, the
coordinates and one chunk's point indices -- rebuilds the probe inside the worker (cached per worker
process for the scan it serves), computes the chunk with `scan.compute_chunk` and returns the values. The
driver writes each chunk to the store as soon as it arrives, so a lost worker costs only its chunk: Ray
re-runs the task (max_retries) and `ScanStore.write_chunk` never writes a chunk twice. compute_chunk seeds
each chunk by its index, so the numbers equal the local backend's bit for bit for the same chunk partition.

Ray is an optional extra (`pip install -e ".[ray]"`); every node needs the same version of this package.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .errors import LandscapeError, describe

MAX_RETRIES = 3  # re-runs of a task whose worker died (Ray's own retry for system failures)


def _ray():
    try:
        import ray
    except ImportError:
        raise LandscapeError('the ray backend needs Ray: pip install -e ".[ray]"')
    return ray


def connect(address: str | None):
    """Connect to the cluster at `address` (None: $RAY_ADDRESS, else a new one-machine cluster).

    Returns (ray, owned): owned is True when this call connected, so the caller disconnects at the end;
    an existing connection in this process (e.g. a notebook's ray.init) is reused and left open.
    """
    ray = _ray()
    if ray.is_initialized():
        return ray, False
    try:
        ray.init(address=address, log_to_driver=False, logging_level="WARNING", configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as err:
        hint = ""
        if "Authentication" in repr(err.__cause__):  # a head started while ~/.ray/auth_token existed
            hint = "; the cluster uses token authentication: set RAY_AUTH_MODE=token (and its token) here too"
        raise LandscapeError(f"cannot connect to the Ray cluster at {address or 'RAY_ADDRESS/local'} "
                             f"({describe(err)}{hint})")
    return ray, True


def task_error(err: Exception) -> LandscapeError:
    """One line for a failed task: the worker's own LandscapeError, or the cause's type and first line."""
    cause = getattr(err, "cause", None) or err
    if isinstance(cause, LandscapeError):
        return LandscapeError(str(cause).strip().splitlines()[0])
    return LandscapeError(f"a task failed on the cluster: {describe(cause)}")


def worker_setup() -> None:
    """Each task holds one CPU: one torch thread and one MuJoCo batch thread (results do not depend on it)."""
    torch.set_num_threads(1)
    try:
        from . import physics
    except ImportError:  # MuJoCo < 4.0: no batch backend to configure
        return
    physics.set_threads(1)


# ----------------------------------------------------------------------------------- worker side
_PROBES: dict = {}  # scan key -> PointProbe, per worker process: building one costs env set-up (and rollouts)


def _files(tmp: str, files: dict) -> dict:
    """Write shipped files {role: (name, bytes)} into tmp; return {role: path}."""
    paths = {}
    for role, item in files.items():
        if item is not None:
            name, data = item
            paths[role] = Path(tmp) / role / name
            paths[role].parent.mkdir()
            paths[role].write_bytes(data)
    return paths


def _probe(spec: dict, files: dict):
    if spec["key"] in _PROBES:
        return _PROBES[spec["key"]]
    from . import checkpoint
    from .probes import PointProbe
    from .scan import make_attack_for

    worker_setup()
    for old in _PROBES.values():
        old.close()
    _PROBES.clear()
    with tempfile.TemporaryDirectory(prefix="landscape-") as tmp:  # everything is loaded eagerly
        paths = _files(tmp, files)
        agent = checkpoint.load(paths["ckpt"])
        attack = None
        if spec["attack"] is not None:
            a = spec["attack"]
            adversary = str(paths["adversary"]) if "adversary" in paths else None
            attack = make_attack_for(agent, a["name"], a["eps"], adversary)
        _PROBES[spec["key"]] = PointProbe(agent, spec["metrics"], attack, spec["episodes"], spec["grad_episodes"],
                                          spec["seed"])
    return _PROBES[spec["key"]]


def scan_chunk(spec: dict, files: dict, theta0, dirs, coords, points: np.ndarray, index: int):
    """One chunk on a worker: (index, {metric: (value, se)}, env steps)."""
    from .scan import compute_chunk

    probe = _probe(spec, files)
    steps = probe.env_steps
    values = compute_chunk(probe, theta0, dirs, coords, points, index, spec["seed"])
    return index, values, probe.env_steps - steps


# ----------------------------------------------------------------------------------- driver side
def _ship(path: str | None):
    return None if path is None else (Path(path).name, Path(path).read_bytes())


def run_ray(store, args, agent, attack, theta0, dirs, coords, chunks: list[np.ndarray]) -> None:
    """Compute the store's missing chunks on a Ray cluster, writing each as it finishes."""
    meta = store.meta
    done = store.done_chunks()
    todo = [i for i in range(len(chunks)) if i not in done]
    total = sum(len(c) for c in chunks)
    if not todo:
        return
    ray, owned = connect(args.address)
    try:
        spec = {"key": meta["key"], "metrics": meta["metrics"], "attack": meta["attack"], "episodes": args.episodes,
                "grad_episodes": args.grad_episodes, "seed": args.seed}
        adversary = meta["attack"]["adversary"] if meta["attack"] else None  # the driver has loaded it already
        files = {"ckpt": _ship(args.ckpt), "adversary": _ship(adversary)}
        shared = [ray.put(x) for x in (files, theta0, dirs, coords)]
        task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(scan_chunk)
        pending = [task.remote(spec, *shared, chunks[i], i) for i in todo]
        bar = tqdm(total=total, initial=total - sum(len(chunks[i]) for i in todo), unit="pt", desc="scan (ray)",
                   dynamic_ncols=True)
        t0, steps = time.perf_counter(), 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                index, values, n = ray.get(ready[0])
            except ray.exceptions.RayError as err:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise task_error(err)
            store.write_chunk(index, chunks[index], values)
            steps += n
            bar.update(len(chunks[index]))
            bar.set_postfix(env_sps=f"{steps / (time.perf_counter() - t0):.0f}")
        bar.close()
    finally:
        if owned:
            ray.shutdown()
