"""The benchmark harness: times every contender on every case and returns all numbers.

Fairness rules (those of the original ``benchmarks/bench_core.py``):

* one process, one BLAS thread and one torch thread by default (:func:`limit_threads`);
* every contender of a case is built once and warmed up (``torch.compile`` compiles in the
  warmup), then each repeat times ``epochs`` more epochs of every contender, the order rotated
  by one every repeat so that no contender always runs first or last, with ``gc.collect()``
  before each timed run;
* the result is the median ms/epoch over repeats, with the min, max and every sample;
* peak memory is measured in a separate, untimed pass (``tracemalloc`` slows allocation).

Library code: nothing is printed; progress goes to the ``progress`` callback.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import ceilings as _ceilings
from .contenders import CONTENDERS, NUMPY_CONTENDERS, Run, Unavailable, make
from .workloads import (
    DECAY,
    LEARNING_RATE,
    LOG_EVERY,
    Workload,
    bytes_moved,
    default_epochs,
    default_warmup,
    flops,
    get,
    needed_arrays,
    needed_bytes,
    traffic,
)

__all__ = ["THREAD_VARS", "environment", "limit_threads", "peak_memory", "run_suite", "save"]

#: Environment variables that size the BLAS and OpenMP thread pools when a library loads.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Epochs trained under tracemalloc to find a contender's peak (the first builds its arrays,
#: the second shows what a steady-state epoch adds).
MEMORY_EPOCHS = 2
#: Ratios reported, as (key, reference contender); torch ratios only for the xpnet rows.
RATIOS = (("vs_book", "book"), ("vs_book_nnfs", "book_nnfs"),
          ("vs_torch_eager", "torch_eager"), ("vs_torch_compile", "torch_compile"))

Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------
# Threads and environment.
# ---------------------------------------------------------------------------------------

def _torch_module(names: Sequence[str]) -> Any:
    """torch if a torch contender is wanted and torch imports, else None."""
    if not any(n.startswith("torch") for n in names):
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


@contextlib.contextmanager
def limit_threads(threads: int, torch: Any = None) -> Iterator[dict[str, Any]]:
    """Run the body with ``threads`` BLAS/OpenMP threads (threadpoolctl) and torch threads.

    The thread variables are read only when a library loads, and NumPy is loaded before
    this runs, so the pools are resized in place with ``threadpoolctl`` when it is
    installed (the ``bench`` extra). Yields what is in effect: the requested count, the
    variables, every pool threadpoolctl sees and torch's count; ``warnings`` says when a
    limit could not be applied.
    """
    info: dict[str, Any] = {"requested": threads,
                            "env": {var: os.environ.get(var) for var in THREAD_VARS},
                            "warnings": []}
    with contextlib.ExitStack() as stack:
        try:
            import threadpoolctl
        except ImportError:
            info["threadpoolctl"] = None
            info["warnings"].append(
                "threadpoolctl is not installed (pip install 'xpnet[bench]'): the BLAS uses "
                "the threads its environment variables gave it when NumPy loaded")
        else:
            stack.enter_context(threadpoolctl.threadpool_limits(limits=threads))
            info["threadpoolctl"] = threadpoolctl.__version__
            info["pools"] = [
                {k: pool.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                          "num_threads")}
                for pool in threadpoolctl.threadpool_info()]
        if torch is not None:
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            stack.callback(torch.set_num_threads, before)
            with contextlib.suppress(RuntimeError):  # allowed once, before any parallel work
                torch.set_num_interop_threads(threads)
            info["torch_threads"] = torch.get_num_threads()
            info["torch_interop_threads"] = torch.get_num_interop_threads()
        yield info


def _loadavg() -> float | None:
    """The 1-minute load average: on a shared machine, high load explains a wide spread."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _git_revision() -> str | None:
    """The checkout's commit (``+dirty`` when src/ has uncommitted changes), or None when
    xpnet is not running from a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        root = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here,
                              capture_output=True, text=True, check=True).stdout.strip()
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def _blas() -> str | None:
    try:
        config: Any = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dicts mode
        return None


def environment(torch: Any = None) -> dict[str, Any]:
    """Versions, CPU count, BLAS, git revision and the load average at the start."""
    from .. import __version__

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "numpy_blas": _blas(),
        "torch": getattr(torch, "__version__", None),
        "xpnet": __version__,
        "git": _git_revision(),
        "loadavg_1m_start": _loadavg(),
    }


# ---------------------------------------------------------------------------------------
# Measurements.
# ---------------------------------------------------------------------------------------

def _data(w: Workload) -> tuple[np.ndarray, np.ndarray]:
    from ..datasets import spiral

    X, y = spiral(w.samples_per_class, w.classes, seed=0)
    return np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64)


def _time(run: Run, epochs: int) -> tuple[float, tuple[float, float]]:
    """Milliseconds per epoch of ``run(epochs)``, and its (loss, accuracy)."""
    gc.collect()
    start = time.perf_counter()
    last = run(epochs)
    elapsed = time.perf_counter() - start
    return elapsed * 1000.0 / epochs, last


def peak_memory(name: str, w: Workload, X: np.ndarray, y: np.ndarray,
                epochs: int = MEMORY_EPOCHS) -> int:
    """Peak bytes allocated while contender ``name`` is built and trains ``epochs`` epochs.

    Measured with :mod:`tracemalloc`, which NumPy reports its array buffers to. The data are
    copied *inside* the trace, so the peak includes ``X`` and ``y`` as
    :func:`~xpnet.bench.workloads.needed_bytes` does. Only meaningful for NumPy contenders.
    """
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if was_tracing:
        tracemalloc.stop()
    tracemalloc.start()
    try:
        Xc, yc = X.copy(), y.copy()
        run = make(name, w, Xc, yc)
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


def _run_case(w: Workload, names: Sequence[str], *, epochs: int, repeats: int, warmup: int,
              memory: bool, ceilings: _ceilings.Ceilings | None,
              progress: Progress) -> dict[str, Any]:
    X, y = _data(w)
    skipped: dict[str, str] = {}
    runs: dict[str, Run] = {}
    for name in names:
        try:
            runs[name] = make(name, w, X, y)
            if warmup:
                progress(f"{w.name}: warming up {name} ({warmup} epochs)")
                runs[name](warmup)
        except Unavailable as exc:
            skipped[name] = str(exc)
            runs.pop(name, None)
        except Exception as exc:  # a broken contender must not lose the others' numbers
            skipped[name] = f"failed: {type(exc).__name__}: {exc}"
            runs.pop(name, None)

    samples: dict[str, list[float]] = {n: [] for n in runs}
    last: dict[str, tuple[float, float]] = {}
    for r in range(repeats):
        progress(f"{w.name}: repeat {r + 1}/{repeats}")
        order = list(runs)
        shift = r % max(len(order), 1)
        for name in order[shift:] + order[:shift]:  # rotate the order each repeat
            ms, last[name] = _time(runs[name], epochs)
            samples[name].append(ms)
    del runs
    gc.collect()

    count_flops, count_bytes, needed = flops(w), bytes_moved(w), needed_bytes(w)
    results: dict[str, dict[str, Any]] = {}
    for name, times in samples.items():
        median = statistics.median(times)
        seconds = median / 1000.0
        loss, acc = last[name]
        row: dict[str, Any] = {
            "median_ms": median, "min_ms": min(times), "max_ms": max(times),
            "spread": (max(times) - min(times)) / median, "samples_ms": times,
            "final_loss": _finite(loss), "final_acc": _finite(acc),
            "gflops": count_flops / seconds / 1e9, "gbps": count_bytes / seconds / 1e9,
        }
        row["gflops_fraction"] = (row["gflops"] / ceilings.matmul_gflops
                                  if ceilings else None)
        row["gbps_fraction"] = row["gbps"] / ceilings.bandwidth_gbps if ceilings else None
        row["peak_bytes"] = None
        if memory and name in NUMPY_CONTENDERS:
            progress(f"{w.name}: peak memory of {name}")
            row["peak_bytes"] = peak_memory(name, w, X, y)
        row["needed_bytes"] = needed
        row["peak_over_needed"] = _ratio(row["peak_bytes"], needed)
        results[name] = row
    for name, row in results.items():
        for key, other in RATIOS:
            if other.startswith("torch") and not name.startswith("xpnet"):
                row[key] = None
            else:
                reference = results.get(other)
                row[key] = _ratio(row["median_ms"],
                                  reference["median_ms"] if reference else None)
    return {"workload": _describe(w), "epochs": epochs, "repeats": repeats,
            "warmup": warmup, "results": results, "skipped": skipped}


def run_suite(cases: Sequence[Workload | str], contenders: Sequence[str] | None = None, *,
              epochs: int | None = None, repeats: int | None = None,
              warmup: int | None = None, quick: bool = False, threads: int = 1,
              memory: bool = True, ceilings: _ceilings.Ceilings | bool = True,
              progress: Progress | None = None) -> dict[str, Any]:
    """Time ``contenders`` on ``cases``; return every number as a JSON-serialisable dict.

    Parameters
    ----------
    cases : sequence of Workload or str
        Workloads, or names of :data:`~xpnet.bench.workloads.CASES`.
    contenders : sequence of str, optional
        Names from :data:`~xpnet.bench.contenders.CONTENDERS` (default: all). One that
        cannot run here is listed under the case's ``skipped`` with the reason.
    epochs : int, optional
        Epochs per timed repeat (default: :func:`~xpnet.bench.workloads.default_epochs`).
    repeats : int, optional
        Timed repeats per contender (default 5; 3 with ``quick``).
    warmup : int, optional
        Untimed epochs first (default: :func:`~xpnet.bench.workloads.default_warmup`).
    quick : bool
        Fewer epochs and repeats, for a first look.
    threads : int
        BLAS, OpenMP and torch threads while timing (see :func:`limit_threads`).
    memory : bool
        Measure the NumPy contenders' peak memory (a separate, untimed pass).
    ceilings : Ceilings or bool
        Measure the machine's ceilings (True), use given ones, or none (False).
    progress : callable, optional
        ``progress(message)`` before each step, for a progress display.

    Returns
    -------
    dict
        ``{"benchmark", "environment", "threads", "ceilings", "config", "cases": {name:
        {"workload", "epochs", "repeats", "warmup", "results": {contender: row},
        "skipped": {contender: reason}}}}``; a row holds ``median_ms, min_ms, max_ms, spread,
        samples_ms, final_loss, final_acc, gflops, gbps, gflops_fraction, gbps_fraction,
        peak_bytes, needed_bytes, peak_over_needed, vs_book, vs_book_nnfs, vs_torch_eager,
        vs_torch_compile`` (ratios of medians; the torch ones only on xpnet rows).
    """
    workloads = [get(c) if isinstance(c, str) else c for c in cases]
    if not workloads:
        msg = "run_suite needs at least one case."
        raise ValueError(msg)
    names = list(CONTENDERS) if contenders is None else list(contenders)
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
    report = progress or (lambda message: None)

    torch = _torch_module(names)
    env = environment(torch)
    cases_out: dict[str, Any] = {}
    with limit_threads(threads, torch) as thread_info:
        measured: _ceilings.Ceilings | None
        if isinstance(ceilings, _ceilings.Ceilings):
            measured = ceilings
        elif ceilings:
            report("measuring the machine's ceilings")
            measured = _ceilings.measure()
        else:
            measured = None
        for w in workloads:
            n_epochs = epochs or default_epochs(w, quick)
            n_warmup = default_warmup(n_epochs) if warmup is None else warmup
            cases_out[w.name] = _run_case(w, names, epochs=n_epochs, repeats=repeats,
                                          warmup=n_warmup, memory=memory,
                                          ceilings=measured, progress=report)
    env["loadavg_1m_end"] = _loadavg()
    return {
        "benchmark": "xpnet-bench",
        "environment": env,
        "threads": thread_info,
        "ceilings": measured.to_dict() if measured else None,
        "config": {"cases": [w.name for w in workloads], "contenders": names,
                   "quick": quick, "repeats": repeats, "epochs": epochs, "warmup": warmup,
                   "threads": threads, "learning_rate": LEARNING_RATE, "decay": DECAY,
                   "log_every": LOG_EVERY, "memory_epochs": MEMORY_EPOCHS if memory else None},
        "cases": cases_out,
    }


def save(result: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``run_suite``'s result to ``path`` as JSON, atomically."""
    from ..io import atomic_write_bytes

    text = json.dumps(result, indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
