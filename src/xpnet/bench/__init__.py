"""The benchmark suite behind ``xpnet bench``: xpnet against the book's plain-NumPy code,
PyTorch (eager, ``torch.compile``, and on CUDA the whole step as one CUDA graph) and JAX (a
jitted step per epoch, ``lax.scan`` over epochs) on the reference, wide and big workloads, on
the CPU or (``device="cuda"``) with xpnet on CuPy, PyTorch on CUDA and JAX on its GPU.

* :mod:`~xpnet.bench.workloads`: the cases and their analytic cost (FLOPs, bytes moved,
  bytes needed) and the time floor it implies;
* :mod:`~xpnet.bench.contenders`: one training loop per contender;
* :mod:`~xpnet.bench.ceilings`: the machine's matrix-product and memory-bandwidth ceilings;
* :mod:`~xpnet.bench.machine`: thread limits, the recorded environment, the device check;
* :mod:`~xpnet.bench.harness`: :func:`run_suite`, the fair timing loop, returning a dict.

>>> from xpnet.bench import CASES, GPU_CASES
>>> list(CASES)
['reference', 'reference_dropout', 'wide', 'wide_dropout', 'big', 'big_dropout']
>>> list(GPU_CASES)
['huge', 'huge_dropout']
"""

from __future__ import annotations

from .ceilings import Ceilings
from .contenders import CONTENDERS, Unavailable
from .harness import run_suite, save
from .workloads import CASES, GPU_CASES, Workload

__all__ = ["CASES", "CONTENDERS", "GPU_CASES", "Ceilings", "Unavailable", "Workload",
           "run_suite", "save"]
