"""The contenders: one training loop each, built for a workload.

Each factory takes ``(workload, X, y)`` (host NumPy data) and, on a GPU run, the keyword
``device="cuda"``, and returns ``run(epochs) -> (loss, accuracy)``, which trains for
``epochs`` more full-batch epochs (training continues from where the previous call stopped)
and returns the loss and accuracy of the last one. The data go to the device once, in the
factory, outside any timed region. A contender that cannot run here (torch missing, no
compiler for ``torch.compile``, an xpnet option this version lacks) raises
:class:`Unavailable` with the reason.

* ``book``           plain NumPy in the NNFS book's idioms, float32 ``np.dot`` (always CPU)
* ``book_nnfs``      the same with ``nnfs.init()``'s float64 dot workaround (done locally)
* ``xpnet``          xpnet's public API, default precision (NumPy; CuPy on ``cuda``)
* ``xpnet_faithful`` xpnet with ``seed="nnfs"`` (the book's precision policy)
* ``xpnet_fast``     GPU only: ``Model(backend="cupy", fast=True)``, the fused CuPy kernels
* ``xpnet_graph``    GPU only: the same, trained with ``train(..., graph=True)`` (one CUDA
  graph replayed per epoch)
* ``torch_eager``    PyTorch eager on the CPU, or on ``cuda`` ("PyTorch CUDA eager", the
  GPU peer)
* ``torch_compile``  PyTorch with ``torch.compile`` of the forward pass and loss, and of
  the optimizer's step (Adam's learning rate held in a tensor, so the decayed rate does not
  recompile it); with dropout on the CPU, Inductor's ``fallback_random`` (eager's random
  numbers), which is faster there

None of them sets thread counts: the harness does, for all of them at once. None of them
synchronizes a device either: :func:`synchronizer` gives the harness what ends a timed region.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import resolve
from ..model import Model
from ..nn.activations import ReLU, Softmax
from ..nn.layers import Dense, Dropout
from ..nn.losses import CategoricalCrossentropy
from ..nn.optimizers import Adam
from . import nnfs_book
from .workloads import DECAY, LEARNING_RATE, LOG_EVERY, Workload

__all__ = ["CONTENDERS", "GPU_ONLY", "HOST_ONLY", "NUMPY_CONTENDERS", "SLOW_TO_START", "Run",
           "Unavailable", "default_contenders", "make", "memory_method", "placement",
           "synchronizer"]

#: ``run(epochs) -> (loss, accuracy)``
Run = Callable[[int], tuple[float, float]]

#: The array library of the xpnet contenders, per device. (Tests map ``"cuda"`` to
#: ``"numpy"`` to run a GPU run's code paths on a CPU.)
XPNET_BACKEND = {"cpu": "numpy", "cuda": "cupy"}
#: The torch device of the torch contenders, per device (likewise).
TORCH_DEVICE = {"cpu": "cpu", "cuda": "cuda"}
#: Contenders that run on the host on every device: the book's NumPy code, the baseline.
HOST_ONLY = ("book", "book_nnfs")
#: Contenders that exist only on a GPU: xpnet's fused kernels and CUDA graphs.
GPU_ONLY = ("xpnet_fast", "xpnet_graph")


class Unavailable(Exception):
    """A contender cannot run in this environment; the message says why."""


# ---------------------------------------------------------------------------------------
# The book's plain-NumPy code: the classes of xpnet.bench.nnfs_book (the project's one copy of
# the book's code, also the tests' oracle), driven by the book's chapter 15 training loop.
#
# nnfs.init() is never called here: it monkeypatches NumPy for the whole process and would
# skew every other contender. What the book gets from it is done locally instead:
#
# * default_dtype="float32": the oracle's Layer_Dense creates its parameters with
#   np.random.randn and np.zeros, float64 without nnfs.init(); they are cast to float32 right
#   after construction (the same values: randn is drawn in float64 either way).
# * The dot workaround (book_nnfs only): every oracle method looks ``np`` up in its module's
#   globals when it runs, so book_nnfs uses a private instance of the oracle module, executed
#   from the same source file and never entered in sys.modules, whose ``np`` is a copy of
#   NumPy's namespace with ``dot`` replaced by the workaround. Every other name in that copy
#   is NumPy's own object (np.random is the same global stream), so only the products
#   change, with no lookup overhead; NumPy itself and the shared oracle module (used by
#   ``book``) are never modified, not even while book_nnfs trains. Patching ``np.dot`` for
#   the duration of each run() would also give these numbers, but it would change NumPy for
#   the whole process during the timed region and rely on every exit path restoring it.
# ---------------------------------------------------------------------------------------

def _dot_nnfs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # nnfs.init()'s workaround (numpy/numpy#15591): products in float64, results in float32
    return np.dot(a.astype("float64"), b.astype("float64")).astype("float32")


@functools.cache
def _oracle_with_dot(dot: Callable[..., Any]) -> types.ModuleType:
    """A private instance of :mod:`xpnet.bench.nnfs_book` whose ``np.dot`` is ``dot``.

    Built once per ``dot`` (cached, so that it is not rebuilt inside a memory measurement).
    """
    path = nnfs_book.__file__
    spec = importlib.util.spec_from_file_location(f"{nnfs_book.__name__}_nnfs_dot", path)
    if spec is None or spec.loader is None:  # pragma: no cover - a source file always has one
        msg = f"cannot load a private copy of the book's code from {path}"
        raise RuntimeError(msg)
    oracle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oracle)
    numpy_with_dot = types.ModuleType(np.__name__, np.__doc__)
    vars(numpy_with_dot).update(vars(np), dot=dot)
    vars(oracle)["np"] = numpy_with_dot  # replaces the oracle's `import numpy as np`
    return oracle


def _book(w: Workload, X: np.ndarray, y: np.ndarray, oracle: types.ModuleType) -> Run:
    """The book's script on ``oracle``'s classes as ``run(epochs) -> (loss, acc)`` that keeps
    training."""
    np.random.seed(0)  # noqa: NPY002 (what nnfs.init() does; no other contender uses it)
    dense1 = oracle.Layer_Dense(w.features, w.hidden)
    activation1 = oracle.Activation_ReLU()
    dropout1 = oracle.Layer_Dropout(w.dropout) if w.dropout else None
    dense2 = oracle.Layer_Dense(w.hidden, w.classes)
    for dense in (dense1, dense2):  # nnfs.init()'s default_dtype="float32" (see above)
        dense.weights = dense.weights.astype(np.float32)
        dense.biases = dense.biases.astype(np.float32)
    loss_activation = oracle.Activation_Softmax_Loss_CategoricalCrossentropy()
    optimizer = oracle.Optimizer_Adam(learning_rate=LEARNING_RATE, decay=DECAY)
    state = {"epoch": 0}

    def run(epochs: int) -> tuple[float, float]:
        loss = accuracy = float("nan")
        for _ in range(epochs):
            epoch = state["epoch"]
            dense1.forward(X)
            activation1.forward(dense1.output)
            if dropout1 is not None:
                dropout1.forward(activation1.output)
                dense2.forward(dropout1.output)
            else:
                dense2.forward(activation1.output)
            data_loss = loss_activation.forward(dense2.output, y)
            regularization_loss = (loss_activation.loss.regularization_loss(dense1)
                                   + loss_activation.loss.regularization_loss(dense2))
            loss = data_loss + regularization_loss
            predictions = np.argmax(loss_activation.output, axis=1)
            accuracy = np.mean(predictions == y)
            if not epoch % LOG_EVERY:
                # the book prints here; a benchmark must not, but builds the same line
                _ = (f"epoch: {epoch}, acc: {accuracy:.3f}, loss: {loss:.3f}, "
                     f"lr: {optimizer.current_learning_rate}")
            loss_activation.backward(loss_activation.output, y)
            dense2.backward(loss_activation.dinputs)
            if dropout1 is not None:
                dropout1.backward(dense2.dinputs)
                activation1.backward(dropout1.dinputs)
            else:
                activation1.backward(dense2.dinputs)
            dense1.backward(activation1.dinputs)
            optimizer.pre_update_params()
            optimizer.update_params(dense1)
            optimizer.update_params(dense2)
            optimizer.post_update_params()
            state["epoch"] = epoch + 1
        return float(loss), float(accuracy)

    return run


def book(w: Workload, X: np.ndarray, y: np.ndarray) -> Run:
    """The book's code with float32 ``np.dot``."""
    return _book(w, X, y, nnfs_book)


