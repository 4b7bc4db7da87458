"""The machine's ceilings, measured in-process: matrix-product speed and memory bandwidth.

The benchmark divides its analytic counts (:mod:`xpnet.bench.workloads`) by the measured time
and compares the rates with these ceilings, measured with the same NumPy and the same thread
limits as the contenders (call them inside the harness's thread limits). On a GPU,
:func:`measure_cuda` measures the same two ceilings with CuPy, timed with CUDA events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Ceilings", "cuda_matmul_gflops", "cuda_memory_gbps", "matmul_gflops", "measure",
           "measure_cuda", "memory_gbps"]

#: Size of the square float32 matrices of the product benchmark: large enough for the BLAS's
#: peak (~2 GFLOP per product), small enough for a few tens of milliseconds each.
MATMUL_N = 1024
#: Bytes of the array copied by the bandwidth benchmark: far beyond any cache.
COPY_BYTES = 256 * 2**20
#: Measurements per ceiling; the best one counts (the others lost time to something else).
TRIES = 5
#: On a GPU: square matrices of 8192 (1.1 TFLOP per product, tens of milliseconds in float32,
#: enough to fill every multiprocessor) and a 1 GiB copy (far beyond the L2 cache).
CUDA_MATMUL_N = 8192
CUDA_COPY_BYTES = 2**30
#: Untimed runs before the timed ones: cuBLAS picks its kernel, the clocks ramp up.
CUDA_WARMUP = 2


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
    device : str
        ``"cpu"`` (NumPy, wall clock) or ``"cuda"`` (CuPy, CUDA events).
    """

    matmul_gflops: float
    bandwidth_gbps: float
    matmul_n: int = MATMUL_N
    copy_bytes: int = COPY_BYTES
    tries: int = TRIES
    seconds: float = 0.0
    device: str = "cpu"

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


# ---------------------------------------------------------------------------------------
# The same two ceilings on a CUDA GPU, with CuPy.
# ---------------------------------------------------------------------------------------

def _cupy() -> Any:
    import cupy  # only on a GPU run; the harness has checked that CuPy works

    return cupy


def _best_event_seconds(cupy: Any, op: Callable[[], Any], tries: int) -> float:
    """Best time of ``tries`` runs of ``op``, each between two CUDA events on the current
    stream (device time, no host overhead), after :data:`CUDA_WARMUP` untimed runs."""
    for _ in range(CUDA_WARMUP):
        op()
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    best = float("inf")
    for _ in range(tries):
        start.record()
        op()
        end.record()
        end.synchronize()
        best = min(best, cupy.cuda.get_elapsed_time(start, end) / 1e3)  # ms -> s
    return best


def cuda_matmul_gflops(n: int = CUDA_MATMUL_N, tries: int = TRIES) -> float:
    """Best rate of ``tries`` float32 ``(n, n) @ (n, n)`` CuPy products (cuBLAS) on random
    data into a preallocated result.

    CuPy computes float32 products in float32 unless ``CUPY_TF32=1`` (the environment is
    recorded with the results); PyTorch's default is float32 too.
    """
    cupy = _cupy()
    rng = cupy.random.RandomState(0)
    a = rng.standard_normal((n, n), dtype=cupy.float32)
    b = rng.standard_normal((n, n), dtype=cupy.float32)
    out = cupy.empty((n, n), dtype=cupy.float32)
    best = _best_event_seconds(cupy, lambda: cupy.matmul(a, b, out=out), tries)
    return 2 * n**3 / best / 1e9


def cuda_memory_gbps(nbytes: int = CUDA_COPY_BYTES, tries: int = TRIES) -> float:
    """Best rate of ``tries`` device-to-device copies (``cupy.copyto``) of an ``nbytes``
    float32 array into another, counting read and written bytes."""
    cupy = _cupy()
    src = cupy.ones(nbytes // 4, dtype=cupy.float32)
    dst = cupy.empty_like(src)
    best = _best_event_seconds(cupy, lambda: cupy.copyto(dst, src), tries)
    return 2 * src.nbytes / best / 1e9


def measure_cuda(matmul_n: int = CUDA_MATMUL_N, copy_bytes: int = CUDA_COPY_BYTES,
                 tries: int = TRIES) -> Ceilings:
    """Both ceilings of the current CUDA device (a second or two; 3 GiB of device memory
    at the default sizes, returned to the driver afterwards)."""
    start = time.perf_counter()
    pool = _cupy().get_default_memory_pool()
    gflops = cuda_matmul_gflops(matmul_n, tries)
    pool.free_all_blocks()  # the matrices, freed on return, go back to the driver
    gbps = cuda_memory_gbps(copy_bytes, tries)
    pool.free_all_blocks()
    return Ceilings(matmul_gflops=gflops, bandwidth_gbps=gbps, matmul_n=matmul_n,
                    copy_bytes=copy_bytes, tries=tries,
                    seconds=time.perf_counter() - start, device="cuda")
