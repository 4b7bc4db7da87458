"""Many models at once: M copies of the reference classifier trained as one batched model
(xpnet.batched.ManyModels) against the same M trained one after another (xpnet.Model).

    python benchmarks/bench_many.py [--models 32] [--epochs 200] [--preset ch15] [--repeats 3]

Prints model-epochs per second for both and their ratio (the performance issue's target:
32 models batched >= 1.5x the throughput of 32 sequential runs).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from xpnet import presets  # noqa: E402
from xpnet.batched import ManyModels  # noqa: E402


def sequential(preset: str, seeds: list[int], epochs: int) -> float:
    models = [presets.build(presets.get(preset), seed=s) for s in seeds]
    start = time.perf_counter()
    for model, (X, y), _ in models:
        model.train(X, y, epochs=epochs, log_every=None)
    return time.perf_counter() - start


def batched(preset: str, seeds: list[int], epochs: int) -> float:
    many = ManyModels(preset, seeds=seeds)
    start = time.perf_counter()
    many.train(epochs=epochs)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--preset", default="ch15")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    seeds = list(range(args.models))
    work = args.models * args.epochs
    seq, bat = [], []
    for _ in range(args.repeats):  # alternate, so load drifts hit both
        seq.append(sequential(args.preset, seeds, args.epochs))
        bat.append(batched(args.preset, seeds, args.epochs))
    s, b = statistics.median(seq), statistics.median(bat)
    print(f"{args.models} x {args.preset}, {args.epochs} epochs, median of {args.repeats}; "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    print(f"sequential: {s:.3f} s  ({work / s:8.1f} model-epochs/s)")
    print(f"batched:    {b:.3f} s  ({work / b:8.1f} model-epochs/s)")
    print(f"throughput ratio batched / sequential: {s / b:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
