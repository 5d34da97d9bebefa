"""The `landscape` console command: one entry point for the toolkit's command-line tools.

    landscape scan --ckpt hopper_arpo --resolution 5      # same as python -m landscape.scan ...
    landscape --help                                      # the subcommands, one line each
    landscape scan --help                                 # a subcommand's own options

A thin dispatcher: `landscape CMD ARGS...` calls `landscape.CMD.main(ARGS)`, exactly what
`python -m landscape.CMD ARGS...` runs, so both forms take the same options and behave the same (a
subcommand's --help shows its `python -m` name). Modules are imported only when their command runs,
so `landscape --help` answers without loading torch.
"""

import argparse
import importlib
import sys

from . import __version__
from .io import bundled

# subcommand -> one-line summary; each is a module landscape.<name> with main(argv)
COMMANDS = {
    "train": "train a policy (spo, arpo, barpo) or a learned adversary (--algo adversary --victim CKPT)",
    "evaluate": "natural return, return under each attack and the worst case (mean +- se)",
    "scan": "the landscape around a checkpoint: returns and gradient norms on a 1D/2D grid",
    "fosp": "first-order stationary policies near a checkpoint, with a three-way stationarity verdict",
    "sticky": "stickiness of a point: perturbed restarts under each trainer's own update vs a null",
    "figures": "regenerate the figures of figures/ from analyses/figures/*.toml, with a manifest",
    "compare": "one offline HTML page comparing checkpoints and their stationary points",
    "sweep": "algorithms x environments x seeds: train, evaluate, tabulate medians (local or Ray)",
}


def parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {text}" for name, text in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="landscape",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="landscape [-h] [--version] COMMAND [ARGS...]",
        description="Train, attack and map the optimization landscape of adversarially robust RL policies.",
        epilog=f"commands:\n{listing}\n\n`landscape COMMAND --help` shows a command's options; "
        "`python -m landscape.COMMAND ...` is the same command.\nCheckpoints: a path, or the name "
        f"of a bundled one ({', '.join(bundled.names())}) from any directory.",
    )
    p.add_argument("--version", action="version", version=f"landscape {__version__}")
    p.add_argument("command", metavar="COMMAND", choices=list(COMMANDS), help=argparse.SUPPRESS)
    p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser()
    if not argv:
        p.print_help(sys.stderr)
        raise SystemExit(2)
    if argv[0] not in COMMANDS and not argv[0].startswith("-"):
        p.exit(2, f"error: unknown command {argv[0]!r} (commands: {', '.join(COMMANDS)})\n")
    args = p.parse_args(argv[:1])
    module = importlib.import_module(f"landscape.{args.command}")
    module.main(argv[1:])


if __name__ == "__main__":
    main()