def book_nnfs(w: Workload, X: np.ndarray, y: np.ndarray) -> Run:
    """The book's code with ``nnfs.init()``'s float64 products, cast back to float32."""
    return _book(w, X, y, _oracle_with_dot(_dot_nnfs))


# ---------------------------------------------------------------------------------------
# xpnet through its public API.
# ---------------------------------------------------------------------------------------

def _xpnet(w: Workload, X: np.ndarray, y: np.ndarray, seed: Any, device: str = "cpu",
           fast: bool = False, graph: bool = False) -> Run:
    backend = XPNET_BACKEND[device]
    if fast:
        try:
            m = Model(backend=backend, seed=seed, fast=True)
        except TypeError as exc:  # this xpnet has no fast= (BackendError is a TypeError too)
            msg = f"Model(backend={backend!r}, fast=True) is not available: " \
                  f"{type(exc).__name__}: {exc}"
            raise Unavailable(msg) from exc
    else:
        m = Model(backend=backend, seed=seed)
    m.add(Dense(w.features, w.hidden))
    m.add(ReLU())
    if w.dropout:
        m.add(Dropout(w.dropout))
    m.add(Dense(w.hidden, w.classes))
    m.add(Softmax())
    m.set(loss=CategoricalCrossentropy(),
          optimizer=Adam(learning_rate=LEARNING_RATE, decay=DECAY))
    if device != "cpu":  # onto the device once, outside every timed region
        X = m.backend.asarray(X, dtype=m.backend.xp.float32)
        y = m.backend.asarray(y)
    state = {"calls": 0}

    def run(epochs: int) -> tuple[float, float]:
        if not graph:
            history = m.train(X, y, epochs=epochs, log_every=LOG_EVERY)
        else:
            try:
                history = m.train(X, y, epochs=epochs, log_every=LOG_EVERY, graph=True)
            except (TypeError, ValueError) as exc:
                # no graph= in this xpnet (TypeError), or a model it refuses to record
                # (ValueError: Dropout); on a later call, a real failure
                if state["calls"]:
                    raise
                msg = f"train(graph=True) is not available: {type(exc).__name__}: {exc}"
                raise Unavailable(msg) from exc
        state["calls"] += 1
        last = history.records[-1]
        return float(last["loss"]), float(last["acc"])

    return run


