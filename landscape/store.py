"""The results store of a scan: a directory anyone can open with numpy and json.

    scan.json         what was asked (grid, metrics, attack, seeds) and provenance (checkpoint sha256,
                      env, eps, package version); `key` identifies the computation for safe resumption
    directions.npz    theta0 [P], directions [n_dirs, P], coords_0 [n0], coords_1 [n1] (1D: one direction)
    chunks/NNNNN.npz  one finished chunk: point indices and, per metric, value and se
    surface.npz       the assembled grid: <metric> and <metric>_se [n0(, n1)], done mask (bool)

Chunks are written atomically (temp file + rename) as they finish, so an interrupted scan loses at
most the chunk in flight, and resuming never recomputes or rewrites a finished chunk. "Not computed"
is the explicit `done` mask, never a sentinel value.
"""

import json
import os
from pathlib import Path

import numpy as np

from .errors import LandscapeError


def _atomic_savez(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


class ScanStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.chunk_dir = self.root / "chunks"

    # -- creation / opening -------------------------------------------------------------------
    def create_or_resume(self, meta: dict, theta0: np.ndarray, directions: np.ndarray, coords: list[np.ndarray]) -> bool:
        """Write a new store, or check that an existing one holds the same computation. True if resuming."""
        if (self.root / "scan.json").exists():
            old = self.meta
            if old.get("key") != meta["key"]:
                raise LandscapeError(f"{self.root} holds a different scan; choose another --out or use --from-store")
            return True
        self.chunk_dir.mkdir(parents=True, exist_ok=True)
        _atomic_savez(self.root / "directions.npz", theta0=theta0, directions=directions,
                      **{f"coords_{i}": c for i, c in enumerate(coords)})
        tmp = self.root / "scan.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2))
        os.replace(tmp, self.root / "scan.json")
        return False

    @property
    def meta(self) -> dict:
        path = self.root / "scan.json"
        if not path.exists():
            raise LandscapeError(f"{self.root} is not a scan store (no scan.json)")
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise LandscapeError(f"{path} is corrupt ({err.msg})")

    def directions(self) -> dict:
        with np.load(self.root / "directions.npz") as f:
            return {k: f[k] for k in f.files}

    # -- chunks ---------------------------------------------------------------------------------
    def _chunk_path(self, index: int) -> Path:
        return self.chunk_dir / f"{index:05d}.npz"

    def done_chunks(self) -> set[int]:
        if not self.chunk_dir.exists():
            return set()
        return {int(p.stem) for p in self.chunk_dir.glob("[0-9]*.npz") if p.stem.isdigit()}

    def write_chunk(self, index: int, points: np.ndarray, values: dict) -> None:
        path = self._chunk_path(index)
        if path.exists():  # a chunk is never written twice
            return
        arrays = {"points": points}
        for m, (v, se) in values.items():
            arrays[m], arrays[f"{m}_se"] = np.asarray(v, np.float64), np.asarray(se, np.float64)
        _atomic_savez(path, **arrays)

    # -- assembly -------------------------------------------------------------------------------
    def assemble(self) -> dict:
        """Grid arrays from the finished chunks; writes surface.npz and returns its contents."""
        meta, dirs = self.meta, self.directions()
        shape = tuple(len(dirs[f"coords_{i}"]) for i in range(len(meta["grid"]["shape"])))
        n = int(np.prod(shape))
        out = {"done": np.zeros(n, bool)}
        for m in meta["metrics"]:
            out[m], out[f"{m}_se"] = np.full(n, np.nan), np.full(n, np.nan)
        for index in sorted(self.done_chunks()):
            with np.load(self._chunk_path(index)) as f:
                pts = f["points"]
                out["done"][pts] = True
                for m in meta["metrics"]:
                    out[m][pts], out[f"{m}_se"][pts] = f[m], f[f"{m}_se"]
        out = {k: v.reshape(shape) for k, v in out.items()}
        for i in range(len(shape)):
            out[f"coords_{i}"] = dirs[f"coords_{i}"]
        _atomic_savez(self.root / "surface.npz", **out)
        return out


def load_surface(root: str | os.PathLike) -> tuple[dict, dict]:
    """(meta, surface arrays) of a store, assembling it from its chunks."""
    store = ScanStore(root)
    if not store.root.is_dir():
        raise LandscapeError(f"no scan store at {root}")
    return store.meta, store.assemble()
