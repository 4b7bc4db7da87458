"""The ``xpnet`` command.

``xpnet train --preset ch15 --seed nnfs`` prints the book's chapter-15 output line for line.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from . import __version__, presets
from .backend import BACKENDS
from .errors import DivergenceError, XpnetError
from .random import parse_seed

__all__ = ["main"]


def seed_type(text: str) -> int | str:
    """An argparse type for ``--seed``: ``nnfs`` or a non-negative integer."""
    try:
        return parse_seed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum`` (``what`` names it in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            msg = f"expected a {what} integer, got {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return parse


_positive = _at_least(1, "positive")
_nonnegative = _at_least(0, "non-negative")


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

    epochs = args.epochs if args.epochs is not None else preset.epochs
    bar = _Progress("epoch")

    def report(model: Any, epoch: int, logs: dict[str, Any]) -> None:
        if epoch % every:
            return
        if bar.bar is not None:
            bar.bar.clear()  # the line goes where the bar was; the bar is drawn below it
        if args.json:
            out.write(json.dumps({k: logs[k] for k in keys}) + "\n")
        else:
            out.write(book_line(logs) + "\n")
        out.flush()
        bar.update(epoch, epochs)

    with bar:
        result = presets.run(
            preset, backend=args.backend, seed=args.seed, epochs=args.epochs,
            log_every=every, callback=report, fast=args.fast,
        )
    if result.validation is not None:
        if args.json:
            out.write(json.dumps({"validation": result.validation}) + "\n")
        else:
            out.write(validation_line(result.validation) + "\n")
    if args.save:
        result.model.save(args.save)
    return 0


class UsageError(Exception):
    """Bad command-line usage discovered after parsing (exit status 2)."""


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


#: Defaults for constructor arguments a user component requires, by common names.
_ARG_DEFAULTS = {"n_in": 3, "n_inputs": 3, "n_out": 4, "n_neurons": 4, "n_outputs": 4,
                 "rate": 0.3, "drop_rate": 0.3}


def _load_class(spec: str) -> type:
    """``package.module:ClassName`` or ``path/to/file.py:ClassName``."""
    target, sep, cls_name = spec.rpartition(":")
    if not sep or not target or not cls_name:
        msg = (f"unknown component {spec!r}: give a built-in name ({', '.join(_builtin_names())}) "
               "or package.module:ClassName or path/to/file.py:ClassName.")
        raise UsageError(msg)
    if target.endswith(".py") or os.sep in target:
        path = Path(target)
        if not path.is_file():
            msg = f"file not found: {target!r} (from {spec!r})."
            raise UsageError(msg)
        # compiled from the source every time, never from a cached .pyc: a file edited within
        # the same second (the usual fix-and-recheck loop) must not run its old code
        module = types.ModuleType(path.stem)
        module.__file__ = str(path)
        sys.modules[path.stem] = module
        exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            msg = f"cannot import module {target!r} (from {spec!r}): {exc}."
            raise UsageError(msg) from exc
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type):
        msg = f"{target!r} has no class {cls_name!r}."
        raise UsageError(msg)
    if not (hasattr(cls, "forward") and hasattr(cls, "backward")):
        msg = (f"{cls_name} is not a layer or loss: it needs forward and backward methods "
               "(see the layer protocol in the docs).")
        raise UsageError(msg)
    return cls


def _construct(cls: type, args: dict[str, Any]) -> Any:
    import inspect

    kwargs = dict(args)
    for name, param in inspect.signature(cls).parameters.items():
        if name in kwargs or param.default is not inspect.Parameter.empty or param.kind in (
                param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name not in _ARG_DEFAULTS:
            msg = f"{cls.__name__} needs the argument {name!r}: pass --arg {name}=VALUE."
            raise UsageError(msg)
        kwargs[name] = _ARG_DEFAULTS[name]
    try:
        return cls(**kwargs)
    except TypeError as exc:
        msg = f"cannot construct {cls.__name__}({kwargs}): {exc}."
        raise UsageError(msg) from exc


def _builtin_names() -> list[str]:
    from .gradcheck import builtin_components

    return list(builtin_components())


def _gradcheck(args: argparse.Namespace, out: TextIO) -> int:
    from . import gradcheck

    builtins = gradcheck.builtin_components()
    lowered = {name.lower(): name for name in builtins}
    components: dict[str, Any] = {}
    ctor_args = {k: _literal(v) for k, v in args.arg}
    for spec in args.components or list(builtins):
        if spec.lower() in lowered:
            name = lowered[spec.lower()]
            components[name] = builtins[name]
        else:
            cls = _load_class(spec)
            components[spec] = lambda cls=cls: _construct(cls, ctor_args)
    report = gradcheck.check_many(components, backend=args.backend, dtype=args.dtype,
                                  mode=args.mode, seed=args.seed)
    out.write((report.to_json() if args.json else str(report)) + "\n")
    return 0 if report.passed else 1


def _explain(args: argparse.Namespace, out: TextIO) -> int:
    from . import explain

    if args.plot:
        if args.topic != "adam":
            msg = "--plot is available for the adam topic."
            raise UsageError(msg)
        explain.adam_plot(args.plot, preset=args.preset or "ch15", steps=args.plot_steps,
                          backend=args.backend, seed=args.seed)
    ex = explain.explain(args.topic, steps=args.steps, preset=args.preset,
                         backend=args.backend, seed=args.seed)
    if args.json:
        out.write(ex.json_lines() + "\n")
    elif args.markdown:
        out.write(ex.markdown())
    else:
        out.write(ex.text())
    return 0


def _numbers(kind: type) -> Any:
    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(float(v)) if kind is int else kind(v)
                           for v in text.split(",") if v.strip())
        except ValueError:
            msg = f"expected comma-separated {kind.__name__}s, got {text!r}"
            raise argparse.ArgumentTypeError(msg) from None
        if not values or any(v <= 0 for v in values):
            msg = f"expected positive values, got {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return values
    return parse


class _Progress:
    """A progress bar with rate and ETA (tqdm) on a terminal's stderr, fed ``(done,
    total)``; nothing at all when stderr is not a terminal, so piped output stays quiet."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.bar: tqdm | None = None

    def update(self, done: int, total: int, description: str | None = None) -> None:
        if not sys.stderr.isatty():
            return
        if self.bar is None:
            self.bar = tqdm(total=total, initial=done, unit=self.unit, file=sys.stderr,
                            dynamic_ncols=True, leave=False)
        if description is not None:
            self.bar.set_description_str(description, refresh=False)
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _study(args: argparse.Namespace, out: TextIO) -> int:
    from .experiments import run_study

    try:
        with _Progress("trial") as bar:
            result = run_study(
                args.study, args.out, preset=args.preset, quick=args.quick, seeds=args.seeds,
                train_samples=args.train_samples, test_samples=args.test_samples,
                epochs=args.epochs, lr=args.lr, backend=args.backend, workers=args.workers,
                dask=args.dask, resume=args.resume, group_size=args.group_size,
                progress=lambda done, total, trial: bar.update(done, total))
    except FileExistsError as exc:
        raise UsageError(str(exc).replace("resume=True (--resume)", "--resume")) from exc
    out.write(f"{result['ran']} trials run, {result['skipped']} already stored; "
              f"results in {args.out}\n")
    for path in result["outputs"]:
        out.write(f"  {path}\n")
    return 0


