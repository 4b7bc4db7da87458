"""Dropout masks: the host stream against the counter-based generator (Philox4x32-10).

    python benchmarks/bench_masks.py [--device cpu|cuda] [--shape 300000x1024] [--keep 0.9]
                                     [--repeats 3] [--json PATH]

Times one keep mask of ``--shape`` (default: the ``huge`` case's hidden layer) drawn

* ``host``: by the host stream, :meth:`xpnet.random.Generator.keep_mask` (what
  ``dropout_masks="host"`` costs a step), plus on ``cuda`` its copy to the device;
* ``xp``: by :func:`xpnet.philox.keep_mask`, Array API operations on the device's namespace
  (NumPy on ``cpu``, CuPy on ``cuda``);
* ``kernel`` (``cuda`` only): by :class:`xpnet.engine.masks.CupyMasks`, one CUDA kernel (what
  ``dropout_masks="counter"`` costs a step on CuPy);

and on ``cuda``, for scale, applying a mask as the buffered engine does (``x * scale``, then
``* kept``: one of dropout's forward or backward passes). Each figure is the median of
``--repeats`` after one untimed call (CuPy compiles its kernels on first use), with a device
synchronize at both ends. On ``cuda`` it also checks that the kernel's mask is the Array API
code's, bit for bit. Prints one JSON object; ``--json PATH`` also writes it.
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
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from xpnet import philox  # noqa: E402
from xpnet.backend import resolve  # noqa: E402
from xpnet.engine.buffered import BufferedOps, Mask  # noqa: E402
from xpnet.engine.masks import CupyMasks  # noqa: E402
from xpnet.files import atomic_write_bytes  # noqa: E402
from xpnet.random import Generator  # noqa: E402

KEY = 0x0123456789ABCDEF


def _median_ms(f: Callable[[int], Any], sync: Callable[[], None], repeats: int) -> float:
    f(0)  # untimed: compiles CuPy's kernels, maps the host pages
    sync()
    times = []
    for r in range(1, repeats + 1):
        start = time.perf_counter()
        f(r)
        sync()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(n) for n in text.lower().split("x"))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        msg = f"expected a shape like 300000x1024, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--shape", type=_shape, default=(300000, 1024))
    parser.add_argument("--keep", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    shape, keep = args.shape, args.keep
    b = resolve("cupy" if args.device == "cuda" else "numpy")
    sync = b.synchronize
    rng = Generator(0)
    out: dict[str, Any] = {
        "device": args.device, "shape": list(shape), "keep": keep, "repeats": args.repeats,
        "arithmetic": philox.arithmetic(b), "python": platform.python_version(),
        "numpy": np.__version__, "ms": {},
    }
    ms = out["ms"]
    ms["host"] = _median_ms(lambda _: rng.keep_mask(keep, shape), sync, args.repeats)
    if b.name == "cupy":
        ms["host_and_copy"] = _median_ms(lambda _: b.asarray(rng.keep_mask(keep, shape)), sync,
                                         args.repeats)
    ms["xp"] = _median_ms(lambda r: philox.keep_mask(b, shape, keep, KEY, r), sync,
                          args.repeats)
    if b.name == "cupy":
        import cupy

        out["cupy"] = cupy.__version__
        kernel, kept = CupyMasks(cupy), cupy.empty(shape, dtype=bool)
        ms["kernel"] = _median_ms(lambda r: kernel.keep_mask(keep, KEY, r, kept), sync,
                                  args.repeats)
        kernel.keep_mask(keep, KEY, 7, kept)
        out["kernel_is_xp_bits"] = bool(cupy.all(kept == philox.keep_mask(b, shape, keep, KEY,
                                                                          7)))
        ops = BufferedOps(b)
        x = cupy.ones(shape, dtype=cupy.float32)
        ms["apply_mask"] = _median_ms(lambda _: ops.dropout(x, Mask(kept, 1 / keep)), sync,
                                      args.repeats)
        ms["relu_for_scale"] = _median_ms(lambda _: ops.relu(x), sync, args.repeats)
    base = ms.get("host_and_copy", ms["host"])
    out["speedup_vs_host"] = {k: base / v for k, v in ms.items()
                              if k in ("xp", "kernel") and v > 0}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        atomic_write_bytes(args.json, (text + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
