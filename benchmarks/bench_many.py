"""Many models at once: M copies of the reference classifier trained as one batched model
(xpnet.batched.ManyModels) against the same M trained one after another (xpnet.Model).

    python benchmarks/bench_many.py [--models 32] [--epochs 200] [--preset ch15] [--repeats 3]
                                    [--no-dropout] [--block B]

``--no-dropout`` trains the preset without its dropout layer (ch15 without dropout is the
performance issue's reference workload: N=3000, H=64).

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
from dataclasses import replace  # noqa: E402

from xpnet import presets  # noqa: E402
from xpnet.batched import ManyModels  # noqa: E402


def sequential(preset: presets.Preset, seeds: list[int], epochs: int) -> float:
    models = [presets.build(preset, seed=s) for s in seeds]
    start = time.perf_counter()
    for model, (X, y), _ in models:
        model.train(X, y, epochs=epochs, log_every=None)
    return time.perf_counter() - start


def batched(preset: presets.Preset, seeds: list[int], epochs: int, block: int | None) -> float:
    many = ManyModels(preset, seeds=seeds, block=block)
    start = time.perf_counter()
    many.train(epochs=epochs)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--preset", default="ch15")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-dropout", action="store_true", help="the preset without dropout")
    parser.add_argument("--block", type=int, default=None,
                        help="copies per block (default: ManyModels' cache-sized choice)")
    args = parser.parse_args(argv)
    preset = presets.get(args.preset)
    if args.no_dropout:
        preset = replace(preset, dropout=0.0)
    seeds = list(range(args.models))
    work = args.models * args.epochs
    seq, bat = [], []
    for _ in range(args.repeats):  # alternate, so load drifts hit both
        seq.append(sequential(preset, seeds, args.epochs))
        bat.append(batched(preset, seeds, args.epochs, args.block))
    s, b = statistics.median(seq), statistics.median(bat)
    # each repeat times both back to back: the ratio within a pair cancels slow drifts in the
    # load of a shared machine better than the ratio of the medians
    pairs = sorted(q / t for q, t in zip(seq, bat, strict=True))
    variant = " without dropout" if args.no_dropout else ""
    print(f"{args.models} x {args.preset}{variant}, {args.epochs} epochs, median of "
          f"{args.repeats}; block {ManyModels(preset, seeds=seeds, block=args.block).block}; "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    print(f"sequential: {s:.3f} s  ({work / s:8.1f} model-epochs/s)")
    print(f"batched:    {b:.3f} s  ({work / b:8.1f} model-epochs/s)")
    print(f"throughput ratio batched / sequential: {s / b:.2f}x (ratio of medians); per "
          f"repeat: median {statistics.median(pairs):.2f}x, range {pairs[0]:.2f}-{pairs[-1]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
