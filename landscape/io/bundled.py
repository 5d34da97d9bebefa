"""Checkpoints shipped inside the package, usable by name from any directory.

`landscape/checkpoints/` holds the bundled checkpoints, one per algorithm and environment studied
(`hopper_{spo,arpo,barpo}.pt`, `walker2d_{spo,arpo,barpo}.pt`,
`halfcheetah_{spo,arpo,barpo}.pt`, `ant_{spo,arpo,barpo}.pt`), with their cached learned attackers beside
them (`<stem>.optimal-eps<E>.pt`, `<stem>.paad-eps<E>.pt`, `<stem>.rs.pt`); it is package data, so a regular
`pip install .` (wheel) installs them too.

`resolve(path)` is how every `--ckpt` is read (checkpoint.load / load_raw call it first, and the CLIs
that hand the path on to learned attacks resolve it before they do):

- a file that exists (relative to the working directory, or absolute) is used as given;
- otherwise a bare name (`hopper_arpo.pt` or `hopper_arpo`), or a path into a clone's old top-level
  `checkpoints/` directory, that names a bundled checkpoint resolves to the bundled file, and one line
  on stderr says which file was used; the cached attackers are then found beside that file;
- an unknown bare name is a one-line error that lists the bundled names; any other missing path is
  returned unchanged, so the caller's own "not found" error names it.
"""

import os
import sys
from pathlib import Path

from ..core.errors import LandscapeError

DIRECTORY = Path(__file__).resolve().parents[1] / "checkpoints"  # landscape/checkpoints
SUFFIXES = ("", ".pt")  # what a bare name may end with


def names() -> list[str]:
    """Names of the bundled checkpoints (stems; the cached attackers `<stem>.<attack>.pt` are not listed)."""
    return sorted(p.stem for p in DIRECTORY.glob("*.pt") if "." not in p.stem)


def path_of(name: str) -> Path | None:
    """The bundled file called `name` (with or without `.pt`), or None."""
    stem = name[:-3] if name.endswith(".pt") else name
    if not stem or "." in stem or "/" in stem or os.sep in stem:
        return None
    f = DIRECTORY / f"{stem}.pt"
    return f if f.is_file() else None


def resolve(path: str | os.PathLike, quiet: bool = False) -> Path:
    """The file `path` means: itself when it exists, else the bundled checkpoint it names (see module doc)."""
    p = Path(path)
    if p.exists():
        return p
    if p.suffix not in SUFFIXES:  # e.g. a lineage `.model`: its own loader names what is missing
        return p
    bare = p.parent == Path(".")
    legacy = p.parent.name == "checkpoints" and p.parent.parent.name != "landscape"
    if bare or legacy:
        found = path_of(p.name)
        if found is not None:
            if not quiet:
                print(f"using the bundled checkpoint {found}", file=sys.stderr)
            return found
        if bare:
            raise LandscapeError(
                f"checkpoint not found: {path} (no such file here; bundled: {', '.join(names()) or 'none'})"
            )
    return p
