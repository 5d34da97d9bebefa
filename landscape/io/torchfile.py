"""Read files written by `torch.save` as data only, without ever handing them to `torch.load`.

`torch.load` dispatches on what the file looks like: a TorchScript archive goes to `torch.jit.load`,
which runs the archive's scripted `__setstate__` (it can write files) whatever `pickle_module` says.
So we parse the two pickle formats ourselves and refuse everything else before any of it is interpreted:

- the zip format (torch >= 1.6): `<root>/data.pkl` through a restricted unpickler, each storage read
  from the uncompressed entry `<root>/data/<key>` whose size must match what the pickle declares;
  an archive with `constants.pkl` or `code/` entries is TorchScript and is refused;
- the legacy format: magic number, protocol, sys info, the object pickle, the storage keys, then each
  storage as an int64 element count followed by its bytes (bounded by the file's size before allocating);
- anything else (the older tar format, plain pickles, random bytes) is refused.

The unpickler only builds what a checkpoint needs: tensors (views checked to lie inside their storage,
no stride-0 expansion), ordered dicts, dtypes and -- when the caller allows it -- numpy arrays (numeric
dtypes, byte count checked against the shape before numpy sees it) and inert stand-ins for the classes
of a foreign code base. Every failure is a LandscapeError of one line.
"""

