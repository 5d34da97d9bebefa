"""What the typed specs share: their one-line errors and the checks of their `__post_init__`.

Every library entry point takes a frozen dataclass spec (`evaluate.EvalSpec`, `train.TrainSpec`,
`robust_trainer.RobustSpec`, `scanning.ScanSpec`, `fosp.FospSpec`, `sticky.StickySpec`,
`compare.CompareSpec`) that validates itself when built, so a bad value is
refused before any environment, checkpoint or store is touched, with one line naming the field. The CLIs
build the same specs from their flags and show the field as its flag (`chunk` -> `--chunk`).
"""

import math
from dataclasses import fields

from .errors import LandscapeError

# Defaults shared by the library's specs and the CLIs' flags (cli_args.py declares the flags with them)
ATTACK = "mad"
EPISODES = 5
GRAD_EPISODES = 8
PARAMS = "weights"
PARAM_CHOICES = ("weights", "weights+biases", "all")
SEED = 0


class SpecError(LandscapeError):
    """A bad field of a spec. `field` names it, `text` says what is wrong ("must be at least 1");
    `cli` is the message in flag terms where it is not just `--field text`."""

    def __init__(self, field: str, text: str, cli: str | None = None):
        self.field, self.text, self.cli = field, text, cli
        super().__init__(f"{field} {text}")


def check_finite(spec) -> None:
    """No float field of ours means NaN or infinity (a NaN passes every `<= 0` test)."""
    for f in fields(spec):
        value = getattr(spec, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f.name, f"must be a finite number, got {value}")


def at_least(spec, minimum: int, *names: str) -> None:
    """Each named field (when not None) is at least `minimum`."""
    for name in names:
        value = getattr(spec, name)
        if value is not None and value < minimum:
            raise SpecError(name, f"must be at least {minimum}")


def one_of(spec, name: str, choices) -> None:
    value = getattr(spec, name)
    if value not in choices:
        raise SpecError(name, f"must be one of {', '.join(map(str, choices))}, got {value!r}")


def names(value, what: str) -> tuple[str, ...]:
    """A comma string or a sequence of names as a tuple (how specs take lists from Python and from flags)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(n.strip() for n in value.split(",") if n.strip())
    if not all(isinstance(v, str) for v in value):
        raise SpecError(what, f"must be names, got {value!r}")
    return tuple(value)
