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
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import LandscapeError, describe


def _read_npz(path: Path) -> dict:
    """Plain arrays of a store file (no pickles); a damaged file is one line naming it."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise LandscapeError(f"{path} is missing or corrupt ({describe(err)})")


def _atomic_savez(path: Path, **arrays) -> None:
    """Temp file + rename; the temp name is unique so that two processes never write the same one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


class ScanStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.chunk_dir = self.root / "chunks"

    # -- creation / opening -------------------------------------------------------------------
    def create_or_resume(
        self, meta: dict, theta0: np.ndarray, directions: np.ndarray, coords: list[np.ndarray]
    ) -> bool:
        """Write a new store, or check that an existing one holds the same computation. True if resuming.

        A new store is built in a temporary directory and renamed into place, so it appears whole or not at
        all: two processes creating the same store race on that rename, and the loser resumes the winner's."""
        if not (self.root / "scan.json").exists():
            if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
                if not (self.root / "scan.json").exists():  # (not just created whole by another process)
                    raise LandscapeError(
                        f"{self.root} exists but is not a scan store (no scan.json); remove it or choose another --out"
                    )
            elif self._create(meta, theta0, directions, coords):
                return False
        old = self.meta
        if old.get("key") != meta["key"]:
            raise LandscapeError(f"{self.root} holds a different scan; choose another --out or use --from-store")
        self._check_directions(theta0, directions, coords)
        return True

    def _create(self, meta, theta0, directions, coords) -> bool:
        self.root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root.parent, prefix=f".{self.root.name}.creating."))
        try:
            (tmp / "chunks").mkdir()
            np.savez(
                tmp / "directions.npz",
                theta0=theta0,
                directions=directions,
                **{f"coords_{i}": c for i, c in enumerate(coords)},
            )
            (tmp / "scan.json").write_text(json.dumps(meta, indent=2))
            if self.root.is_dir():
                self.root.rmdir()  # empty (checked above); fails if another process just filled it
            os.rename(tmp, self.root)
            return True
        except OSError:
            if (self.root / "scan.json").exists():  # another process created it first
                return False
            raise LandscapeError(f"cannot create the scan store {self.root}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _check_directions(self, theta0, directions, coords) -> None:
        """A resumed store's directions.npz must be the one of this computation: same centre and grid,
        directions of the right shape and finite (a NaN direction would give NaN numbers with exit 0)."""
        d = self.directions()
        where = self.root / "directions.npz"
        if not {"theta0", "directions"} <= d.keys() or len(coords) != sum(k.startswith("coords_") for k in d):
            raise LandscapeError(f"{where} is incomplete")
        if d["theta0"].shape != theta0.shape or not np.array_equal(d["theta0"], theta0):
            raise LandscapeError(f"{where} was made around other parameters than this checkpoint's")
        if (
            d["directions"].shape != directions.shape
            or not np.isfinite(d["directions"]).all()
            or not (np.abs(d["directions"]).sum(1) > 0).all()
        ):
            raise LandscapeError(f"{where}: directions of the wrong shape, zero, or not finite")
        if not all(np.array_equal(d[f"coords_{i}"], c) for i, c in enumerate(coords)):
            raise LandscapeError(f"{where}: grid coordinates differ from this scan's")

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
        return _read_npz(self.root / "directions.npz")

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
            f = _read_npz(self._chunk_path(index))
            pts = f.get("points")
            arrays = [f.get(m) for m in meta["metrics"]] + [f.get(f"{m}_se") for m in meta["metrics"]]
            if (
                pts is None
                or pts.dtype.kind not in "iu"
                or (len(pts) and not 0 <= pts.min() <= pts.max() < n)
                or any(a is None or a.shape != pts.shape for a in arrays)
            ):
                raise LandscapeError(f"{self._chunk_path(index)} is corrupt; delete it to recompute that chunk")
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


@dataclass
class Surface:
    """A scan's result: its store's meta (scan.json), the assembled grids (surface.npz) and marked points.

    surface.values("natural")      # the grid, NaN where not computed (the done mask)
    surface.se("natural")          # its standard errors
    surface.coords                 # coordinates per axis; surface.meta["directions"] says what the axes are
    """

    root: Path
    meta: dict
    surface: dict
    points: list = field(default_factory=list)

    @property
    def ndim(self) -> int:
        return len(self.meta["grid"]["shape"])

    @property
    def coords(self) -> list[np.ndarray]:
        return [self.surface[f"coords_{i}"] for i in range(self.ndim)]

    @property
    def axis_names(self) -> list[str]:
        return [d.get("label") or d["kind"] for d in self.meta["directions"]]

    @property
    def title(self) -> str:
        return f"{self.meta.get('algo', '?').upper()} ({Path(self.meta.get('ckpt', '?')).stem})"

    @property
    def done(self) -> np.ndarray:
        return self.surface["done"]

    def has(self, metric: str) -> bool:
        return metric in self.meta["metrics"]

    def values(self, metric: str) -> np.ndarray:
        """The grid of `metric` with not-computed cells as NaN (from the done mask, never a sentinel)."""
        if not self.has(metric):
            raise LandscapeError(f"{self.root} has no metric {metric!r} (it has {', '.join(self.meta['metrics'])})")
        return np.where(self.surface["done"], self.surface[metric], np.nan)

    def se(self, metric: str) -> np.ndarray:
        return np.where(self.surface["done"], self.surface[f"{metric}_se"], np.nan)


def open_surface(root: str | os.PathLike) -> Surface:
    """The Surface of a store directory (assembled from its chunks), with its points.json if any."""
    meta, surface = load_surface(root)
    pts_path = Path(root) / "points.json"
    points = json.loads(pts_path.read_text()).get("points", []) if pts_path.exists() else []
    return Surface(Path(root), meta, surface, points)
