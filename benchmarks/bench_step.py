"""Where a whole-step epoch's time goes: each of the three kernels, the eager epoch and the
replayed one, for the GPU target cases.

    python benchmarks/bench_step.py [--device cuda|cpu] [--cases reference,...,huge_dropout]
                                    [--epochs 20] [--graph-epochs 200] [--quick]
                                    [--samples-per-class N] [--sweep-min-rows 64,256]
                                    [--json PATH]

For each case (``xpnet.bench.workloads``: the spiral classifier, Adam with decay) a model
with CuPy's defaults trains on the whole-step engine (:mod:`xpnet.engine.step`) and reports,
in milliseconds per epoch (medians over ``--epochs``):

* ``forward``, ``backward``, ``reduce``: each kernel's own time, from CUDA events recorded
  around its launch (:meth:`xpnet.engine.step.WholeStep.launch`); ``reduce`` applies Adam's
  update too, as in every full-batch run;
* ``kernels``: their sum; ``eager``: the whole epoch, launches and host bookkeeping included
  (``train(graph=False)``, wall clock with a device synchronize at both ends);
* ``graph``: an epoch of ``train(graph=True)`` over ``--graph-epochs`` (the recording
  included), wall clock likewise.

This is what the next optimization of the engine needs (which kernel to work on, and what
dropout costs in each); ``xpnet bench`` compares the engine with its peers. ``--device cpu``
is a dry run of this script without a GPU: the kernels' source compiled by the host's C++
compiler (the tests' stand-in for CuPy, ``tests/_host_kernels.py``), wall-clock times, no
graph; ``--quick`` shrinks every case to 300 samples and at most 64 hidden units.
``--sweep-min-rows 64,256`` (the default) measures the small cases again with those floors
of the rows a backward thread sums (``xpnet.engine.step.MIN_ROWS``, 16): fewer partial sums
for the reduce kernel to add, fewer threads in the backward one (``min_rows_sweep`` in the
output). Prints one JSON object; ``--json PATH`` also writes it.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import xpnet  # noqa: E402
from xpnet.backend import resolve  # noqa: E402
from xpnet.bench import harness, workloads  # noqa: E402
from xpnet.bench.contenders import build_workload  # noqa: E402
from xpnet.engine import fused, step  # noqa: E402

PARTS = ("forward", "backward", "gather", "reduce")


class Timer:
    """Times every kernel the whole step launches, by part: CUDA events on a GPU (read
    after a synchronize), the wall clock on the host."""

    def __init__(self, cupy: Any):
        self.cupy = cupy
        self.pending: list[tuple[str, Any, Any]] = []
        self.ms: dict[str, list[float]] = defaultdict(list)

    def launch(self, whole: Any, part: str, kernel: Any, *args: Any, size: int) -> None:
        if self.cupy is None:
            start = time.perf_counter()
            kernel(*args, size=size)
            self.ms[part].append((time.perf_counter() - start) * 1e3)
            return
        begin, end = self.cupy.cuda.Event(), self.cupy.cuda.Event()
        begin.record()
        kernel(*args, size=size)
        end.record()
        self.pending.append((part, begin, end))

    def collect(self) -> None:
        for part, begin, end in self.pending:
            end.synchronize()
            self.ms[part].append(self.cupy.cuda.get_elapsed_time(begin, end))
        self.pending.clear()


def host_kernels() -> fused.Kernels:
    """The fused kernels' reference with the whole step compiled for the host (dry run)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from _host_kernels import CXX, HostCupy

    if CXX is None:
        msg = "--device cpu needs a C++ compiler (c++, g++ or clang++) for the kernels' source"
        raise SystemExit(msg)
    kernels = fused.Kernels(resolve("numpy"))
    kernels.elementwise = HostCupy(tempfile.mkdtemp(prefix="xpnet-step-"))
    return kernels


def model(w: workloads.Workload, device: str, kernels: Any) -> xpnet.Model:
    """The suite's model of ``w`` (``xpnet bench``'s), with CuPy's defaults on a GPU."""
    if device == "cuda":
        m = xpnet.Model(backend="cupy", seed=0)  # the defaults: fast, counter masks
    else:
        m = xpnet.Model(seed=0, fast=kernels, dropout_masks="counter")
    return build_workload(m, w)


