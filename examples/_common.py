"""Command-line plumbing shared by the example scripts (``python examples/NN_*.py``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import xpnet
from xpnet.cli import book_line, seed_type

EPOCHS = 10_000  # the book's chapters train for 10,000 epochs


def make_parser(doc: str, epochs: int = EPOCHS) -> argparse.ArgumentParser:
    """The options every example takes: --backend, --seed, --epochs, --print-every."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--backend", default="numpy", choices=xpnet.backend.BACKENDS,
                        help="array library to train on (default: numpy)")
    parser.add_argument("--seed", type=seed_type, default=0,
                        help="an integer, or 'nnfs' for the book's numbers (default: 0)")
    parser.add_argument("--epochs", type=int, default=epochs,
                        help=f"number of epochs (default: the chapter's {epochs})")
    parser.add_argument("--print-every", type=int, default=None, metavar="K",
                        help="print every K epochs (default: 100, fewer for short runs)")
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse and check the options; short runs print more often than every 100 epochs."""
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.print_every is None:
        args.print_every = max(1, min(100, args.epochs // 5))
    return args


def print_epoch(model: xpnet.Model, epoch: int, logs: dict[str, Any]) -> None:
    """A training callback that prints one line in the book's format."""
    print(book_line(logs))
