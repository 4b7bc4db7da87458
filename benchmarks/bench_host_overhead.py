"""The host's share of a GPU epoch: the Python an epoch of the whole-step engine runs, with
every kernel launch replaced by a no-op, so that it runs (and is timed) without a GPU.

    python benchmarks/bench_host_overhead.py [--epochs 2000] [--repeats 5] [--json PATH]

On a GPU an epoch costs the larger of its device time and its host time (the launches are
asynchronous). This measures the host time of the book's reference model (2-64-3, Dropout
0.1, Adam with decay, 3000 samples) on NumPy arrays, through the same code a CuPy model runs:

* ``eager``: ``train(graph=False)``: each epoch runs the whole step's Python (three kernel
  launches, here no-ops; the last applies the optimizer's update, its scalars read from
  the run's step table);
* ``graph``: ``train()`` with ``graph="auto"``: each epoch launches the recorded step (here
  a no-op) and does the optimizer's host bookkeeping; the step table of the run is written
  before the first epoch and counted in.

Both log every 100 epochs as the book does (the metrics of a logged epoch are computed with
NumPy here, so they are not a GPU's cost). Each figure is the median over ``--repeats`` of
microseconds per epoch. The launch itself (a few microseconds through CuPy) and the device
time are not included: they are what a GPU run adds. Prints one JSON object; ``--json PATH``
also writes it.
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
import time  # noqa: E402
from typing import Any  # noqa: E402

import xpnet  # noqa: E402
from xpnet.backend import resolve  # noqa: E402
from xpnet.bench import harness  # noqa: E402
from xpnet.engine import fused  # noqa: E402
from xpnet.nn import Adam, CategoricalCrossentropy, Dense, Dropout, ReLU, Softmax  # noqa: E402


class NoOpCompiler:
    """Stands in for CuPy's ``ElementwiseKernel``: kernels that return at once, but for the
    forward kernel's output, set to uniform probabilities (a logged epoch's loss is read)."""

    def ElementwiseKernel(self, in_params: str, out_params: str, *args: Any,
                          **kwargs: Any) -> Any:
        params = [p.split()[-1] for p in f"{in_params}, {out_params}".split(",")]
        if "out" not in params:
            return lambda *a, **k: None
        at = params.index("out")  # the forward kernel's output
        return lambda *a, **k: a[at].fill(1 / a[at].shape[-1])


class NoOpKernels(fused.Kernels):
    """The fused kernels with no-op launches: the update kernels and the whole step's do
    nothing, and a recorded step's launch returns the recorded output."""

    elementwise = NoOpCompiler()

    def update(self, rule: Any, scalars: Any, p: Any, g: Any, state: Any) -> None:
        return None

    def capture(self, step: Any) -> Any:
        out = step()
        return lambda: out


def model() -> xpnet.Model:
    m = xpnet.Model(seed=0, fast=NoOpKernels(resolve("numpy")), dropout_masks="counter")
    for layer in (Dense(2, 64), ReLU(), Dropout(0.1), Dense(64, 3), Softmax()):
        m.add(layer)
    m.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.05, decay=5e-5))
    return m


def time_it(graph: bool, epochs: int, repeats: int) -> list[float]:
    X, y = xpnet.datasets.spiral(1000, classes=3, seed=0)
    m = model()
    assert m.engine == "step"
    m.train(X, y, epochs=epochs, graph=graph)  # warm
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        m.train(X, y, epochs=epochs, log_every=100, graph=graph)
        out.append((time.perf_counter() - start) / epochs * 1e6)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "what": "host microseconds per epoch of the reference model (2-64-3, Dropout 0.1, "
                "3000 samples) on the whole-step engine, kernel launches replaced by no-ops",
        "epochs": args.epochs, "repeats": args.repeats,
        "python": sys.version.split()[0], "machine": platform.machine(),
        "processor": platform.processor(), "cpu_count": os.cpu_count(),
        "xpnet": xpnet.__version__,
    }
    for name, graph in (("eager", False), ("graph", True)):
        times = time_it(graph, args.epochs, args.repeats)
        result[name] = {"median_us": round(statistics.median(times), 2),
                        "min_us": round(min(times), 2), "max_us": round(max(times), 2)}
    print(json.dumps(result, indent=2))
    if args.json:
        harness.save(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
