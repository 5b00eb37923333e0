"""The ``layerlab`` command."""

from __future__ import annotations

import argparse
import sys

from . import __version__


def _cmd_demo(args) -> int:
    from .demo import train_spirals

    print("layerlab demo: a 2-64-64-2 tanh MLP learns the two spirals, built from tensor ops only\n")
    result = train_spirals(steps=args.steps)
    print(f"\ntraining accuracy: {result['accuracy']:.3f}")
    return 0 if result["accuracy"] == 1.0 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerlab",
        description="layerlab: a NumPy deep-learning framework with explicit derivatives, "
                    "and a lab that shows how deep networks train.",
    )
    parser.add_argument("--version", action="version", version=f"layerlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("demo", help="a short end-to-end example")
    p.add_argument("--steps", type=int, default=1000)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
