"""Core training-speed benchmark: the book's reference workload, without and with dropout.

A thin shim over the package's suite: ``python benchmarks/bench_core.py [options]`` is
``xpnet bench --cases reference,reference_dropout [options]`` with the thread variables set
to 1 *before* NumPy loads (``xpnet bench`` limits the already-loaded BLAS with threadpoolctl
instead). Every option of ``xpnet bench`` works, ``--cases`` included; see
``xpnet bench --help`` and docs/benchmarks.md.

Usage::

    python benchmarks/bench_core.py [--quick] [--json PATH] [--repeats R] [--epochs E]
"""

from __future__ import annotations

import os
import sys

# Pin BLAS / OpenMP to one thread before NumPy or PyTorch are imported: they read these once.
# On a small shared machine, extra threads only fight each other on 64-wide products.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from xpnet.cli import main as xpnet_main  # noqa: E402

CASES = "reference,reference_dropout"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--cases" or a.startswith("--cases=") for a in args):
        args = ["--cases", CASES, *args]
    return xpnet_main(["bench", *args])


if __name__ == "__main__":
    sys.exit(main())
