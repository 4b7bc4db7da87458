"""The ``xpnet`` command.

``xpnet train --preset ch15 --seed nnfs`` prints the book's chapter-15 output line for line.
"""

from __future__ import annotations

import argparse
import ast
import json
import linecache
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from . import __version__, presets, usercode
from .backend import BACKENDS, resolve
from .errors import BackendError, DivergenceError, StudyError, UserCodeError, XpnetError
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
    if args.epochs is not None and "epochs" in dict(args.set) and args.epochs != preset.epochs:
        msg = (f"--epochs {args.epochs} and --set epochs={dict(args.set)['epochs']} say two "
               "things; give the number of epochs once.")
        raise UsageError(msg)
    save = None
    if args.save is not None:
        writable(args.save, "--save")  # before training, not after: the model would be lost
        save = Path(args.save)
        if save.suffix != ".npz":  # as model.save names it
            save = save.with_name(save.name + ".npz")
            writable(save, "--save")
    every = args.print_every or preset.log_every  # 0: log nothing
    keys = ("epoch", "acc", "loss", "data_loss", "reg_loss", "lr")

    epochs = args.epochs if args.epochs is not None else preset.epochs
    _slow_backend_note("train", args.backend)
    bar = _Progress("epoch")

    def report(model: Any, epoch: int, logs: dict[str, Any]) -> None:
        if not every or epoch % every:
            return
        if bar.bar is not None:
            bar.bar.clear()  # the line goes where the bar was; the bar is drawn below it
        if args.json:
            out.write(json.dumps({k: logs[k] for k in keys}) + "\n")
        else:
            out.write(book_line(logs) + "\n")
        out.flush()
        bar.update(epoch, epochs)

    try:
        with bar:
            result = presets.run(
                preset, backend=args.backend, seed=args.seed, epochs=args.epochs,
                log_every=every, callback=report, fast=args.fast,
            )
    except KeyboardInterrupt:
        if save is not None:  # say what Ctrl-C cost before the generic "interrupted"
            sys.stderr.write(f"training stopped before its last epoch: {str(save)!r} was not "
                             "written (--save writes the model when training ends)\n")
        raise
    if result.validation is not None:
        if args.json:
            out.write(json.dumps({"validation": result.validation}) + "\n")
        else:
            out.write(validation_line(result.validation) + "\n")
    if save is not None:
        result.model.save(save)
        sys.stderr.write(f"xpnet train: saved the model to {str(save)!r}\n")  # (stdout: lines)
    return 0


