"""The machine's ceilings, measured in-process: matrix-product speed and memory bandwidth.

The benchmark divides its analytic counts (:mod:`xpnet.bench.workloads`) by the measured time
and compares the rates with these ceilings, measured with the same NumPy and the same thread
limits as the contenders (call them inside the harness's thread limits).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Ceilings", "matmul_gflops", "measure", "memory_gbps"]

#: Size of the square float32 matrices of the product benchmark: large enough for the BLAS's
#: peak (~2 GFLOP per product), small enough for a few tens of milliseconds each.
MATMUL_N = 1024
#: Bytes of the array copied by the bandwidth benchmark: far beyond any cache.
COPY_BYTES = 256 * 2**20
#: Measurements per ceiling; the best one counts (the others lost time to something else).
TRIES = 5


@dataclass(frozen=True)
class Ceilings:
    """What this machine can do on one core (under the caller's thread limits).

    Attributes
    ----------
    matmul_gflops : float
        Best float32 matrix-product rate, ``2*n**3`` flops per ``n x n`` product.
    bandwidth_gbps : float
        Best copy rate between two large preallocated float32 arrays, counting the bytes
        read and the bytes written (``2 * nbytes`` per copy).
    matmul_n, copy_bytes, tries : int
        The measurement's sizes.
    seconds : float
        Time the measurement took.
    """

    matmul_gflops: float
    bandwidth_gbps: float
    matmul_n: int = MATMUL_N
    copy_bytes: int = COPY_BYTES
    tries: int = TRIES
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def matmul_gflops(n: int = MATMUL_N, tries: int = TRIES) -> float:
    """Best rate of ``tries`` float32 ``(n, n) @ (n, n)`` products into a preallocated result.

    >>> matmul_gflops(64, tries=2) > 0
    True
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)  # warm: page in, let the BLAS pick its kernel
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def memory_gbps(nbytes: int = COPY_BYTES, tries: int = TRIES) -> float:
    """Best rate of ``tries`` ``np.copyto`` of an ``nbytes`` float32 array into another,
    counting read and written bytes.

    >>> memory_gbps(2**20, tries=2) > 0
    True
    """
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # the first copy pays the page faults; it is not timed
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


def measure(matmul_n: int = MATMUL_N, copy_bytes: int = COPY_BYTES,
            tries: int = TRIES) -> Ceilings:
    """Both ceilings (about a second in all at the default sizes)."""
    start = time.perf_counter()
    gflops = matmul_gflops(matmul_n, tries)
    gbps = memory_gbps(copy_bytes, tries)
    return Ceilings(matmul_gflops=gflops, bandwidth_gbps=gbps, matmul_n=matmul_n,
                    copy_bytes=copy_bytes, tries=tries,
                    seconds=time.perf_counter() - start)