import codecs
import io
import math
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from ..core.errors import LandscapeError, describe

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class _StorageType:
    """What `torch.FloatStorage` etc. unpickle to: a dtype tag, deliberately not callable (no allocation)."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


class _NdarrayTag:
    """What `numpy.ndarray` unpickles to: only `_reconstruct` accepts it, calling it builds nothing."""


_STORAGE_TYPES = {
    ("torch", f"{n}Storage"): _StorageType(getattr(torch, d))
    for n, d in (
        ("Float", "float32"),
        ("Double", "float64"),
        ("Half", "float16"),
        ("BFloat16", "bfloat16"),
        ("Long", "int64"),
        ("Int", "int32"),
        ("Short", "int16"),
        ("Char", "int8"),
        ("Byte", "uint8"),
        ("Bool", "bool"),
    )
}
_STORAGE_TYPES[("torch.storage", "UntypedStorage")] = _StorageType(torch.uint8)
_STORAGE_TYPES[("torch", "UntypedStorage")] = _STORAGE_TYPES[("torch.storage", "UntypedStorage")]


def _refuse(msg: str):
    raise pickle.UnpicklingError(msg)


def _ints(values, what: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list, torch.Size)) or not all(type(v) is int and v >= 0 for v in values):
        _refuse(f"malformed tensor {what} {values!r:.60}")
    return tuple(values)


def _checked_view(storage, offset, size, stride) -> None:
    """The tensor must lie inside its storage and hold no more elements than the storage (no expansion)."""
    if not isinstance(storage, torch.storage.TypedStorage) or not getattr(storage, "_landscape", False):
        _refuse("tensor without a storage from this file")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride) or type(offset) is not int or offset < 0:
        _refuse("malformed tensor layout")
    if any(n > 1 and s == 0 for n, s in zip(size, stride)):
        _refuse(f"tensor of shape {list(size)} with stride 0 (expands a small storage into a large tensor)")
    numel, elems = math.prod(size), _elements(storage)
    if numel and (numel > elems or offset + sum((n - 1) * s for n, s in zip(size, stride)) >= elems):
        _refuse(f"tensor of shape {list(size)} does not fit its storage of {elems} elements")


def _elements(typed) -> int:
    """Element count of a storage (TypedStorage.size() warns about its own deprecation on stderr)."""
    return typed._untyped_storage.nbytes() // torch._utils._element_size(typed.dtype)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    _checked_view(storage, offset, size, stride)
    if hooks or metadata:
        _refuse("tensor with backward hooks or metadata")
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, bool(requires_grad), OrderedDict())


def _rebuild_tensor(storage, offset, size, stride):
    return _rebuild_tensor_v2(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad, hooks=None):
    if not isinstance(data, torch.Tensor) or hooks:
        _refuse("malformed parameter")
    return torch.nn.Parameter(data, bool(requires_grad))


def _encode(obj, encoding="utf-8", errors="strict"):
    """How protocol-2 pickles store bytes: `_codecs.encode(str, 'latin1')`; no other codec is looked up."""
    if not isinstance(obj, str) or encoding.replace("-", "").lower() not in ("latin1", "utf8"):
        _refuse(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(obj, encoding, errors)


def _plain_dtype(dtype) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or dtype.itemsize == 0:
        _refuse(f"refusing numpy dtype {dtype!r:.40}: only plain numeric arrays are data")
    return dtype


class SafeArray(np.ndarray):
    """An ndarray whose unpickled state is checked (numeric dtype, bytes matching the shape) before numpy
    allocates anything: an object array of a huge shape costs numpy gigabytes even from a tiny file."""

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            _refuse("malformed numpy array")
        shape, dtype, raw = state[-4], state[-3], state[-1]
        shape, dtype = _ints(shape, "array shape"), _plain_dtype(dtype)
        if not isinstance(raw, bytes) or len(raw) != math.prod(shape) * dtype.itemsize:
            _refuse(f"numpy array of shape {list(shape)} with {len(raw) if isinstance(raw, bytes) else '?'} bytes")
        super().__setstate__(state)


def _reconstruct(subtype, shape, dtype):
    if not isinstance(subtype, _NdarrayTag):
        _refuse("numpy _reconstruct of something other than an ndarray")
    return np.ndarray.__new__(SafeArray, (0,), np.uint8)


def _scalar(dtype, raw=None):
    _plain_dtype(dtype)
    if not isinstance(raw, bytes) or len(raw) != dtype.itemsize:
        _refuse("malformed numpy scalar")
    return np._core.multiarray.scalar(dtype, raw)


_TORCH = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("_codecs", "encode"): _encode,
    **_STORAGE_TYPES,
}
_NUMPY = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("numpy", "ndarray"): _NdarrayTag(),
    ("numpy", "dtype"): np.dtype,
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _NUMPY[(_mod, "_reconstruct")] = _reconstruct
    _NUMPY[(_mod, "scalar")] = _scalar


class DataUnpickler(pickle.Unpickler):
    """Builds only allowlisted data; `stand_in(module, name)` (optional) may supply inert classes."""

    def __init__(self, file, storage_loader, numpy=False, stand_in=None):
        super().__init__(file)
        self._storage_loader, self._numpy, self._stand_in = storage_loader, numpy, stand_in

    def find_class(self, module, name):
        key = (module, name)
        if key in _TORCH:
            return _TORCH[key]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if self._numpy and key in _NUMPY:
            return _NUMPY[key]
        found = self._stand_in(module, name) if self._stand_in else None
        if found is None:
            _refuse(f"refusing {module}.{name}: the file asks to run code, not just load data")
        return found

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid:
            _refuse("malformed persistent id")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module" and len(pid) == 4:  # legacy pickled nn.Module: its class was vetted by find_class
            return pid[1]
        if kind != "storage" or not isinstance(pid[1], _StorageType):
            _refuse(f"unknown persistent id {kind!r:.40}")
        return self._storage_loader(pid[1].dtype, *pid[2:])


def _untyped(raw: bytes) -> torch.UntypedStorage:
    return torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8) if raw else torch.UntypedStorage(0)


def _new_storage(untyped: torch.UntypedStorage, dtype: torch.dtype) -> torch.storage.TypedStorage:
    typed = torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)
    typed._landscape = True  # marks storages made here (a pickle cannot forge this attribute)
    return typed


def _nbytes(dtype: torch.dtype, numel) -> int:
    if type(numel) is not int or numel < 0:
        _refuse("malformed storage size")
    return numel * torch._utils._element_size(dtype)


def _zip_root(zf: zipfile.ZipFile, path) -> str:
    names = zf.namelist()
    root = names[0].split("/", 1)[0] + "/" if names and "/" in names[0] else None
    if root is None or any(not n.startswith(root) for n in names):
        raise LandscapeError(f"{path}: a zip file, but not one written by torch.save")
    if any(n in (root + "constants.pkl", root + "code/") or n.startswith(root + "code/") for n in names):
        raise LandscapeError(f"{path}: a TorchScript archive (it carries code); refusing to load it")
    if root + "data.pkl" not in names:
        raise LandscapeError(f"{path}: a zip file without data.pkl, not a torch checkpoint")
    return root


def _read_entry(zf: zipfile.ZipFile, name: str, size: int | None = None) -> bytes:
    """An entry's bytes; torch.save never compresses, so a compressed entry cannot be a zip bomb of ours."""
    info = zf.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED:
        _refuse(f"compressed entry {name} (torch.save writes none)")
    if size is not None and info.file_size != size:
        _refuse(f"entry {name} holds {info.file_size} bytes, the pickle declares {size}")
    return zf.read(name)


def _load_zip(path, f, **unpickler_args):
    with zipfile.ZipFile(f) as zf:
        root = _zip_root(zf, path)
        if root + "byteorder" in zf.namelist() and zf.read(root + "byteorder") != b"little":
            _refuse("big-endian checkpoint")
        storages = {}

        def storage(dtype, key, location, numel):
            if key not in storages:
                if not isinstance(key, str) or root + f"data/{key}" not in zf.namelist():
                    _refuse(f"missing storage {key!r:.40}")
                raw = _read_entry(zf, root + f"data/{key}", _nbytes(dtype, numel))
                storages[key] = _new_storage(_untyped(raw), dtype)
            return storages[key]

        pkl = _read_entry(zf, root + "data.pkl")
        return DataUnpickler(io.BytesIO(pkl), storage, **unpickler_args).load()


