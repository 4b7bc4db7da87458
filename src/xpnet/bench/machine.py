"""The machine a benchmark measures: thread limits, the environment it records (versions,
BLAS, git revision, load; on a GPU the device and its software), and the check that a run can
use the device it asks for.

Library code: nothing is printed.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import threadpoolctl

from ..backend import resolve
from ..errors import BackendError
from .contenders import XPNET_BACKEND
from .workloads import DEVICES

__all__ = ["THREAD_VARS", "cuda_facts", "environment", "limit_threads", "require_device"]

#: Environment variables that size the BLAS and OpenMP thread pools when a library loads.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def torch_module(names: Sequence[str]) -> Any:
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
    this runs, so the pools are resized in place with ``threadpoolctl``. Yields what is in
    effect: the requested count, the variables, every pool threadpoolctl sees and torch's
    count; ``warnings`` says when a limit could not be applied.
    """
    info: dict[str, Any] = {"requested": threads,
                            "env": {var: os.environ.get(var) for var in THREAD_VARS},
                            "warnings": []}
    with contextlib.ExitStack() as stack:
        stack.enter_context(threadpoolctl.threadpool_limits(limits=threads))
        info["threadpoolctl"] = threadpoolctl.__version__
        info["pools"] = [
            {k: pool.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                      "num_threads")}
            for pool in threadpoolctl.threadpool_info()]
        # a library caps the count at its build's maximum (OpenBLAS: often 64) without a word
        info["warnings"].extend(dict.fromkeys(  # (NumPy's and SciPy's OpenBLAS: said once)
            f"{pool.get('prefix') or pool['internal_api']} runs {pool['num_threads']} threads, "
            f"not the {threads} asked: its build allows no more"
            for pool in info["pools"] if (pool.get("num_threads") or threads) < threads))
        cpus = os.cpu_count()
        if cpus and threads > cpus:
            info["warnings"].append(f"{threads} threads asked on {cpus} CPUs: they take turns "
                                    "on the cores, which slows every contender")
        if torch is not None:
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            stack.callback(torch.set_num_threads, before)
            with contextlib.suppress(RuntimeError):  # allowed once, before any parallel work
                torch.set_num_interop_threads(threads)
            info["torch_threads"] = torch.get_num_threads()
            info["torch_interop_threads"] = torch.get_num_interop_threads()
        yield info


def loadavg() -> float | None:
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


def _cuda_version(version: int) -> str:
    """CUDA's integer versions as text: 12040 -> '12.4'."""
    return f"{version // 1000}.{version % 1000 // 10}"


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().splitlines()[0] if out.strip() else None


def cuda_facts(torch: Any = None) -> dict[str, Any]:
    """The GPU and its software, for the record of a GPU run: the device's name, compute
    capability, memory and multiprocessors, the CUDA runtime and driver versions (CuPy's
    view, and the driver release nvidia-smi reports), CuPy's version and ``CUPY_TF32``, and
    with ``torch`` its version, CUDA build, device and float32 matmul settings. A fact that
    cannot be read is None, and ``errors`` says why."""
    facts: dict[str, Any] = {"gpu": None, "errors": []}

    def read(what: str, get: Callable[[], dict[str, Any]]) -> None:
        try:
            facts.update(get())
        except Exception as exc:  # no CuPy, no GPU, or a fact this version does not have
            facts["errors"].append(f"{what}: {type(exc).__name__}: {exc}")

    def versions() -> dict[str, Any]:
        import cupy

        runtime = cupy.cuda.runtime
        return {"cupy": cupy.__version__,
                "cuda_runtime": _cuda_version(runtime.runtimeGetVersion()),
                "cuda_driver": _cuda_version(runtime.driverGetVersion())}

    def device() -> dict[str, Any]:
        import cupy

        index = cupy.cuda.Device().id
        props = cupy.cuda.runtime.getDeviceProperties(index)
        name = props["name"]
        return {"device_index": index,
                "gpu": name.decode() if isinstance(name, bytes) else str(name),
                "compute_capability": f"{props.get('major')}.{props.get('minor')}",
                "memory_bytes": props.get("totalGlobalMem"),
                "multiprocessors": props.get("multiProcessorCount"),
                "l2_cache_bytes": props.get("l2CacheSize")}

    read("cupy", versions)
    read("cupy device", device)
    facts["nvidia_driver"] = _nvidia_driver()
    facts["cupy_tf32"] = os.environ.get("CUPY_TF32")
    if torch is not None:
        facts["torch"] = torch.__version__
        facts["torch_cuda"] = torch.version.cuda
        try:
            facts["torch_cuda_available"] = bool(torch.cuda.is_available())
            if facts["torch_cuda_available"]:
                facts["torch_gpu"] = torch.cuda.get_device_name()
            facts["torch_matmul_allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
            facts["torch_float32_matmul_precision"] = torch.get_float32_matmul_precision()
        except Exception as exc:
            facts["errors"].append(f"torch: {type(exc).__name__}: {exc}")
    return facts


def _installed(name: str) -> str | None:
    """The installed version of distribution ``name`` (without importing it), or None."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment(torch: Any = None, device: str = "cpu") -> dict[str, Any]:
    """Versions, CPU count, BLAS, git revision and the load average at the start; on a GPU
    run also :func:`cuda_facts` (under ``"cuda"``)."""
    from .. import __version__

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "numpy_blas": _blas(),
        "torch": getattr(torch, "__version__", None),
        "jax": _installed("jax"),
        "jaxlib": _installed("jaxlib"),
        "xpnet": __version__,
        "git": _git_revision(),
        "loadavg_1m_start": loadavg(),
        "device": device,
        "cuda": cuda_facts(torch) if device == "cuda" else None,
    }


def require_device(device: str) -> None:
    """Check that a suite can run on ``device``; raise :class:`~xpnet.errors.BackendError`
    saying what is missing and how to install it when it cannot."""
    if device not in DEVICES:
        msg = f"unknown device {device!r}; choose from {', '.join(DEVICES)}."
        raise ValueError(msg)
    if device == "cpu":
        return
    try:
        resolve(XPNET_BACKEND[device])
    except BackendError as exc:
        install = ("pip install 'xpnet[cupy-cuda12]' for CUDA 12, pip install "
                   "'xpnet[cupy-cuda13]' for CUDA 13 (nvidia-smi shows the driver's CUDA "
                   "version)")
        if isinstance(exc.__cause__, ImportError):
            problem = (f"CuPy is not installed ({exc.__cause__}). Install it with {install}.")
        else:  # installed, but no GPU, or built for another CUDA than the driver's
            said = str(exc).rstrip()
            said += "" if said.endswith(".") else "."
            problem = (f"{said} If CuPy was built for another CUDA version than the driver's, "
                       f"install the matching build: {install}.")
        msg = (f"--device {device} needs CuPy and a CUDA GPU, and CuPy cannot be used here: "
               f"{problem} Without a GPU, use --device cpu.")
        raise BackendError(msg) from exc
