"""The benchmark harness: times every contender on every case and returns all numbers.

Fairness rules (those of the original ``benchmarks/bench_core.py``):

* one process, one BLAS thread and one torch thread by default (:func:`limit_threads`);
* every contender of a case is built once and warmed up (``torch.compile`` compiles in the
  warmup), then each repeat times ``epochs`` more epochs of every contender, the order rotated
  by one every repeat so that no contender always runs first or last, with ``gc.collect()``
  before each timed run;
* the result is the median ms/epoch over repeats, with the min, max and every sample;
* peak memory is measured in a separate, untimed pass (``tracemalloc`` slows allocation).

On a GPU (``device="cuda"``) the same loop times xpnet on CuPy and PyTorch on CUDA (the book's
code stays on the CPU, as the baseline): the data go to the device once, outside the timed
regions, and every timed region starts and ends with a device synchronize, so that a time
counts the work queued in it and nothing queued before it.

Library code: nothing is printed; progress goes to the ``progress`` callback.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import ceilings as _ceilings
from .contenders import (
    CONTENDERS,
    GPU_ONLY,
    HOST_ONLY,
    Run,
    Unavailable,
    default_contenders,
    make,
    memory_method,
    placement,
    synchronizer,
)
from .machine import (
    THREAD_VARS,
    cuda_facts,
    environment,
    limit_threads,
    loadavg,
    require_device,
    torch_module,
)
from .workloads import (
    DECAY,
    DEVICES,
    GPU_CASES,
    LEARNING_RATE,
    LOG_EVERY,
    Workload,
    bytes_moved,
    default_cases,
    default_epochs,
    default_warmup,
    floor_ms,
    flops,
    get,
    needed_arrays,
    needed_bytes,
    traffic,
)

__all__ = ["MEMORY_METHODS", "THREAD_VARS", "cuda_facts", "environment", "limit_threads",
           "peak_memory", "require_device", "run_suite", "save"]

#: Epochs trained under tracemalloc to find a contender's peak (the first builds its arrays,
#: the second shows what a steady-state epoch adds).
MEMORY_EPOCHS = 2
#: Ratios reported, as (key, reference contender); those to the peers (PyTorch, JAX) only
#: for the xpnet rows.
RATIOS = (("vs_book", "book"), ("vs_book_nnfs", "book_nnfs"),
          ("vs_torch_eager", "torch_eager"), ("vs_torch_compile", "torch_compile"),
          ("vs_torch_cuda_graph", "torch_cuda_graph"), ("vs_jax_jit", "jax_jit"))
#: How peak memory is measured (a row's ``peak_method``); stored with every result.
MEMORY_METHODS = {
    "tracemalloc": "NumPy arrays: tracemalloc's peak while the contender is built on copies "
                   "of X and y and trains 2 epochs",
    "cupy_pool": "CuPy's default memory pool, emptied (free_all_blocks) before the contender "
                 "is built on the device copy of X and y: total_bytes() after 2 epochs minus "
                 "the bytes in use before. The pool keeps what it has allocated, so this is "
                 "its high-water reservation, an upper bound on the peak of live arrays "
                 "(512-byte rounding, cached blocks); cuBLAS workspaces are not in it",
    "cuda_free_memory": "the drop of the device's free memory (cudaMemGetInfo) from before "
                        "the contender is built (CuPy's default pool emptied) to after 2 "
                        "epochs: every pool and workspace, the private pool of a recorded "
                        "CUDA graph included; granularity of the driver's allocations",
    "torch_cuda": "torch.cuda.max_memory_allocated() after reset_peak_memory_stats(), minus "
                  "the bytes allocated before the contender is built: the peak of live "
                  "tensors",
}

#: ``progress(message, done, total)`` as each step starts: what it does, how many of the
#: suite's steps are done and how many there are (building and warming up a contender,
#: a timed repeat of a case, a peak-memory pass, a ceilings measurement).
Progress = Callable[[str, int, int], None]


class _Steps:
    """Counts the steps of a suite for a :data:`Progress` callback."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.done, self.total, self.progress = 0, total, progress

    def __call__(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message, min(self.done, self.total), self.total)
        self.done += 1


