"""The flags the command-line tools share, declared once: name, type, default and help.

Each function adds one shared flag to a parser or argument group. The default here is the one most
commands use; a command whose documented behaviour differs passes its own (`episodes(p, 50)` for
evaluate's published-table default) -- those differences are listed below, and nowhere else.

    flag              default here                          commands that keep their own
    --attack          mad                                   evaluate: none (comma list or 'all'); learned: optimal
    --eps             None = the checkpoint's training eps, evaluate, train, learned: None = the env's standard
                      else the environment's standard
    --adversary       one file                              evaluate: repeatable (one per learned attack)
    --episodes        5 (deterministic episodes per point)  evaluate 50; compare, sticky 3
    --grad-episodes   8 (sampled episodes per point)        compare 4; fosp 16
    --params          weights                               fosp, sticky: all
    --seed            0                                     (all the same)
    --out             None (the command names its output)   train: required; compare: compare.html; figures: figures
"""

import argparse
import contextlib

from .core.errors import LandscapeError
from .core.specs import ATTACK, EPISODES, GRAD_EPISODES, PARAM_CHOICES, PARAMS, SEED, SpecError  # noqa: F401

EPS_OF_CHECKPOINT = "attack budget (default: the checkpoint's, or the environment's standard when it has none)"
EPS_OF_ENV = "l_inf budget in normalized observations (default: the environment's standard, e.g. Hopper 0.075)"


def attack(p, default: str | None = ATTACK, help: str = "attack for adversarial metrics (see landscape.evaluate)"):
    p.add_argument("--attack", default=default, help=help)


def eps(p, help: str = EPS_OF_CHECKPOINT):
    p.add_argument("--eps", type=float, default=None, help=help)


def adversary(
    p,
    repeatable: bool = False,
    help: str = "learned attacker file for --attack rs/optimal/paad (default: the one cached beside --ckpt)",
):
    if repeatable:
        p.add_argument("--adversary", action="append", default=[], help=help)
    else:
        p.add_argument("--adversary", help=help)


def episodes(p, default: int = EPISODES, help: str = "deterministic episodes per point for returns"):
    p.add_argument("--episodes", type=int, default=default, help=help)


def grad_episodes(p, default: int = GRAD_EPISODES, help: str = "sampled episodes per point for gradient norms"):
    p.add_argument("--grad-episodes", type=int, default=default, help=help)


def params(p, default: str = PARAMS, help: str = "which parameters move (log-std only with 'all')"):
    p.add_argument("--params", default=default, choices=PARAM_CHOICES, help=help)


def seed(p, help: str = "seeds directions and episodes (common to all points)"):
    p.add_argument("--seed", type=int, default=SEED, help=help)


def out(p, default: str | None = None, required: bool = False, help: str = "output path"):
    p.add_argument("--out", default=default, required=required, help=help)


def parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


@contextlib.contextmanager
def as_flags(renamed: dict[str, str] | None = None):
    """Show a spec's field errors in flag terms: `chunk must be at least 1` -> `--chunk must be at least 1`
    (`renamed` maps fields whose flag is named otherwise, e.g. {"adversaries": "--adversary"})."""
    try:
        yield
    except SpecError as err:
        if err.cli:
            raise LandscapeError(err.cli) from None
        flag = (renamed or {}).get(err.field, "--" + err.field.replace("_", "-"))
        raise LandscapeError(f"{flag} {err.text}") from None
