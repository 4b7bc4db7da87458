"""The ``xpnet`` command.

``xpnet train --preset ch15 --seed nnfs`` prints the book's chapter-15 output line for line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import __version__, presets
from .backend import BACKENDS
from .errors import DivergenceError, XpnetError

__all__ = ["main"]


def _seed(text: str) -> int | str:
    if text.lower() == "nnfs":
        return "nnfs"
    try:
        value = int(text)
    except ValueError:
        msg = f"expected 'nnfs' or a non-negative integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 0:
        msg = f"expected a non-negative integer, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        msg = f"expected a positive integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        msg = f"expected key=value, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return key.strip(), value.strip()


def book_line(logs: dict[str, Any]) -> str:
    """One epoch in the book's format."""
    return (
        f"epoch: {logs['epoch']}, acc: {logs['acc']:.3f}, loss: {logs['loss']:.3f} "
        f"(data_loss: {logs['data_loss']:.3f}, reg_loss: {logs['reg_loss']:.3f}), "
        f"lr: {logs['lr']}"
    )


def validation_line(validation: dict[str, float]) -> str:
    return f"validation, acc: {validation['acc']:.3f}, loss: {validation['loss']:.3f}"


def _train(args: argparse.Namespace, out: TextIO) -> int:
    preset = presets.get(args.preset).with_overrides(dict(args.set))
    every = args.print_every or preset.log_every
    keys = ("epoch", "acc", "loss", "data_loss", "reg_loss", "lr")

    def report(model: Any, epoch: int, logs: dict[str, Any]) -> None:
        if epoch % every:
            return
        if args.json:
            out.write(json.dumps({k: logs[k] for k in keys}) + "\n")
        else:
            out.write(book_line(logs) + "\n")
        out.flush()

    result = presets.run(
        preset, backend=args.backend, seed=args.seed, epochs=args.epochs,
        log_every=every, callback=report,
    )
    if result.validation is not None:
        if args.json:
            out.write(json.dumps({"validation": result.validation}) + "\n")
        else:
            out.write(validation_line(result.validation) + "\n")
    if args.save:
        result.model.save(args.save)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xpnet",
        description="Neural networks from scratch on any Array API backend.",
    )
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train", help="train one of the book's chapter models",
        description="Train a preset (the book's chapter models). With --seed nnfs the output "
        "matches the book's script line for line.",
    )
    train.add_argument("--preset", required=True, choices=sorted(presets.PRESETS),
                       help="chapter model to train")
    train.add_argument("--epochs", type=int, default=None,
                       help="number of epochs (keeps the chapter's loop: ch14-17 run 0..N)")
    train.add_argument("--backend", default="numpy", choices=BACKENDS,
                       help="array library (default: numpy)")
    train.add_argument("--seed", type=_seed, default=0,
                       help="'nnfs' for the book's stream and arithmetic, or an integer "
                       "(default 0)")
    train.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                       help="override a preset setting, e.g. --set lr=0.01 --set hidden=128")
    train.add_argument("--print-every", type=_positive, default=None, metavar="K",
                       help="log every K epochs (default: the chapter's 100)")
    train.add_argument("--json", action="store_true",
                       help="one JSON object per logged epoch, then the validation")
    train.add_argument("--save", metavar="PATH", help="save the trained model (.npz)")
    train.set_defaults(func=_train)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 bad usage)."""
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, out))
    except DivergenceError as exc:
        sys.stderr.write(f"xpnet {args.command}: error: {exc}\n")
        return 1
    except (XpnetError, ValueError, TypeError) as exc:
        sys.stderr.write(f"xpnet {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