# ---------------------------------------------------------------------------------------
# Measurements.
# ---------------------------------------------------------------------------------------

def _data(w: Workload) -> tuple[np.ndarray, np.ndarray]:
    from ..datasets import spiral

    X, y = spiral(w.samples_per_class, w.classes, seed=0)
    return np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64)


def _time(run: Run, epochs: int,
          sync: Callable[[], None] = lambda: None) -> tuple[float, tuple[float, float]]:
    """Milliseconds per epoch of ``run(epochs)``, and its (loss, accuracy). ``sync`` waits
    for the device: before the clock starts (nothing queued earlier is counted) and before
    it stops (everything queued in the region is)."""
    gc.collect()
    sync()
    start = time.perf_counter()
    last = run(epochs)
    sync()
    elapsed = time.perf_counter() - start
    return elapsed * 1000.0 / epochs, last


def _release_device_memory(device: str) -> None:
    """Give the device memory the pools keep back to the driver (between cases, and
    around memory measurements)."""
    if device == "cpu":
        return
    gc.collect()
    if "cupy" in sys.modules:
        import cupy

        cupy.cuda.Device().synchronize()
        cupy.get_default_memory_pool().free_all_blocks()
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
            torch.cuda.empty_cache()


def peak_memory(name: str, w: Workload, X: np.ndarray, y: np.ndarray,
                epochs: int = MEMORY_EPOCHS, device: str = "cpu") -> int:
    """Peak bytes allocated while contender ``name`` is built and trains ``epochs`` epochs.

    On the CPU, measured with :mod:`tracemalloc`, which NumPy reports its array buffers to.
    The data are copied *inside* the measurement (to the device, on a GPU), so the peak
    includes ``X`` and ``y`` as :func:`~xpnet.bench.workloads.needed_bytes` does. On a GPU
    the method is :func:`~xpnet.bench.contenders.memory_method`'s (see
    :data:`MEMORY_METHODS`); a contender it has none for raises ValueError.
    """
    method = memory_method(name, device)
    if method is None:
        msg = f"no way to measure the peak memory of {name!r} on {device!r} is known."
        raise ValueError(msg)
    if method == "tracemalloc":
        return _peak_tracemalloc(name, w, X, y, epochs, device)
    sync = synchronizer(name, device)
    _release_device_memory(device)
    if method == "torch_cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run = make(name, w, X, y, device)
        run(epochs)
        sync()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        import cupy

        pool = cupy.get_default_memory_pool()
        before_pool = pool.total_bytes()  # == the bytes in use: the pool was just emptied
        before_free = cupy.cuda.runtime.memGetInfo()[0]
        run = make(name, w, X, y, device)
        run(epochs)
        sync()
        cupy.cuda.Device().synchronize()
        if method == "cupy_pool":
            peak = pool.total_bytes() - before_pool
        else:
            peak = before_free - cupy.cuda.runtime.memGetInfo()[0]
    del run
    _release_device_memory(device)
    return int(peak)