def _names(choices: Sequence[str], what: str, all_is_default: bool = False) -> Any:
    """An argparse type for a comma-separated subset of ``choices`` (or ``all``: every
    choice, or None, the command's default for the device, with ``all_is_default``)."""
    def parse(text: str) -> list[str] | None:
        names = [n.strip() for n in text.split(",") if n.strip()]
        if names == ["all"]:
            return None if all_is_default else list(choices)
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            msg = (f"unknown {what} {', '.join(map(repr, unknown)) or repr(text)}; "
                   f"choose from {', '.join(choices)} (comma-separated) or all")
            raise argparse.ArgumentTypeError(msg)
        return [n for n in choices if n in names]
    return parse


def _bench(args: argparse.Namespace, out: TextIO) -> int:
    from .bench import harness, report, workloads

    # torch reads these when it loads (after this); NumPy is loaded already, so its BLAS
    # is limited in place by the harness (threadpoolctl)
    for var in harness.THREAD_VARS:
        os.environ.setdefault(var, str(args.threads))
    # before anything is measured: no CuPy or no GPU is a usage error (exit 2) that says
    # what to install
    harness.require_device(args.device)
    names = args.cases if args.cases is not None else [
        w.name for w in workloads.default_cases(args.device, args.quick)]
    cases = [workloads.get(name).resized(args.samples_per_class, args.hidden)
             for name in names]

    def checkpoint(partial: dict[str, Any]) -> None:
        # every finished case reaches the file at once: a run cut short keeps them
        harness.save(partial, args.json)

    with _Progress("step") as bar:
        result = harness.run_suite(
            cases, args.contenders, epochs=args.epochs, repeats=args.repeats,
            warmup=args.warmup, quick=args.quick, threads=args.threads,
            memory=not args.no_memory, ceilings=not args.no_ceilings, device=args.device,
            progress=lambda message, done, total: bar.update(done, total, message),
            checkpoint=checkpoint if args.json else None)
    out.write(report.render(result, verbose=args.verbose))
    if args.json:
        harness.save(result, args.json)
        out.write(f"wrote {args.json}\n")
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
    train.add_argument("--seed", type=seed_type, default=0,
                       help="'nnfs' for the book's stream and arithmetic, or an integer "
                       "(default 0)")
    train.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                       help="override a preset setting, e.g. --set lr=0.01 --set hidden=128")
    train.add_argument("--print-every", type=_positive, default=None, metavar="K",
                       help="log every K epochs (default: the chapter's 100)")
    train.add_argument("--fast", action="store_true",
                       help="use the backend's fused kernels (CuPy; see docs/performance.md)")
    train.add_argument("--json", action="store_true",
                       help="one JSON object per logged epoch, then the validation")
    train.add_argument("--save", metavar="PATH", help="save the trained model (.npz)")
    train.set_defaults(func=_train)

    from .gradcheck import MODES, TOLERANCES

    check = sub.add_parser(
        "gradcheck", help="check backward passes against numerical gradients",
        description="Compare every analytic gradient (inputs and parameters, regularization "
        "included) with float64 central differences. Exit 0 when all pass, 1 when one fails.",
    )
    check.add_argument("components", nargs="*", metavar="COMPONENT",
                       help="built-in names (default: all of them), package.module:Class or "
                       "path/to/file.py:Class")
    check.add_argument("--backend", default="numpy", choices=BACKENDS)
    check.add_argument("--dtype", default="float64", choices=tuple(TOLERANCES),
                       help="the component's dtype (numerical gradients always use float64)")
    check.add_argument("--mode", default="full", choices=MODES)
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--arg", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                       help="constructor argument of a user component, e.g. --arg n_in=5")
    check.add_argument("--json", action="store_true", help="the report as JSON")
    check.set_defaults(func=_gradcheck)

    from .explain import TOPICS

    ex = sub.add_parser(
        "explain", help="show, from the real computation, what a component computes",
        description="Train a tiny network (or a preset) for a few steps and show, from the "
        "values the library computed, what the topic's component does, with the maths.",
    )
    ex.add_argument("topic", choices=TOPICS)
    ex.add_argument("--preset", choices=sorted(presets.PRESETS), default=None,
                    help="explain on a chapter's model (arrays summarised) instead of a tiny one")
    ex.add_argument("--steps", type=_positive, default=3, help="training steps to show")
    ex.add_argument("--backend", default="numpy", choices=BACKENDS)
    ex.add_argument("--seed", type=seed_type, default=0)
    fmt = ex.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true",
                     help="one JSON event per line (enough to recompute every step)")
    fmt.add_argument("--markdown", action="store_true", help="Markdown, for docs")
    ex.add_argument("--plot", metavar="FILE.png",
                    help="adam: plot lr, effective step sizes, |m| and sqrt(v) over a run")
    ex.add_argument("--plot-steps", type=_positive, default=2000, metavar="N",
                    help="training steps for --plot (default 2000)")
    ex.set_defaults(func=_explain)

    st = sub.add_parser(
        "study", help="sweep sample sizes, epochs or learning rates over seeds, with statistics",
        description="Train a preset many times (grids x seeds), store each trial as it "
        "finishes, and write a results table, plots and a report answering what the numbers "
        "of samples, the epochs and the learning rate do.",
    )
    st.add_argument("study", choices=("samples", "epochs", "lr", "all"))
    from .experiments.plan import LAB_PRESETS

    st.add_argument("--preset", default="ch15", choices=LAB_PRESETS)
    st.add_argument("--seeds", type=_positive, default=None,
                    help="repeats with different seeds (default 10; 3 with --quick)")
    st.add_argument("--quick", action="store_true",
                    help="a small grid and 3 seeds, for a first look (about 2 minutes)")
    st.add_argument("--train-samples", type=_numbers(int), default=None, metavar="N,N,...",
                    help="training samples per class (default 30,100,300,1000,3000)")
    st.add_argument("--test-samples", type=_numbers(int), default=None, metavar="N,N,...",
                    help="test-set sizes per class (default 10,30,100,300,1000,10000)")
    st.add_argument("--epochs", type=_positive, default=None,
                    help="length of the epochs study's runs (default 30000)")
    st.add_argument("--lr", type=_numbers(float), default=None, metavar="LR,LR,...",
                    help="learning rates (default 1e-4,1e-3,1e-2,0.05,0.2,1)")
    st.add_argument("--backend", default="numpy", choices=BACKENDS)
    st.add_argument("--out", default="xpnet-study", metavar="DIR",
                    help="where the results, plots and report go (default ./xpnet-study)")
    st.add_argument("--workers", type=_positive, default=None,
                    help="parallel worker processes (default: one per CPU)")
    st.add_argument("--dask", metavar="local|ADDRESS",
                    help="run the trials on Dask: 'local' starts a LocalCluster, an address "
                    "joins a running scheduler")
    st.add_argument("--group-size", type=_positive, default=32, metavar="N",
                    help="train up to N trials that differ only in seed and learning rate "
                    "together as one batched model, with the same results (default 32; 1 "
                    "trains each alone)")
    st.add_argument("--resume", action="store_true",
                    help="continue a study in --out: stored trials are not run again")
    st.set_defaults(func=_study)

    from .bench.contenders import CONTENDERS, GPU_ONLY
    from .bench.workloads import ALL_CASES, CASES, DEVICES, GPU_CASES

    bn = sub.add_parser(
        "bench", help="time xpnet against the book's NumPy code and PyTorch",
        description="Time xpnet, the book's plain-NumPy code and PyTorch (eager and "
        "torch.compile, when installed) on the reference, wide and big workloads, in one "
        "process with one thread; print ms/epoch, ratios, GFLOP/s and GB/s against the "
        "machine's measured ceilings, the time floor they imply, and peak memory against "
        "what the maths needs. With --device cuda, xpnet runs on CuPy and PyTorch on CUDA.",
    )
    bn.add_argument("--device", choices=DEVICES, default="cpu",
                    help="where xpnet and torch compute (default cpu); cuda: xpnet on CuPy, "
                    "PyTorch CUDA eager as the peer, the book's code on the CPU, and the "
                    f"cases {', '.join(GPU_CASES)} and contenders {', '.join(GPU_ONLY)} added")
    bn.add_argument("--cases", type=_names(list(ALL_CASES), "case", all_is_default=True),
                    default=None, metavar="NAME,...|all",
                    help=f"cases to run (default and all: {', '.join(CASES)}; with --device "
                    f"cuda also {', '.join(GPU_CASES)}, which the CPU runs only when named)")
    bn.add_argument("--contenders", type=_names(list(CONTENDERS), "contender",
                                                all_is_default=True),
                    default=None, metavar="NAME,...|all",
                    help=f"contenders (default and all: {', '.join(CONTENDERS)}, "
                    f"{' and '.join(GPU_ONLY)} with --device cuda only; the torch ones are "
                    "skipped when torch is missing)")
    bn.add_argument("--quick", action="store_true",
                    help="a fifth of the epochs and 3 repeats; unless named, only the cases "
                    "reference, reference_dropout and wide, and no torch_compile: a first "
                    "look in about half a minute")
    bn.add_argument("--verbose", action="store_true",
                    help="wider tables: min-max, GFLOP/s, share of the ceilings, the floor, "
                    "peak memory over the need (every number is in --json)")
    bn.add_argument("--epochs", type=_positive, default=None,
                    help="epochs per timed repeat, every case (default: scaled per case so "
                    "that a repeat takes about 0.3-1 s)")
    bn.add_argument("--repeats", type=_positive, default=None,
                    help="timed repeats per contender (default 5; 3 with --quick)")
    bn.add_argument("--warmup", type=_nonnegative, default=None,
                    help="untimed epochs first (default: a fifth of --epochs, 2 to 20)")
    bn.add_argument("--threads", type=_positive, default=1,
                    help="BLAS, OpenMP and torch threads (default 1)")
    bn.add_argument("--samples-per-class", type=_positive, default=None, metavar="N",
                    help="override every case's spiral samples per class")
    bn.add_argument("--hidden", type=_positive, default=None, metavar="H",
                    help="override every case's hidden width")
    bn.add_argument("--no-memory", action="store_true",
                    help="skip the (untimed) peak-memory pass")
    bn.add_argument("--no-ceilings", action="store_true",
                    help="skip measuring the machine's ceilings (about 2 s)")
    bn.add_argument("--json", metavar="PATH",
                    help="also write every number to PATH (atomically, after every case)")
    bn.set_defaults(func=_bench)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 bad usage)."""
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, out))
    except UsageError as exc:
        sys.stderr.write(f"xpnet {args.command}: error: {exc}\n")
        return 2
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