def measure(w: workloads.Workload, device: str, epochs: int, graph_epochs: int,
            kernels: Any) -> dict[str, Any]:
    cupy = None
    if device == "cuda":
        import cupy

    backend = "cupy" if device == "cuda" else "numpy"
    X, y = xpnet.datasets.spiral(w.samples_per_class, classes=w.classes, seed=0,
                                 backend=backend)
    m = model(w, device, kernels)
    if m.engine != "step":
        msg = f"{w.name}: the model trains on the {m.engine!r} engine, not the whole step"
        raise SystemExit(msg)

    def sync() -> None:
        if cupy is not None:
            cupy.cuda.get_current_stream().synchronize()

    m.train(X, y, epochs=2, log_every=None, graph=False)  # compiled, buffers made
    timer = Timer(cupy)
    plain = step.WholeStep.launch
    step.WholeStep.launch = (  # type: ignore[method-assign]
        lambda self, part, kernel, *a, size: timer.launch(self, part, kernel, *a, size=size))
    try:
        m.train(X, y, epochs=epochs, log_every=None, graph=False)
        sync()
        timer.collect()
    finally:
        step.WholeStep.launch = plain  # type: ignore[method-assign]
    out: dict[str, Any] = {"N": w.N, "hidden": w.hidden, "dropout": w.dropout}
    for part in PARTS:  # (no gather launch: the partial sums in one level, 0 ms)
        out[f"{part}_ms"] = round(statistics.median(timer.ms[part] or [0.0]), 4)
    out["kernels_ms"] = round(sum(out[f"{p}_ms"] for p in PARTS), 4)
    sync()
    start = time.perf_counter()
    m.train(X, y, epochs=epochs, log_every=None, graph=False)
    sync()
    out["eager_ms"] = round((time.perf_counter() - start) / epochs * 1e3, 4)
    if device == "cuda":
        sync()
        start = time.perf_counter()
        m.train(X, y, epochs=graph_epochs, log_every=None, graph=True)
        sync()
        out["graph_ms"] = round((time.perf_counter() - start) / graph_epochs * 1e3, 4)
    out["finite"] = bool(np.isfinite(m.evaluate(X, y)["loss"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--cases", default=",".join(workloads.GPU_TARGET_CASES))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--graph-epochs", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--samples-per-class", type=int, metavar="N",
                        help="every case at this size (default: the case's own)")
    parser.add_argument("--sweep-min-rows", default="64,256", metavar="LIST",
                        help="also measure the cases where step.MIN_ROWS sets the backward's "
                             "rows per thread (the small ones) with these values ('' for "
                             "none; default %(default)s)")
    parser.add_argument("--sweep-split-from", default="off", metavar="LIST",
                        help="also measure every case with step.SPLIT_FROM at these values "
                             "('off': the partial sums in one level; '' for none; default "
                             "%(default)s)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    kernels = host_kernels() if args.device == "cpu" else None
    result: dict[str, Any] = {
        "what": "ms per epoch of the whole-step engine's kernels (medians), the eager epoch "
                "and the replayed one",
        "device": args.device, "epochs": args.epochs, "graph_epochs": args.graph_epochs,
        "python": sys.version.split()[0], "machine": platform.machine(),
        "xpnet": xpnet.__version__, "cases": {},
    }

    def sweep(w: workloads.Workload, name: str, knob: str, values: str, parse: Any,
              key: str) -> None:
        """Measure case ``w`` again with ``step.<knob>`` at each of ``values`` (comma-separated,
        read by ``parse``), putting the default back after; the times go to
        ``result[key][value][name]``."""
        default = getattr(step, knob)
        for value in filter(None, values.split(",")):
            setattr(step, knob, parse(value))
            try:
                again = measure(w, args.device, args.epochs, args.graph_epochs, kernels)
            finally:
                setattr(step, knob, default)
            result.setdefault(key, {}).setdefault(value, {})[name] = {
                k: again[k] for k in again if k.endswith("_ms")}

    for name in args.cases.split(","):
        w = workloads.get(name)
        if args.quick:
            w = w.resized(samples_per_class=100, hidden=min(w.hidden, 64))
        if args.samples_per_class:
            w = w.resized(samples_per_class=args.samples_per_class)
        result["cases"][name] = measure(w, args.device, args.epochs, args.graph_epochs,
                                        kernels)
        # where the fewest rows a backward thread sums binds (N x ceil(H/4) below
        # BACKWARD_THREADS), the partial sums and the reduce's loop grow with N / MIN_ROWS:
        # the same case with other floors, for the next tuning of the default
        groups = -(-w.hidden // 4)
        if -(-w.N * groups // step.BACKWARD_THREADS) < step.MIN_ROWS:
            sweep(w, name, "MIN_ROWS", args.sweep_min_rows, int, "min_rows_sweep")
        sweep(w, name, "SPLIT_FROM", args.sweep_split_from,
              lambda value: None if value == "off" else int(value), "split_from_sweep")
    print(json.dumps(result, indent=2))
    if args.json:
        harness.save(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