def _peak_tracemalloc(name: str, w: Workload, X: np.ndarray, y: np.ndarray, epochs: int,
                      device: str) -> int:
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if was_tracing:
        tracemalloc.stop()
    tracemalloc.start()
    try:
        Xc, yc = X.copy(), y.copy()
        run = make(name, w, Xc, yc, device)
        run(epochs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        if was_tracing:
            tracemalloc.start()
    return int(peak)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _finite(value: float) -> float | None:
    """A float for JSON: NaN and infinities become None."""
    value = float(value)
    return value if np.isfinite(value) else None


def _describe(w: Workload) -> dict[str, Any]:
    return {"samples_per_class": w.samples_per_class, "classes": w.classes,
            "features": w.features, "hidden": w.hidden, "dropout": w.dropout, "N": w.N,
            "flops": flops(w), "bytes_moved": bytes_moved(w), "traffic": traffic(w),
            "needed_bytes": needed_bytes(w), "needed_arrays": needed_arrays(w)}


def _reason(exc: BaseException) -> str:
    """Why a contender was skipped: Unavailable's own message, else the failure."""
    if isinstance(exc, Unavailable):
        return str(exc)
    return f"failed: {type(exc).__name__}: {exc}"


def _host_only_skip(w: Workload, name: str, device: str, explicit: bool) -> str | None:
    """The reason the CPU baseline is left out of a GPU case by default, or None."""
    if explicit or device == "cpu" or name not in HOST_ONLY or w.name not in GPU_CASES:
        return None
    return (f"{name} runs on the CPU; a GPU run times it on the CPU-sized cases only "
            f"(N*H = {w.N * w.hidden:.3g} here: minutes per repeat). Name it in --contenders "
            "to time it anyway.")


def _floors(w: Workload, ceilings: dict[str, _ceilings.Ceilings]) -> dict[str, dict[str, float]]:
    return {dev: floor_ms(w, c.matmul_gflops, c.bandwidth_gbps) for dev, c in ceilings.items()}


def _run_case(w: Workload, names: Sequence[str], *, epochs: int, repeats: int, warmup: int,
              memory: bool, ceilings: dict[str, _ceilings.Ceilings], device: str,
              explicit: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    X, y = _data(w)
    skipped: dict[str, str] = {}
    runs: dict[str, Run] = {}
    syncs: dict[str, Callable[[], None]] = {}
    setup_s: dict[str, float] = {}
    for name in names:
        reason = _host_only_skip(w, name, device, explicit)
        if reason is not None:
            skipped[name] = reason
            continue
        try:
            start = time.perf_counter()
            syncs[name] = synchronizer(name, device)
            runs[name] = make(name, w, X, y, device)
            progress(f"{w.name}: building {name}, warming up ({warmup} epochs)")
            if warmup:
                runs[name](warmup)
            syncs[name]()
            setup_s[name] = time.perf_counter() - start
        except Exception as exc:  # a broken contender must not lose the others' numbers
            skipped[name] = _reason(exc)
            runs.pop(name, None)

    samples: dict[str, list[float]] = {n: [] for n in runs}
    last: dict[str, tuple[float, float]] = {}
    for r in range(repeats):
        order = list(runs)
        shift = r % max(len(order), 1)
        for name in order[shift:] + order[:shift]:  # rotate the order each repeat
            progress(f"{w.name}: repeat {r + 1}/{repeats} of {name}")
            try:
                ms, last[name] = _time(runs[name], epochs, syncs[name])
            except Exception as exc:  # without warmup, a compiler fails here first
                skipped[name] = _reason(exc)
                del runs[name], samples[name]
                continue
            samples[name].append(ms)
    del runs
    gc.collect()
    _release_device_memory(device)

    floors = _floors(w, ceilings)
    count_flops, count_bytes, needed = flops(w), bytes_moved(w), needed_bytes(w)
    results: dict[str, dict[str, Any]] = {}
    for name, times in samples.items():
        median = statistics.median(times)
        seconds = median / 1000.0
        loss, acc = last[name]
        where = placement(name, device)
        ceiling = ceilings.get(where)
        floor = floors.get(where)
        row: dict[str, Any] = {
            "device": where,
            "median_ms": median, "min_ms": min(times), "max_ms": max(times),
            "spread": (max(times) - min(times)) / median, "samples_ms": times,
            "setup_s": setup_s[name],
            "final_loss": _finite(loss), "final_acc": _finite(acc),
            "gflops": count_flops / seconds / 1e9, "gbps": count_bytes / seconds / 1e9,
        }
        row["gflops_fraction"] = row["gflops"] / ceiling.matmul_gflops if ceiling else None
        row["gbps_fraction"] = row["gbps"] / ceiling.bandwidth_gbps if ceiling else None
        row["floor_ms"] = floor["floor_ms"] if floor else None
        row["vs_floor"] = _ratio(median, row["floor_ms"])
        row["peak_bytes"] = None
        row["peak_method"] = memory_method(name, device) if memory else None
        if row["peak_method"] is not None:
            progress(f"{w.name}: peak memory of {name}")
            try:
                row["peak_bytes"] = peak_memory(name, w, X, y, device=device)
            except Exception as exc:  # e.g. out of memory: keep the timings
                row["peak_method"] += f" (failed: {type(exc).__name__}: {exc})"
        row["needed_bytes"] = needed
        row["peak_over_needed"] = _ratio(row["peak_bytes"], needed)
        results[name] = row
    for name, row in results.items():
        for key, other in RATIOS:
            if other not in HOST_ONLY and not name.startswith("xpnet"):
                row[key] = None
            else:
                reference = results.get(other)
                row[key] = _ratio(row["median_ms"],
                                  reference["median_ms"] if reference else None)
    return {"workload": _describe(w), "device": device, "epochs": epochs, "repeats": repeats,
            "warmup": warmup, "floor": floors,
            "floor_ms": floors[device]["floor_ms"] if device in floors else None,
            "results": results, "skipped": skipped}


def _measure_ceilings(ceilings: _ceilings.Ceilings | Sequence[_ceilings.Ceilings] | bool,
                      names: Sequence[str], device: str,
                      report: Callable[[str], None]) -> dict[str, _ceilings.Ceilings]:
    """The ceilings of every device a contender computes on, by device."""
    if isinstance(ceilings, _ceilings.Ceilings):
        return {ceilings.device: ceilings}
    if isinstance(ceilings, bool):
        if not ceilings:
            return {}
        measured = {}
        if any(placement(n, device) == "cpu" for n in names):
            report("measuring the CPU's ceilings")
            measured["cpu"] = _ceilings.measure()
        if device == "cuda":
            report("measuring the GPU's ceilings")
            measured["cuda"] = _ceilings.measure_cuda()
        return measured
    return {c.device: c for c in ceilings}


def run_suite(cases: Sequence[Workload | str] | None = None,
              contenders: Sequence[str] | None = None, *,
              epochs: int | None = None, repeats: int | None = None,
              warmup: int | None = None, quick: bool = False, threads: int = 1,
              memory: bool = True,
              ceilings: _ceilings.Ceilings | Sequence[_ceilings.Ceilings] | bool = True,
              device: str = "cpu", progress: Progress | None = None,
              checkpoint: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Time ``contenders`` on ``cases``; return every number as a JSON-serialisable dict.

    Parameters
    ----------
    cases : sequence of Workload or str, optional
        Workloads, or names of :data:`~xpnet.bench.workloads.ALL_CASES` (default:
        :func:`~xpnet.bench.workloads.default_cases` of ``device`` and ``quick``).
    contenders : sequence of str, optional
        Names from :data:`~xpnet.bench.contenders.CONTENDERS` (default:
        :func:`~xpnet.bench.contenders.default_contenders` of ``device`` and ``quick``).
        One that cannot run here is listed under the case's ``skipped`` with the reason.
    epochs : int, optional
        Epochs per timed repeat (default: :func:`~xpnet.bench.workloads.default_epochs`).
    repeats : int, optional
        Timed repeats per contender (default 5; 3 with ``quick``).
    warmup : int, optional
        Untimed epochs first (default: :func:`~xpnet.bench.workloads.default_warmup`).
    quick : bool
        Fewer epochs and repeats, and by default no ``big`` case and no ``torch_compile``:
        a first look in well under a minute.
    threads : int
        BLAS, OpenMP and torch threads while timing (see :func:`limit_threads`).
    memory : bool
        Measure peak memory where a method is known (a separate, untimed pass).
    ceilings : Ceilings, sequence of Ceilings, or bool
        Measure the ceilings of every device in use (True), use given ones (one per device,
        by their ``device``), or none (False).
    device : {"cpu", "cuda"}
        Where xpnet and PyTorch compute: on ``"cuda"``, xpnet on CuPy and PyTorch CUDA (the
        book's code stays on the CPU). Raises :class:`~xpnet.errors.BackendError` naming
        what is missing when CuPy cannot be used.
    progress : callable, optional
        ``progress(message, done, total)`` before each step, for a progress display (see
        :data:`Progress`).
    checkpoint : callable, optional
        ``checkpoint(result)`` after every case with the result so far (``"complete":
        False``), so that a run cut short keeps the cases it finished.

    Returns
    -------
    dict
        ``{"benchmark", "complete", "device", "environment", "threads", "ceilings",
        "host_ceilings", "memory_methods", "config", "cases": {name: {"workload", "device",
        "epochs", "repeats", "warmup", "floor", "floor_ms", "results": {contender: row},
        "skipped": {contender: reason}}}}``; a row holds ``device, median_ms, min_ms,
        max_ms, spread, samples_ms, setup_s, final_loss, final_acc, gflops, gbps,
        gflops_fraction, gbps_fraction, floor_ms, vs_floor, peak_bytes, peak_method,
        needed_bytes, peak_over_needed, vs_book, vs_book_nnfs, vs_torch_eager,
        vs_torch_compile, vs_torch_cuda_graph, vs_jax_jit`` (ratios of medians; those to
        the torch and JAX contenders only on xpnet rows).
        ``ceilings`` are those of ``device``; ``host_ceilings`` the CPU's on a GPU run.
    """
    if device not in DEVICES:
        msg = f"run_suite needs device 'cpu' or 'cuda', got {device!r}."
        raise ValueError(msg)
    workloads = default_cases(device, quick) if cases is None else [
        get(c) if isinstance(c, str) else c for c in cases]
    if not workloads:
        msg = "run_suite needs at least one case."
        raise ValueError(msg)
    explicit = contenders is not None
    names = default_contenders(device, quick) if contenders is None else list(contenders)
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown or not names:
        msg = (f"unknown contenders {unknown}; choose from {', '.join(CONTENDERS)}." if unknown
               else "run_suite needs at least one contender.")
        raise ValueError(msg)
    repeats = repeats or (3 if quick else 5)
    for label, value, least in (("repeats", repeats, 1), ("epochs", epochs, 1),
                                ("warmup", warmup, 0), ("threads", threads, 1)):
        if value is not None and value < least:
            msg = f"run_suite needs {label} >= {least}, got {value}."
            raise ValueError(msg)
    require_device(device)
    per_case = sum(1 + repeats + (memory and memory_method(n, device) is not None)
                   for n in names)
    devices = {placement(n, device) for n in names} if ceilings is True else set()
    report = _Steps(len(devices) + len(workloads) * per_case, progress)

    torch = torch_module(names)
    env = environment(torch, device)
    cases_out: dict[str, Any] = {}
    config = {"cases": [w.name for w in workloads], "contenders": names, "device": device,
              "quick": quick, "repeats": repeats, "epochs": epochs, "warmup": warmup,
              "threads": threads, "learning_rate": LEARNING_RATE, "decay": DECAY,
              "log_every": LOG_EVERY, "memory_epochs": MEMORY_EPOCHS if memory else None,
              "gpu_only_contenders": list(GPU_ONLY)}

    def result(thread_info: dict[str, Any], complete: bool) -> dict[str, Any]:
        env["loadavg_1m_end"] = loadavg()
        return {
            "benchmark": "xpnet-bench",
            "complete": complete,
            "device": device,
            "environment": env,
            "threads": thread_info,
            "ceilings": measured[device].to_dict() if device in measured else None,
            "host_ceilings": (measured["cpu"].to_dict()
                              if device != "cpu" and "cpu" in measured else None),
            "memory_methods": MEMORY_METHODS,
            "config": config,
            "cases": cases_out,
        }

    with limit_threads(threads, torch) as thread_info:
        measured = _measure_ceilings(ceilings, names, device, report)
        for w in workloads:
            n_epochs = epochs or default_epochs(w, quick)
            n_warmup = default_warmup(n_epochs) if warmup is None else warmup
            cases_out[w.name] = _run_case(w, names, epochs=n_epochs, repeats=repeats,
                                          warmup=n_warmup, memory=memory, ceilings=measured,
                                          device=device, explicit=explicit, progress=report)
            if checkpoint is not None:
                checkpoint(result(thread_info, complete=False))
    return result(thread_info, complete=True)


def save(result: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a result (``run_suite``'s, or any JSON-serialisable dict without NaN) to
    ``path`` as JSON, atomically: a reader never sees a half-written file."""
    from ..io import atomic_write_bytes

    text = json.dumps(result, indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
