"""What do explain mode's hooks cost when no tracer is active?

Builds a copy of xpnet with every tracing hook removed (the ``if _trace.ACTIVE is not None``
and ``if tracing`` blocks, cut out of the syntax tree), then times the reference workload
(spiral 1000/class x 3, 2-64-3 with and without dropout, Adam, full batch, float32) with the
real library and with the hook-free copy, alternating fresh processes, and prints the ratio.

    python benchmarks/bench_trace.py [--epochs 500] [--repeats 7] [--json PATH]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import ast  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import xpnet  # noqa: E402

TIMER = """
import sys, time
import xpnet
from xpnet.nn.activations import ReLU, Softmax
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import CategoricalCrossentropy
from xpnet.nn.optimizers import Adam
epochs, dropout = int(sys.argv[1]), float(sys.argv[2])
X, y = xpnet.datasets.spiral(1000, 3, seed=0)
model = xpnet.Model(seed=0)
for layer in (Dense(2, 64), ReLU(), *( [Dropout(dropout)] if dropout else []), Dense(64, 3),
              Softmax()):
    model.add(layer)
model.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.05, decay=5e-5))
model.train(X, y, epochs=20, log_every=None)
t = time.perf_counter()
model.train(X, y, epochs=epochs, log_every=100)
print((time.perf_counter() - t) / epochs * 1e3)
"""


class _StripHooks(ast.NodeTransformer):
    """Remove tracing: ``if _trace.ACTIVE is not None: ...``, ``if tracing: ...`` and
    ``tracing = ...`` statements."""

    def visit_If(self, node: ast.If) -> ast.AST | list[ast.stmt] | None:
        test = ast.unparse(node.test)
        if test in ("_trace.ACTIVE is not None", "tracing"):
            return node.orelse or None
        self.generic_visit(node)
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST | None:
        if [ast.unparse(t) for t in node.targets] == ["tracing"]:
            return None
        return node


def strip_hooks(destination: Path) -> int:
    """Copy the installed xpnet to ``destination/xpnet`` without its hooks; return how many
    statements were removed."""
    source = Path(xpnet.__file__).parent
    target = destination / "xpnet"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    removed = 0
    for path in target.glob("*.py"):
        text = path.read_text()
        tree = ast.parse(text)
        before = sum(isinstance(n, (ast.If, ast.Assign)) for n in ast.walk(tree))
        tree = ast.fix_missing_locations(_StripHooks().visit(tree))
        after = sum(isinstance(n, (ast.If, ast.Assign)) for n in ast.walk(tree))
        removed += before - after
        path.write_text(ast.unparse(tree))
    return removed


def time_once(pythonpath: str | None, epochs: int, dropout: float) -> float:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, "-c", TIMER, str(epochs), str(dropout)], env=env,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        removed = strip_hooks(Path(tmp))
        print(f"hook-free copy: {removed} statements removed; epochs={args.epochs}, "
              f"repeats={args.repeats}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
        print(f"{'case':12s} {'hooks (ms)':>11s} {'no hooks (ms)':>14s} {'ratio':>7s}")
        for case, dropout in (("no_dropout", 0.0), ("dropout", 0.1)):
            hooked, plain = [], []
            for _ in range(args.repeats):  # alternate, so drifts in machine load cancel
                hooked.append(time_once(None, args.epochs, dropout))
                plain.append(time_once(tmp, args.epochs, dropout))
            h, p = statistics.median(hooked), statistics.median(plain)
            results[case] = {"hooks_ms": h, "no_hooks_ms": p, "ratio": h / p,
                             "hooks_samples": hooked, "no_hooks_samples": plain}
            print(f"{case:12s} {h:11.3f} {p:14.3f} {h / p:7.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"benchmark": "bench_trace", "results": results},
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
