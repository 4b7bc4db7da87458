"""Many models at once: M copies of the reference classifier trained as one batched model
(xpnet.many.ManyModels) against the same M trained one after another (xpnet.Model).

    python benchmarks/bench_many.py [--models 32] [--epochs 200] [--preset ch15] [--repeats 3]
                                    [--no-dropout] [--block B] [--device cpu|cuda]
                                    [--json PATH]

``--no-dropout`` trains the preset without its dropout layer (ch15 without dropout is the
performance issue's reference workload: N=3000, H=64). ``--device cuda`` trains both on CuPy
(every copy in one block unless ``--block`` says otherwise), after an untimed warm-up that
compiles CuPy's kernels, and ends each timed region with a device synchronize.

Prints model-epochs per second for both and their ratio (the performance issue's targets:
32 models batched >= 1.5x the throughput of 32 sequential runs on the CPU; 64 models batched
>= 60x on a GPU, issue #12); ``--json PATH`` also writes every number, atomically.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, replace  # noqa: E402
from typing import Any  # noqa: E402

from xpnet import presets  # noqa: E402
from xpnet.backend import resolve  # noqa: E402
from xpnet.bench import contenders, harness  # noqa: E402
from xpnet.errors import BackendError  # noqa: E402
from xpnet.many import ManyModels  # noqa: E402

#: The throughput ratio each device's issue target asks for.
TARGETS = {"cpu": 1.5, "cuda": 60.0}  # issue #12 raised the GPU one from 20x
#: Untimed epochs on a GPU before timing: CuPy compiles each kernel on its first use.
GPU_WARMUP_EPOCHS = 2


def _no_sync() -> None:
    return None


def sequential(preset: presets.Preset, seeds: list[int], epochs: int,
               backend: str = "numpy", sync: Callable[[], None] = _no_sync) -> float:
    models = [presets.build(preset, seed=s, backend=backend) for s in seeds]
    sync()
    start = time.perf_counter()
    for model, (X, y), _ in models:
        model.train(X, y, epochs=epochs, log_every=None)
    sync()
    return time.perf_counter() - start


def batched(preset: presets.Preset, seeds: list[int], epochs: int, block: int | None,
            backend: str = "numpy", sync: Callable[[], None] = _no_sync) -> float:
    many = ManyModels(preset, seeds=seeds, block=block, backend=backend)
    sync()
    start = time.perf_counter()
    many.train(epochs=epochs)
    sync()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--preset", default="ch15")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-dropout", action="store_true", help="the preset without dropout")
    parser.add_argument("--block", type=int, default=None,
                        help="copies per block (default: ManyModels' cache-sized choice on the "
                        "CPU, every copy at once on a GPU)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cpu: NumPy (default); cuda: CuPy")
    parser.add_argument("--json", metavar="PATH", help="also write every number to PATH")
    args = parser.parse_args(argv)
    for name in ("models", "epochs", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    try:
        harness.require_device(args.device)
    except BackendError as exc:
        sys.stderr.write(f"bench_many.py: error: {exc}\n")
        return 2
    backend = contenders.XPNET_BACKEND[args.device]
    sync = resolve(backend).synchronize
    preset = presets.get(args.preset)
    if args.no_dropout:
        preset = replace(preset, dropout=0.0)
    seeds = list(range(args.models))
    block = args.block if args.block is not None or args.device == "cpu" else args.models
    block = ManyModels(preset, seeds=seeds, block=block, backend=backend).block
    if args.device != "cpu":
        sequential(preset, seeds[:1], GPU_WARMUP_EPOCHS, backend, sync)
        batched(preset, seeds, GPU_WARMUP_EPOCHS, block, backend, sync)
    work = args.models * args.epochs
    seq, bat = [], []
    for _ in range(args.repeats):  # alternate, so load drifts hit both
        seq.append(sequential(preset, seeds, args.epochs, backend, sync))
        bat.append(batched(preset, seeds, args.epochs, block, backend, sync))
    s, b = statistics.median(seq), statistics.median(bat)
    # each repeat times both back to back: the ratio within a pair cancels slow drifts in the
    # load of a shared machine better than the ratio of the medians
    pairs = sorted(q / t for q, t in zip(seq, bat, strict=True))
    variant = " without dropout" if args.no_dropout else ""
    on = f" on {args.device}" if args.device != "cpu" else ""
    print(f"{args.models} x {args.preset}{variant}{on}, {args.epochs} epochs, median of "
          f"{args.repeats}; block {block}; "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    print(f"sequential: {s:.3f} s  ({work / s:8.1f} model-epochs/s)")
    print(f"batched:    {b:.3f} s  ({work / b:8.1f} model-epochs/s)")
    print(f"throughput ratio batched / sequential: {s / b:.2f}x (ratio of medians); per "
          f"repeat: median {statistics.median(pairs):.2f}x, range {pairs[0]:.2f}-{pairs[-1]:.2f}x")
    if args.json:
        harness.save(_result(args, preset, block, seq, bat, pairs), args.json)
        print(f"wrote {args.json}")
    return 0


def _result(args: argparse.Namespace, preset: presets.Preset, block: int, seq: list[float],
            bat: list[float], pairs: list[float]) -> dict[str, Any]:
    s, b = statistics.median(seq), statistics.median(bat)
    work = args.models * args.epochs
    torch = sys.modules.get("torch")
    return {
        "benchmark": "xpnet-bench-many",
        "device": args.device,
        "backend": contenders.XPNET_BACKEND[args.device],
        "environment": harness.environment(torch, args.device),
        "config": {"models": args.models, "epochs": args.epochs, "repeats": args.repeats,
                   "preset": asdict(preset), "no_dropout": args.no_dropout, "block": block,
                   "warmup_epochs": GPU_WARMUP_EPOCHS if args.device != "cpu" else 0},
        "sequential_s": seq,
        "batched_s": bat,
        "sequential_model_epochs_per_s": work / s,
        "batched_model_epochs_per_s": work / b,
        "throughput_ratio": s / b,
        "pair_ratios": pairs,
        "pair_ratio_median": statistics.median(pairs),
        "target_ratio": TARGETS[args.device],
        "target_met": s / b >= TARGETS[args.device],
    }


if __name__ == "__main__":
    raise SystemExit(main())