def xpnet(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """xpnet's default mode: ``Model(backend="numpy", seed=0)`` (``"cupy"`` on cuda)."""
    return _xpnet(w, X, y, seed=0, device=device)


def xpnet_faithful(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """xpnet's faithful mode, ``seed="nnfs"``: the book's stream and precision policy."""
    return _xpnet(w, X, y, seed="nnfs", device=device)


def _gpu_only(name: str, device: str) -> None:
    if device == "cpu":
        msg = f"{name} runs on a GPU only (CuPy's fused kernels): use --device cuda"
        raise Unavailable(msg)


def xpnet_fast(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """``Model(backend="cupy", seed=0, fast=True)``: xpnet's fused CuPy kernels."""
    _gpu_only("xpnet_fast", device)
    return _xpnet(w, X, y, seed=0, device=device, fast=True)


def xpnet_graph(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """``xpnet_fast`` trained with ``train(..., graph=True)`` (logging as the others): each call
    records one training step as a CUDA graph and replays it (no Dropout: its masks are
    drawn on the host)."""
    _gpu_only("xpnet_graph", device)
    return _xpnet(w, X, y, seed=0, device=device, fast=True, graph=True)


# ---------------------------------------------------------------------------------------
# PyTorch on the CPU or on CUDA: eager, and torch.compile.
# ---------------------------------------------------------------------------------------

def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        msg = f"torch is not installed ({exc})"
        raise Unavailable(msg) from None
    return torch


def _torch_cuda_or_unavailable(torch: Any) -> None:
    if not torch.cuda.is_available():
        msg = (f"torch {torch.__version__} cannot use CUDA here (torch.cuda.is_available() is "
               f"False: a CPU-only build, built for CUDA {torch.version.cuda}, or no GPU seen)")
        raise Unavailable(msg)


def _torch(w: Workload, X: np.ndarray, y: np.ndarray, compiled: bool,
           device: str = "cpu") -> Run:
    torch = _import_torch()
    import torch.nn.functional as F
    from torch import nn

    where = torch.device(TORCH_DEVICE[device])
    if where.type == "cuda":
        _torch_cuda_or_unavailable(torch)
    torch.manual_seed(0)
    layers: list[Any] = [nn.Linear(w.features, w.hidden), nn.ReLU()]
    if w.dropout:
        layers.append(nn.Dropout(w.dropout))
    layers.append(nn.Linear(w.hidden, w.classes))
    net = nn.Sequential(*layers).to(where)
    net.train()
    # onto the device once, outside every timed region
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(where)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(where)

    def forward(inputs: Any, labels: Any) -> tuple[Any, Any]:
        logits = net(inputs)
        return F.cross_entropy(logits, labels), logits

    # eps=1e-7 as the book's Adam; the book's decay lr / (1 + decay * t) is set per step. The
    # compiled step reads the rate from a (host) tensor, as PyTorch's recipe for compiled
    # optimizers with a schedule does: a new Python float would recompile it.
    lr: Any = torch.tensor(LEARNING_RATE) if compiled else LEARNING_RATE
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, eps=1e-7)
    step = optimizer.step
    if compiled:
        if w.dropout:
            # Inductor's own CPU random numbers made the compiled dropout step ~2.9x slower
            # than eager here; falling back to eager's generator halves that (still ~1.6x).
            # The faster setting is the fairer baseline. On CUDA, Inductor's own (Philox,
            # generated inside the fused kernels) is the fast one.
            import torch._inductor.config as inductor_config

            inductor_config.fallback_random = where.type == "cpu"
        forward = torch.compile(forward)
        step = torch.compile(optimizer.step)
    state = {"step": 0}

    def run(epochs: int) -> tuple[float, float]:
        loss_value = acc = float("nan")
        for i in range(epochs):
            rate = LEARNING_RATE / (1.0 + DECAY * state["step"])
            for group in optimizer.param_groups:
                if compiled:
                    group["lr"].fill_(rate)
                else:
                    group["lr"] = rate
            loss, logits = forward(Xt, yt)
            # metrics only on logged epochs, as xpnet's Model.train records them
            if (state["step"] + 1) % LOG_EVERY == 0 or i == epochs - 1:
                with torch.no_grad():
                    acc = float((logits.argmax(dim=1) == yt).float().mean())
                    loss_value = float(loss.detach())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            step()
            state["step"] += 1
        return loss_value, acc

    if not compiled:
        return run

    def run_compiled(epochs: int) -> tuple[float, float]:
        # Dynamo warns once that it ignores the profiler's record_function in Adam.step:
        # harmless, and not for the benchmark's output
        quiet = logging.getLogger("torch._dynamo.variables.ctx_manager")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            return run(epochs)
        except Exception as exc:
            if state["step"] <= 1:  # the first calls compile: a failure there is the compiler's
                msg = f"torch.compile failed: {type(exc).__name__}: {exc}"
                raise Unavailable(msg.splitlines()[0][:500]) from exc
            raise
        finally:
            quiet.setLevel(level)

    return run_compiled


def torch_eager(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """PyTorch eager: ``nn.Linear``/``nn.ReLU``/``nn.Dropout``, ``F.cross_entropy`` on the
    logits, ``torch.optim.Adam(eps=1e-7)`` (its default implementation for the device) with
    the book's decay set every step; on ``cuda``, PyTorch CUDA eager, the GPU peer."""
    return _torch(w, X, y, compiled=False, device=device)


def torch_compile(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """``torch_eager`` with ``torch.compile`` on the forward pass + loss and on Adam's step.

    Compilation happens on the first calls (the harness's warmup). Needs a C++ compiler on
    the CPU, Triton on CUDA; when compiling fails, the first call raises :class:`Unavailable`.
    """
    return _torch(w, X, y, compiled=True, device=device)


#: name -> factory, in the order of the tables.
CONTENDERS: dict[str, Callable[..., Run]] = {
    "book": book,
    "book_nnfs": book_nnfs,
    "xpnet": xpnet,
    "xpnet_faithful": xpnet_faithful,
    "xpnet_fast": xpnet_fast,
    "xpnet_graph": xpnet_graph,
    "torch_eager": torch_eager,
    "torch_compile": torch_compile,
}

#: The contenders whose arrays are NumPy's on the CPU, so that tracemalloc sees them.
NUMPY_CONTENDERS = ("book", "book_nnfs", "xpnet", "xpnet_faithful")


#: Left out of a quick run unless named: compiling takes about a minute on a small CPU.
SLOW_TO_START = ("torch_compile",)


def default_contenders(device: str = "cpu", quick: bool = False) -> list[str]:
    """The contenders a run on ``device`` times when none are named: on the CPU all but
    :data:`GPU_ONLY`, on a GPU all of them; a ``quick`` run leaves out
    :data:`SLOW_TO_START`.

    >>> default_contenders("cpu")
    ['book', 'book_nnfs', 'xpnet', 'xpnet_faithful', 'torch_eager', 'torch_compile']
    >>> default_contenders("cpu", quick=True)[-1]
    'torch_eager'
    """
    return [n for n in CONTENDERS if (device != "cpu" or n not in GPU_ONLY)
            and not (quick and n in SLOW_TO_START)]


def placement(name: str, device: str) -> str:
    """Where contender ``name`` computes on a run on ``device``: the book's code always
    on the ``"cpu"``, the others on ``device``."""
    return "cpu" if name in HOST_ONLY else device


def make(name: str, w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """Build contender ``name`` for workload ``w`` on host data ``(X, y)``, for a run on
    ``device`` (the data are moved there here, untimed)."""
    try:
        factory = CONTENDERS[name]
    except KeyError:
        msg = f"unknown contender {name!r}; choose from {', '.join(CONTENDERS)}."
        raise ValueError(msg) from None
    if placement(name, device) == "cpu" and name not in GPU_ONLY:
        return factory(w, X, y)  # host contenders know nothing of devices
    return factory(w, X, y, device=device)


def _no_op() -> None:
    return None


def synchronizer(name: str, device: str) -> Callable[[], None]:
    """What waits for contender ``name``'s queued device work on a run on ``device``: every
    timed region ends with it, so that GPU timings count the work and not only its launch
    (a no-op for work on the host).

    CuPy: :meth:`xpnet.backend.Backend.synchronize` (the current stream; ``train(graph=True)``
    replays on a blocking stream of its own and waits for it before returning). PyTorch:
    ``torch.cuda.synchronize()`` (the whole device).
    """
    if placement(name, device) == "cpu":
        return _no_op
    if name.startswith("xpnet"):
        return resolve(XPNET_BACKEND[device]).synchronize
    if name.startswith("torch") and TORCH_DEVICE[device] != "cpu":
        torch = _import_torch()
        if torch.cuda.is_available():
            return torch.cuda.synchronize
    return _no_op


def memory_method(name: str, device: str) -> str | None:
    """How :func:`xpnet.bench.harness.peak_memory` measures contender ``name`` on a run on
    ``device`` (a key of ``harness.MEMORY_METHODS``), or None where it does not.

    NumPy arrays: ``tracemalloc``. CuPy: the default memory pool's growth (``cupy_pool``),
    except ``xpnet_graph``, whose recorded step allocates from a private pool, measured by
    the drop in the device's free memory (``cuda_free_memory``). PyTorch CUDA eager:
    ``torch.cuda.max_memory_allocated`` (``torch_cuda``). Not measured: PyTorch on the CPU
    (its allocator does not report to tracemalloc) and ``torch.compile`` on CUDA (a second
    compilation only for this).
    """
    if placement(name, device) == "cpu":
        return "tracemalloc" if name in NUMPY_CONTENDERS else None
    if name.startswith("xpnet"):
        backend = XPNET_BACKEND[device]
        if backend == "numpy":
            return "tracemalloc"
        if backend == "cupy":
            return "cuda_free_memory" if name == "xpnet_graph" else "cupy_pool"
        return None
    if name == "torch_eager" and TORCH_DEVICE[device] == "cuda":
        return "torch_cuda"
    return None