def _load_legacy(path, f, size: int, **unpickler_args):
    header = lambda: DataUnpickler(f, lambda *a: _refuse("storage in a header"), **unpickler_args).load()  # noqa: E731
    if header() != LEGACY_MAGIC:
        raise LandscapeError(f"{path}: not a torch checkpoint (a plain pickle)")
    info = (header(), header())
    if info[0] != LEGACY_PROTOCOL or not isinstance(info[1], dict) or info[1].get("little_endian") is not True:
        _refuse("big-endian or malformed legacy checkpoint")
    storages, budget = {}, [size]

    def storage(dtype, key, location, numel, view=None):
        if view is not None:
            _refuse("legacy storage views are not supported")
        if key not in storages:
            nbytes = _nbytes(dtype, numel)
            budget[0] -= nbytes
            if budget[0] < 0:  # every storage must be in the file: never allocate more than its size
                _refuse("declares more storage bytes than the file holds")
            storages[key] = _new_storage(torch.UntypedStorage(nbytes), dtype)
        return storages[key]

    result = DataUnpickler(f, storage, **unpickler_args).load()
    keys = header()
    if not isinstance(keys, list) or set(keys) != set(storages):
        _refuse("storage list does not match the pickle")
    for key in keys:
        typed = storages[key]
        (count,) = struct.unpack("<q", f.read(8).ljust(8, b"\0"))
        raw = f.read(typed._untyped_storage.nbytes())
        if count != _elements(typed) or len(raw) != typed._untyped_storage.nbytes():
            _refuse(f"storage {key} is truncated or mislabelled")
        if raw:
            typed._untyped_storage.copy_(_untyped(raw))
    return result


def check(path: str | Path) -> Path:
    """Refuse, in one line, a file that is missing or not one of torch's two pickle formats (TorchScript
    included) -- for paths that code outside our control will hand to torch.load."""
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                _zip_root(zf, path)
        except zipfile.BadZipFile as err:
            raise LandscapeError(f"{path}: cannot read as a checkpoint ({describe(err)})")
    elif head[:1] != b"\x80":
        raise LandscapeError(f"{path}: not a torch checkpoint (neither torch's zip nor its legacy pickle format)")
    return path


def _one_line(where, what: str, load):
    """Run `load()`; whatever goes wrong in a hostile or broken file becomes one LandscapeError line."""
    try:
        return load()
    except LandscapeError:
        raise
    except pickle.UnpicklingError as err:
        raise LandscapeError(f"{where}: {str(err).splitlines()[0] if str(err) else 'malformed pickle'}")
    except Exception as err:  # truncated zip, bad pickle opcode, ...: all one line
        raise LandscapeError(f"{where}: cannot read as a {what} ({describe(err)})")


def _read_stream(f, size: int, where, what: str, numpy: bool, stand_in):
    head = f.read(4)
    f.seek(0)
    if head.startswith(b"PK\x03\x04"):
        return _load_zip(where, f, numpy=numpy, stand_in=stand_in)
    if head[:1] == b"\x80":
        return _load_legacy(where, f, size, numpy=numpy, stand_in=stand_in)
    raise LandscapeError(f"{where}: not a torch checkpoint (neither torch's zip nor its legacy pickle format)")


def read(path: str | Path, what: str = "checkpoint", numpy: bool = False, stand_in=None):
    """The object pickled in a torch file, built from data only; a one-line LandscapeError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:
        return _one_line(path, what, lambda: _read_stream(f, path.stat().st_size, path, what, numpy, stand_in))


def read_bytes(raw: bytes, where: str, what: str = "checkpoint"):
    """`read` for a torch file held in memory (e.g. an entry of another zip archive); `where` names it."""
    return _one_line(where, what, lambda: _read_stream(io.BytesIO(raw), len(raw), where, what, False, None))


def read_pickle(path: str | Path, what: str, stand_in=None):
    """A plain pickle (`pickle.dump`, no torch storages) through the same restricted unpickler, numeric
    numpy arrays allowed: for statistics files such as Stable-Baselines3's VecNormalize."""
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"{what} not found: {path}")
    with open(path, "rb") as f:
        refuse = lambda *a: _refuse("a torch storage in a plain pickle")  # noqa: E731
        return _one_line(path, what, lambda: DataUnpickler(f, refuse, numpy=True, stand_in=stand_in).load())
