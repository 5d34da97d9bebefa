"""python -m landscape.scan --ckpt hopper_arpo.pt [options]

Maps the landscape around a checkpoint: natural and adversarial return, their gap, natural and
adversarial policy-gradient norms and the PPO surrogate on a 1D or 2D grid of parameter directions.
Writes a results store (see landscape/probes/store.py) incrementally -- rerun the same command to resume --
and draws contour and surface images next to it. `--from-store DIR` re-renders without recomputing.
The scan itself is the library function `landscape.probes.scanning.run(ScanSpec(...))`.
"""

import sys


from . import cli_args
from .core.errors import LandscapeError, cli_main
from .probes.scanning import DIRECTION_KINDS, ScanSpec, run
from .viz import render
from .core.threads import single_thread


def parse_args(argv=None):
    p = cli_args.parser("python -m landscape.scan", __doc__)
    p.add_argument("--ckpt", help="centre checkpoint (.pt or lineage .model)")
    cli_args.out(p, help="store directory (default: scans/<checkpoint name>)")
    p.add_argument("--from-store", metavar="DIR", help="only re-render an existing store")
    g = p.add_argument_group("directions")
    g.add_argument(
        "--directions",
        default=None,
        help=f"comma list, one per axis, of {', '.join(DIRECTION_KINDS)} (default: random,random; 1D: random)",
    )
    g.add_argument("--norm", default="filter", choices=("filter", "layer"), help="random-direction normalization")
    cli_args.params(g)
    g.add_argument(
        "--to",
        metavar="CKPT",
        help="second checkpoint for a 'line' direction (re-expressed for the "
        "centre's observation normalizer, so coordinate 1 acts as that checkpoint)",
    )
    g.add_argument("--trajectory", metavar="GLOB", help="checkpoints of a training run for 'pca' directions")
    g = p.add_argument_group("grid")
    g.add_argument("--1d", dest="one_d", action="store_true", help="a 1D scan along the first direction")
    g.add_argument("--span", type=float, default=0.5, help="coordinates run over [-span, span]")
    g.add_argument("--range", help="LO,HI coordinates instead of --span (e.g. -0.25,1.25 for a line)")
    g.add_argument("--resolution", type=int, default=11, help="points per axis")
    g = p.add_argument_group("metrics")
    g.add_argument(
        "--metrics",
        default="natural,adversarial,grad_natural,grad_adversarial",
        help="comma list of natural, adversarial, gap, grad_natural, grad_adversarial, surrogate",
    )
    cli_args.attack(g)
    cli_args.eps(g)
    cli_args.adversary(g)
    cli_args.episodes(g)
    cli_args.grad_episodes(g)
    cli_args.seed(g)
    g = p.add_argument_group("execution")
    g.add_argument("--chunk", type=int, default=None, help="points per chunk (default: about 128 environments)")
    g.add_argument("--backend", default="local", choices=("local", "ray"), help="where chunks run")
    g.add_argument("--address", help="Ray cluster address (with --backend ray)")
    g.add_argument("--no-render", action="store_true", help="skip drawing images")
    return p.parse_args(attach_values(sys.argv[1:] if argv is None else argv, ("--range",)))


def attach_values(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """`--range -0.25,1.25` as `--range=-0.25,1.25`: argparse takes a value that starts with '-' and is not
    a plain negative number for an option of its own."""
    out, argv = [], list(argv)
    while argv:
        a = argv.pop(0)
        out.append(f"{a}={argv.pop(0)}" if a in options and argv and argv[0].startswith("-") else a)
    return out


def spec_of(args) -> ScanSpec:
    with cli_args.as_flags({"one_d": "--1d"}):
        return ScanSpec(
            args.ckpt,
            out=args.out,
            directions=args.directions,
            norm=args.norm,
            params=args.params,
            to=args.to,
            trajectory=args.trajectory,
            one_d=args.one_d,
            span=args.span,
            range=args.range,
            resolution=args.resolution,
            metrics=args.metrics,
            attack=args.attack,
            eps=args.eps,
            adversary=args.adversary,
            episodes=args.episodes,
            grad_episodes=args.grad_episodes,
            seed=args.seed,
            chunk=args.chunk,
            backend=args.backend,
            address=args.address,
        )


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    single_thread()
    render.use_agg()
    if args.from_store:
        paths = render.render_scan(args.from_store)
        print("\n".join(["images:", *[f"  {p}" for p in paths]]))
        return
    if not args.ckpt:
        raise LandscapeError("give --ckpt (or --from-store DIR to re-render)")
    spec = spec_of(args)
    with cli_args.as_flags({"one_d": "--1d"}):
        surface = run(spec)
    print(f"store: {surface.root}")
    if not args.no_render:
        print("\n".join(["images:", *[f"  {p}" for p in render.render_scan(surface.root)]]))


if __name__ == "__main__":
    main()
