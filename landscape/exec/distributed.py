"""Ray plumbing: connecting to a cluster, one-line task errors, a worker's thread settings, shipped files.

The tasks themselves go through executor.RayExecutor (scans: `python -m landscape.scan ... --backend ray
[--address ADDR]`, sweeps: `python -m landscape.sweep CONFIG --backend ray`). A scan's task receives plain
data only -- the checkpoint's bytes (and the learned attacker's), the scan settings, theta0, the directions,
the coordinates and one chunk's point indices -- rebuilds the probe inside the worker (cached per worker
process for the scan it serves, scanning.scan_chunk) and returns the values. The driver writes each chunk
to the store as soon as it arrives, so a lost worker costs only its chunk: Ray re-runs the task
(max_retries) and `ScanStore.write_chunk` never writes a chunk twice. compute_chunk seeds each chunk by its
index, so the numbers equal the local backend's bit for bit for the same chunk partition.

Ray is an optional extra (`pip install -e ".[ray]"`); every node needs the same version of this package.
"""

from pathlib import Path

from ..core.errors import LandscapeError, describe
from ..core.threads import single_thread

MAX_RETRIES = 3  # re-runs of a scan task whose worker died (Ray's own retry for system failures)


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
        raise LandscapeError(
            f"cannot connect to the Ray cluster at {address or 'RAY_ADDRESS/local'} ({describe(err)}{hint})"
        )
    return ray, True


def task_error(err: Exception) -> LandscapeError:
    """One line for a failed task: the worker's own LandscapeError, or the cause's type and first line."""
    cause = getattr(err, "cause", None) or err
    if isinstance(cause, LandscapeError):
        return LandscapeError(str(cause).strip().splitlines()[0])
    return LandscapeError(f"a task failed on the cluster: {describe(cause)}")


def worker_setup() -> None:
    """Each task holds one CPU: one torch thread and one MuJoCo batch thread (results do not depend on it)."""
    single_thread()
    try:
        from ..sim import physics
    except ImportError:  # MuJoCo < 4.0: no batch backend to configure
        return
    physics.set_threads(1)


def unpack(tmp: str, files: dict) -> dict:
    """Write shipped files {role: (name, bytes)} into tmp; return {role: path}."""
    paths = {}
    for role, item in files.items():
        if item is not None:
            name, data = item
            paths[role] = Path(tmp) / role / name
            paths[role].parent.mkdir()
            paths[role].write_bytes(data)
    return paths