def writable(given: str | Path, option: str, folder: bool = False,
             example: str = "model.npz") -> None:
    """Refuse an output path (a file, or with ``folder`` a directory) that cannot be
    written, before any work: its nearest existing ancestor must be a writable folder
    (``example``: a file name to suggest inside a folder given for a file)."""
    if str(given).strip() == "":  # Path("") would be the current folder
        msg = (f"{option} needs a {'folder' if folder else 'file'} path, got an empty one; "
               f"e.g. {option} {'results' if folder else example}.")
        raise UsageError(msg)
    path = Path(given)
    if folder and path.exists() and not path.is_dir():
        msg = f"{option} {str(path)!r} is a file, not a folder; give a folder: {option} DIR."
        raise UsageError(msg)
    if not folder and path.is_dir():
        msg = (f"{option} {str(path)!r} is a folder; give a file path inside it: "
               f"{option} {str(path / example)!r}.")
        raise UsageError(msg)
    existing = path if folder else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        msg = (f"{option} {str(path)!r}: {str(existing)!r} is a file, not a folder, so nothing "
               f"can be written under it. Choose another path, e.g. {option} "
               f"{str(Path.cwd() / path.name)!r}.")
        raise UsageError(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        msg = (f"{option} {str(path)!r}: the folder {str(existing)!r} is not writable "
               f"(permission denied or read-only). Choose a writable place, e.g. {option} "
               f"{str(Path.home() / path.name)!r}.")
        raise UsageError(msg)


class UsageError(Exception):
    """Bad command-line usage discovered after parsing (exit status 2)."""


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _gradcheck(args: argparse.Namespace, out: TextIO) -> int:
    from . import gradcheck

    builtins = gradcheck.builtin_components()
    lowered = {name.lower(): name for name in builtins}
    components: dict[str, Any] = {}
    ctor_args = {k: _literal(v) for k, v in args.arg}
    if ctor_args and all(spec.lower() in lowered for spec in args.components or builtins):
        msg = ("--arg gives constructor arguments to your own component (FILE.py:Class or "
               "module:Class); the built-in components are checked at fixed sizes, so it "
               "would change nothing. Leave --arg out, or name your component.")
        raise UsageError(msg)
    for spec in args.components or list(builtins):
        if spec.lower() in lowered:
            name = lowered[spec.lower()]
            components[name] = builtins[name]
        else:
            cls = usercode.load_class(spec, list(builtins))
            components[spec] = lambda cls=cls: usercode.construct(cls, ctor_args)
    report = gradcheck.check_many(components, backend=args.backend, dtype=args.dtype,
                                  mode=args.mode, seed=args.seed)
    out.write((report.to_json() if args.json else str(report)) + "\n")
    return 0 if report.passed else 1


#: Backends that run xpnet's plain engine operation by operation on a CPU: at the book's
#: sizes each operation costs more in the library's overhead than in arithmetic.
_SLOW_ON_CPU = {
    "torch": "PyTorch runs each operation eagerly through its dispatcher",
    "jax": "JAX dispatches each operation on its own (xpnet does not jit)",
    "array_api_strict": "array-api-strict checks every call (it exists to prove portability)",
}


def _slow_backend_note(command: str, backend: str) -> None:
    """Say before the work starts that a backend will be slower than NumPy here, and why."""
    why = _SLOW_ON_CPU.get(backend)
    if why is None:
        return
    try:
        resolve(backend)  # a backend that is not installed gets its own error, not this note
    except BackendError:
        return
    sys.stderr.write(
        f"xpnet {command}: note: on a CPU the {backend} backend is several times slower "
        f"than numpy at the book's sizes (docs/backends.md has the figures): {why}, and "
        "with small arrays that overhead is most of the cost. The same maths runs (its "
        "last float32 digits can differ, so --seed nnfs prints lines close to the book's, "
        "not equal); --backend numpy trains fast."
        + (" On a small or busy machine set OMP_NUM_THREADS=1: PyTorch's threads fight "
           "over the cores at these sizes." if backend == "torch" else "") + "\n")


def _explain(args: argparse.Namespace, out: TextIO) -> int:
    from . import explain, explain_param

    if args.plot is None and args.plot_steps is not None:
        msg = ("--plot-steps sets how long the --plot run trains; give --plot FILE.png too, "
               "or --steps N for the text.")
        raise UsageError(msg)
    given = {"--param": args.param is not None, "--json": args.json,
             "--markdown": args.markdown, "--full": args.full}
    for mode, what, unused in (
            ("--plot", "draws a picture only", ("--param", "--json", "--markdown", "--full")),
            ("--param", "prints one weight's table (JSON lines with --json)",
             ("--markdown", "--full"))):
        ignored = [flag for flag in unused if given[flag]]
        if (args.plot if mode == "--plot" else args.param) is not None and ignored:
            msg = (f"{mode} {what}, so {' and '.join(ignored)} would change nothing; leave "
                   f"{'it' if len(ignored) == 1 else 'them'} out, or run without {mode}.")
            raise UsageError(msg)
    if args.plot is not None:
        writable(args.plot, "--plot", example="plot.png")
        explain.plot(args.topic, args.plot, preset=args.preset,
                     steps=args.plot_steps or 2000, backend=args.backend, seed=args.seed)
        out.write(f"wrote {args.plot}\n")  # the picture alone: the text is another command
        return 0
    if args.param is not None:
        if args.topic not in explain.OPTIMIZERS:
            msg = (f"--param follows one weight through an optimizer's updates: use it with "
                   f"{', '.join(explain.OPTIMIZERS)}, not {args.topic!r}.")
            raise UsageError(msg)
        table = explain_param.trace_param(args.param, steps=args.steps, preset=args.preset,
                                          backend=args.backend, seed=args.seed,
                                          optimizer=args.topic)
        if args.json:
            out.write("".join(json.dumps(row) + "\n" for row in table.rows))
        else:
            out.write(table.text())
        return 0
    ex = explain.explain(args.topic, steps=args.steps, preset=args.preset,
                         backend=args.backend, seed=args.seed)
    if args.json:
        out.write(ex.json_lines() + "\n")
    elif args.markdown:
        out.write(ex.markdown(full=args.full))
    else:
        out.write(ex.text(full=args.full))
    return 0


def _numbers(kind: type) -> Any:
    """An argparse type: comma-separated positive numbers of ``kind`` (``1e3`` is an int,
    ``1.5`` is not)."""
    def parse(text: str) -> tuple:
        items = text.split(",")
        items = items[:-1] if len(items) > 1 and not items[-1].strip() else items  # "10,100,"
        try:
            numbers = [float(v) for v in items]  # an empty item ("10,,20") is no number
        except ValueError:
            numbers = []
        if not numbers or any(not (n > 0 and n < float("inf")) for n in numbers) or (
                kind is int and not all(n.is_integer() for n in numbers)):
            what = "integers" if kind is int else "numbers"
            msg = f"expected comma-separated positive {what} (e.g. 10,100,1000), got {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return tuple(kind(n) for n in numbers)
    return parse


class _Once(argparse.Action):
    """Store a comma-separated list, refusing a second one: ``--lr 0.1 --lr 0.2`` reads as
    two rates but would keep only the last."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        before = getattr(namespace, self.dest, None)
        if before is not None:
            every = ",".join(str(v) for v in (*before, *values))
            parser.error(f"{option_string} is given twice; give every value once, "
                         f"comma-separated: {option_string} {every}")
        setattr(namespace, self.dest, values)


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

    writable(args.out, "--out", folder=True)
    _slow_backend_note("study", args.backend)
    try:
        with _Progress("trial") as bar:
            result = run_study(
                args.study, args.out, preset=args.preset, quick=args.quick, seeds=args.seeds,
                train_samples=args.train_samples, test_samples=args.test_samples,
                epochs=args.epochs, lr=args.lr, backend=args.backend, workers=args.workers,
                dask=args.dask, resume=args.resume, group_size=args.group_size,
                progress=lambda done, total, trial: bar.update(done, total))
    except StudyError as exc:
        raise UsageError(str(exc).replace("resume=True (--resume)", "--resume")) from exc
    except KeyboardInterrupt:  # say what is kept before the generic "interrupted"
        sys.stderr.write(f"xpnet study: stopped; {_stored_trials(args.out)} trials are stored "
                         f"in {args.out} (the trials in flight are lost); run the same command "
                         "with --resume to go on from them\n")
        raise
    for note in result["notes"]:
        sys.stderr.write(f"xpnet study: {note}\n")
    out.write(f"{result['ran']} trials run, {result['skipped']} already stored; "
              f"results in {args.out}\n")
    for path in result["outputs"]:
        out.write(f"  {path}\n")
    return 0


def _stored_trials(out: str | Path) -> int:
    """How many finished trials the study folder ``out`` holds (0 before its database)."""
    from .experiments import Store

    if not (Path(out) / "results.sqlite").exists():
        return 0
    with Store(out) as store:
        return len(store.keys())


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
    if args.json is not None:
        writable(args.json, "--json", example="results.json")
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
    if not any(case["results"] for case in result["cases"].values()):
        reasons = sorted({why for case in result["cases"].values()
                          for why in case["skipped"].values()})
        sys.stderr.write("xpnet bench: error: no contender ran, so nothing was measured: "
                         + "; ".join(reasons[:3]) + "\n")
        return 1
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
    train.add_argument("--epochs", type=_nonnegative, default=None,
                       help="number of epochs (default: the chapter's, 10000; keeps "
                       "the chapter's loop: ch14-17 run 0..N)")
    train.add_argument("--backend", default="numpy", choices=BACKENDS,
                       help="array library (default: numpy)")
    train.add_argument("--seed", type=seed_type, default=0,
                       help="'nnfs' for the book's stream and arithmetic, or an integer "
                       "(default 0)")
    train.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                       help="override a preset setting, e.g. --set lr=0.01 --set hidden=128; "
                       f"settings: {', '.join(sorted(presets.SETTINGS))}"),
    train.add_argument("--print-every", type=_positive, default=None, metavar="K",
                       help="log every K epochs (default: the chapter's 100)")
    train.add_argument("--fast", action=argparse.BooleanOptionalAction, default="auto",
                       help="the backend's fused kernels (default: on CuPy, except with "
                       "--seed nnfs; see docs/performance.md)")
    train.add_argument("--json", action="store_true",
                       help="one JSON object per logged epoch, then the validation")
    train.add_argument("--save", metavar="PATH", help="save the trained model (.npz)")
    train.set_defaults(func=_train)

    from .gradcheck import MODES, TOLERANCES

    check = sub.add_parser(
        "gradcheck", help="check backward passes against numerical gradients",
        description="Compare every analytic gradient (inputs and parameters, regularization "
        "included) with float64 central differences. Exit 0 when all pass, 1 when one fails, "
        "2 for a usage error (an unknown component, a bad --arg).",
    )
    check.add_argument("components", nargs="*", metavar="COMPONENT",
                       help="built-in names (default: all of them), package.module:Class or "
                       "path/to/file.py:Class")
    check.add_argument("--backend", default="numpy", choices=BACKENDS,
                       help="the array library the components compute with (default numpy)")
    check.add_argument("--dtype", default="float64", choices=tuple(TOLERANCES),
                       help="the component's dtype (numerical gradients always use float64)")
    check.add_argument("--mode", default="full", choices=MODES,
                       help="full: every entry of every array (default); directional: the "
                       "derivative along one random direction per array, cheap on big "
                       "arrays; sampled: 10 random entries per array")
    check.add_argument("--seed", type=int, default=0,
                       help="seeds the inputs, directions, samples and weights gradcheck "
                       "draws (default 0: the same seed gives the same report)")
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
    ex.add_argument("topic", choices=TOPICS,
                    help="the component to show: an optimizer (adam, sgd, rmsprop, adagrad), "
                    "a layer (dense, relu, softmax, dropout) or the loss")
    ex.add_argument("--preset", choices=sorted(presets.PRESETS), default=None,
                    help="explain on a chapter's model (arrays summarised) instead of a tiny one")
    ex.add_argument("--steps", type=_positive, default=3,
                    help="training steps to show (default 3)")
    ex.add_argument("--backend", default="numpy", choices=BACKENDS,
                    help="the array library to compute with (default numpy)")
    ex.add_argument("--seed", type=seed_type, default=0,
                    help="an integer (default 0), or 'nnfs' for the book's stream and "
                    "arithmetic")
    fmt = ex.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true",
                     help="one JSON event per line (enough to recompute every step)")
    fmt.add_argument("--markdown", action="store_true", help="Markdown, for docs")
    ex.add_argument("--full", action="store_true",
                    help="every recorded array at every step, not the one-minute summary")
    ex.add_argument("--param", metavar="LAYER[i].P[r,c]",
                    help="follow one weight, e.g. 'Dense[0].W[0,0]': a table of every value "
                    "the optimizer computed for it, one row per step (--steps of them)")
    ex.add_argument("--plot", metavar="FILE.png",
                    help="plot the topic over a whole run (adam: lr, step sizes, |m| and "
                    "sqrt(v) on ch15; softmax: probabilities; dense: weights; relu/dropout: "
                    "active/kept fraction; loss; sgd/rmsprop/adagrad: lr and step sizes); "
                    "writes the picture only")
    ex.add_argument("--plot-steps", type=_positive, default=None, metavar="N",
                    help="training steps for --plot (default 2000)")
    ex.set_defaults(func=_explain)

    st = sub.add_parser(
        "study", help="sweep sample sizes, epochs, learning rates or regularizers over seeds, "
        "with statistics",
        description="Train a preset many times (grids x seeds), store each trial as it "
        "finishes, and write a results table, plots, a report, answer sheets (answers.md) and "
        "an explorer answering what the numbers of samples, the epochs, the learning rate and "
        "the regularizers do.",
    )
    from .experiments.plan import LAB_PRESETS, STUDIES

    st.add_argument("study", choices=(*STUDIES, "all"))
    st.add_argument("--preset", default="ch15", choices=LAB_PRESETS,
                    help="the book's classifier the study repeats (default ch15: spiral, "
                    "Dense 64, dropout, Adam)")
    st.add_argument("--seeds", type=_positive, default=None,
                    help="repeats with different seeds (default 10; 3 with --quick)")
    st.add_argument("--quick", action="store_true",
                    help="a small grid and 3 seeds, for a first look (about a minute on 2 "
                    "cores)")
    st.add_argument("--train-samples", type=_numbers(int), action=_Once, default=None,
                    metavar="N,N,...",
                    help="training samples per class (default 30,100,300,1000,3000)")
    st.add_argument("--test-samples", type=_numbers(int), action=_Once, default=None,
                    metavar="N,N,...",
                    help="test-set sizes per class (default 10,30,100,300,1000,10000)")
    st.add_argument("--epochs", type=_positive, default=None,
                    help="length of the epochs study's runs (default 30000)")
    st.add_argument("--lr", type=_numbers(float), action=_Once, default=None, metavar="LR,LR,...",
                    help="learning rates (default 1e-4,1e-3,1e-2,0.05,0.2,1)")
    st.add_argument("--backend", default="numpy", choices=BACKENDS,
                    help="the array library the trials compute with (default numpy; cupy "
                    "trains on a GPU)")
    st.add_argument("--out", default="xpnet-study", metavar="DIR",
                    help="where the results, plots and report go (default ./xpnet-study)")
    st.add_argument("--workers", type=_positive, default=None,
                    help="parallel worker processes (default: one per CPU; one with "
                    "--backend cupy, whose batched trials share the GPU)")
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
        "bench", help="time xpnet against the book's NumPy code, PyTorch and JAX",
        description="Time xpnet, the book's plain-NumPy code, PyTorch (eager and "
        "torch.compile, and on CUDA the training step as one CUDA graph) and JAX (a jitted "
        "step per epoch, or lax.scan over epochs), when installed, on the reference, wide "
        "and big workloads, in one "
        "process with one thread; print ms/epoch, ratios, GFLOP/s and GB/s against the "
        "machine's measured ceilings, the time floor they imply, and peak memory against "
        "what the maths needs. With --device cuda, xpnet runs on CuPy, PyTorch on CUDA and JAX on "
        "its GPU.",
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
                    help=f"contenders (default and all: "
                    f"{', '.join(n for n in CONTENDERS if n not in GPU_ONLY)}; with --device "
                    f"cuda also {', '.join(GPU_ONLY)}; the torch and jax ones are skipped "
                    "when torch or JAX is missing)")
    bn.add_argument("--quick", action="store_true",
                    help="a fifth of the epochs and 3 repeats; unless named, only the cases "
                    "reference, reference_dropout and wide, and no torch_compile, jax_jit or "
                    "jax_scan (they compile first): a first look in about half a minute")
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
    for each in sub.choices.values():  # (its errors say "xpnet COMMAND: error: ...")
        each.set_defaults(subparser=each)
    return parser


#: Set to 1 to see the traceback of every error, the user's included.
DEBUG_VARIABLE = "XPNET_DEBUG"


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 bad usage).

    A user's mistake (xpnet's own errors, bad arguments or files) is one line on stderr,
    ``xpnet COMMAND: error: ...``, never a traceback; exit status 2, or 1 for a run that
    failed (training diverged, a checked gradient or the user's code failed while
    checked). Any other exception is a bug: it says so and keeps its traceback. With
    ``XPNET_DEBUG=1`` every error keeps its traceback.
    """
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("set", "arg"):  # KEY=VALUE given twice: the first would be lost
        pairs = getattr(args, option, None) or []
        keys = [key for key, _ in pairs]
        twice = next((key for i, key in enumerate(keys) if key in keys[:i]), None)
        if twice is not None:
            args.subparser.error(f"--{option} {twice}=... is given twice "
                         f"({', '.join(v for k, v in pairs if k == twice)}); give it once")
    try:
        return int(args.func(args, out))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        status = exit_status(exc)
        if status is None or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
            if status is None:
                sys.stderr.write(f"xpnet {args.command}: internal error: an exception xpnet "
                                 "does not expect, probably a bug. Please report it with the "
                                 "command and the traceback below.\n")
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        sys.stderr.write(f"xpnet {args.command}: error: {message}\n")
        return status


def exit_status(exc: BaseException) -> int | None:
    """The exit status for an error that is the user's to fix, or None for a bug.

    The user's: xpnet's own errors (:class:`~xpnet.errors.XpnetError`: 1 for a run that
    diverged or user code that failed while checked, else 2), usage errors (2), an
    ``OSError`` about a named file (1: the system refused), and a ``ValueError`` or
    ``TypeError`` that xpnet raised on purpose at its boundary (a ``raise`` statement in
    xpnet's code checking an argument; 2). Everything else (a ``KeyError``, a NumPy error,
    a ``ZeroDivisionError``) is a bug, not a message.
    """
    if isinstance(exc, DivergenceError):
        return 1
    if isinstance(exc, UserCodeError):
        return 1 if exc.phase == "check" else 2
    if isinstance(exc, (XpnetError, UsageError)):
        return 2
    if isinstance(exc, OSError) and exc.filename is not None:
        return 1
    if isinstance(exc, (ValueError, TypeError)) and _raised_by_xpnet(exc):
        return 2
    return None


_PACKAGE = Path(__file__).resolve().parent


def _raised_by_xpnet(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a ``raise`` statement in xpnet's own code."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    if not Path(filename).resolve().is_relative_to(_PACKAGE):
        return False
    return linecache.getline(filename, tb.tb_lineno).lstrip().startswith("raise ")
