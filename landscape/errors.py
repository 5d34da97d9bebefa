"""User-facing errors: one line, no traceback."""

import functools
import sys


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
