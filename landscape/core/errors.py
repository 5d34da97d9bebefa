"""User-facing errors: one line, no traceback."""

import functools
import math
import os
import sys
from pathlib import Path


class LandscapeError(Exception):
    """Bad input or an impossible request; the message is shown to the user as one line."""


def cli_main(fn):
    """Wrap a CLI entry point so that LandscapeError (and Ctrl-C) end with one line, not a traceback."""

    @functools.wraps(fn)
    def wrapper(argv=None):
        try:
            return fn(argv)
        except LandscapeError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2)
        except KeyboardInterrupt:
            print("interrupted: finished work is saved; rerun the same command to resume", file=sys.stderr)
            raise SystemExit(130)

    return wrapper


def describe(err: BaseException, limit: int = 160) -> str:
    """A one-line description of an exception from a library (type and first line of its message)."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:limit]}" if lines else type(err).__name__


def check_writable(path, what: str = "--out", inputs=(), directory: bool = False) -> Path:
    """Refuse an output before any work is spent on it: one that is an input (it would be overwritten),
    one whose directory cannot be created or written, a directory where a file is expected (or back)."""
    path = Path(path)
    if any(Path(i).exists() and path.exists() and path.resolve() == Path(i).resolve() for i in inputs):
        raise LandscapeError(f"{what} {path} is one of the inputs; it would be overwritten")
    if path.exists() and path.is_dir() != directory:
        raise LandscapeError(
            f"{what} {path} is {'a file' if directory else 'a directory'}; "
            f"expected {'a directory' if directory else 'a file'}"
        )
    parent = path if directory and path.exists() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if (
        not parent.is_dir()
        or not os.access(parent, os.W_OK | os.X_OK)
        or (path.exists() and not os.access(path, os.W_OK))
    ):
        raise LandscapeError(f"{what} {path} cannot be written ({parent} is not a writable directory)")
    return path


def check_numbers(args) -> None:
    """argparse's float() accepts 'nan' and 'inf'; no numeric option of ours means either (a NaN radius
    passes every `<= 0` test and silently gives NaN numbers)."""
    for key, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise LandscapeError(f"--{key.replace('_', '-')} must be a finite number, got {value}")
