"""The contenders: one training loop each, built for a workload.

Each factory takes ``(workload, X, y)`` (host NumPy data) and, on a GPU run, the keyword
``device="cuda"``, and returns ``run(epochs) -> (loss, accuracy)``, which trains for
``epochs`` more full-batch epochs (training continues from where the previous call stopped)
and returns the loss and accuracy of the last one. The data go to the device once, in the
factory, outside any timed region. A contender that cannot run here (torch or JAX missing,
no compiler for ``torch.compile``, no CUDA for a graph, an xpnet option this version lacks)
raises :class:`Unavailable` with the reason.

* ``book``           plain NumPy in the NNFS book's idioms, float32 ``np.dot`` (always CPU)
* ``book_nnfs``      the same with ``nnfs.init()``'s float64 dot workaround (done locally)
* ``xpnet``          xpnet's public API, default settings (NumPy; CuPy on ``cuda``, where
  the defaults train with the fused kernels and the whole-step engine)
* ``xpnet_faithful`` xpnet with ``seed="nnfs"`` (the book's precision policy)
* ``xpnet_fast``     GPU only: ``Model(backend="cupy", fast=True)``, the fused CuPy kernels
  (the default there, named)
* ``xpnet_layered``  GPU only: ``Model(backend="cupy", fast=False)``, layer by layer (what
  the default was before the whole-step engine)
* ``xpnet_graph``    GPU only: the same, trained with ``train(..., graph=True)`` (one CUDA
  graph replayed per epoch)
* ``torch_eager``    PyTorch eager on the CPU, or on ``cuda`` ("PyTorch CUDA eager", the
  GPU peer)
* ``torch_cuda_graph`` GPU only: PyTorch's whole training step (forward, backward and
  ``torch.optim.Adam(capturable=True)``) captured once as a CUDA graph, replayed per epoch
* ``jax_jit``        JAX: the training step as one ``jax.jit`` function, one call per epoch
  (on the CPU, or on ``cuda`` JAX's GPU)
* ``jax_scan``       the same step, several epochs per launch (``jax.lax.scan``)
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
import os
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import JAX_GPU_MEMORY, resolve
from ..model import Model
from ..nn.activations import ReLU, Softmax
from ..nn.layers import Dense, Dropout
from ..nn.losses import CategoricalCrossentropy
from ..nn.optimizers import Adam
from . import nnfs_book
from .workloads import DECAY, LEARNING_RATE, LOG_EVERY, Workload

__all__ = ["CONTENDERS", "GPU_ONLY", "HOST_ONLY", "NUMPY_CONTENDERS", "SLOW_TO_START", "Run",
           "Unavailable", "build_workload", "default_contenders", "make", "memory_method",
           "placement", "synchronizer"]

#: ``run(epochs) -> (loss, accuracy)``
Run = Callable[[int], tuple[float, float]]

#: The array library of the xpnet contenders, per device. (Tests map ``"cuda"`` to
#: ``"numpy"`` to run a GPU run's code paths on a CPU.)
XPNET_BACKEND = {"cpu": "numpy", "cuda": "cupy"}
#: The torch device of the torch contenders, per device (likewise).
TORCH_DEVICE = {"cpu": "cpu", "cuda": "cuda"}
#: Contenders that run on the host on every device: the book's NumPy code, the baseline.
HOST_ONLY = ("book", "book_nnfs")
#: Contenders that exist only on a GPU: xpnet's fused kernels and CUDA graphs, and PyTorch's
#: training step as a CUDA graph.
GPU_ONLY = ("xpnet_fast", "xpnet_layered", "xpnet_graph", "torch_cuda_graph")


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

def build_workload(m: Model, w: Workload) -> Model:
    """Give ``m`` workload ``w``'s network (``Dense → ReLU → [Dropout] → Dense → Softmax``),
    loss and optimizer (Adam with the suite's rate and decay), and return it."""
    m.add(Dense(w.features, w.hidden))
    m.add(ReLU())
    if w.dropout:
        m.add(Dropout(w.dropout))
    m.add(Dense(w.hidden, w.classes))
    m.add(Softmax())
    m.set(loss=CategoricalCrossentropy(),
          optimizer=Adam(learning_rate=LEARNING_RATE, decay=DECAY))
    return m


def _xpnet(w: Workload, X: np.ndarray, y: np.ndarray, seed: Any, device: str = "cpu",
           fast: bool | None = None, graph: bool = False) -> Run:
    backend = XPNET_BACKEND[device]
    try:  # fast None: the defaults
        m = Model(backend=backend, seed=seed) if fast is None else \
            Model(backend=backend, seed=seed, fast=fast)
    except TypeError as exc:  # this xpnet has no fast= (BackendError is a TypeError too)
        if fast is None:
            raise
        msg = f"Model(backend={backend!r}, fast={fast}) is not available: " \
              f"{type(exc).__name__}: {exc}"
        raise Unavailable(msg) from exc
    build_workload(m, w)
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
                # (ValueError: Dropout outside the whole-step engine); on a later call, a
                # real failure
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


def xpnet_layered(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """``Model(backend="cupy", seed=0, fast=False)``: xpnet on CuPy layer by layer, without
    the fused kernels and the whole-step engine the default uses there."""
    _gpu_only("xpnet_layered", device)
    return _xpnet(w, X, y, seed=0, device=device, fast=False)


def xpnet_graph(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """``xpnet_fast`` trained with ``train(..., graph=True)`` (logging as the others): each call
    records one training step as a CUDA graph and replays it (Dropout included: the
    whole-step engine keeps the masks' position on the device)."""
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


def _torch_network(torch: Any, w: Workload, X: np.ndarray, y: np.ndarray,
                   where: Any) -> tuple[Any, Any, Any]:
    """The torch contenders' network, in training mode, and the data, on ``where``: every
    torch contender starts from the same weights (``torch.manual_seed(0)``)."""
    from torch import nn

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
    return net, Xt, yt


def _torch(w: Workload, X: np.ndarray, y: np.ndarray, compiled: bool,
           device: str = "cpu") -> Run:
    torch = _import_torch()
    import torch.nn.functional as F

    where = torch.device(TORCH_DEVICE[device])
    if where.type == "cuda":
        _torch_cuda_or_unavailable(torch)
    net, Xt, yt = _torch_network(torch, w, X, y, where)

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


# ---------------------------------------------------------------------------------------
# PyTorch's whole training step captured as one CUDA graph.
# ---------------------------------------------------------------------------------------

#: Eager steps on a side stream before the capture (PyTorch's whole-network recipe: cuBLAS
#: and the optimizer's state are set up before recording); their effect is undone.
GRAPH_WARMUP_STEPS = 3


def _torch_whole_step(torch: Any, w: Workload, X: np.ndarray, y: np.ndarray,
                      where: Any) -> types.SimpleNamespace:
    """PyTorch's whole training step, with nothing the host computes in it, so that it can be
    captured as one CUDA graph: ``step() -> (loss, accuracy)`` (0-d tensors) runs the forward
    pass, the loss, the backward pass and ``torch.optim.Adam``'s step, with the book's decayed
    rate ``lr / (1 + decay * t)`` computed on the device from a step counter kept there into
    the optimizer's learning-rate tensor. ``reset()`` puts the weights, Adam's state and the
    counter back to where they started.

    The network and its first weights are those of the other torch contenders. On CUDA the
    optimizer is ``capturable`` (its step counts and bias corrections stay on the device, as a
    graph needs); PyTorch allows that only there, so on the CPU (where nothing is captured:
    the tests run this step un-captured) it is the default implementation with the same
    tensor learning rate."""
    import torch.nn.functional as F

    net, Xt, yt = _torch_network(torch, w, X, y, where)
    count = torch.zeros((), device=where)  # steps done, float32 on the device
    lr = torch.full((), LEARNING_RATE, device=where)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, eps=1e-7,
                                 capturable=where.type == "cuda")
    initial = [p.detach().clone() for p in net.parameters()]

    def step() -> tuple[Any, Any]:
        optimizer.zero_grad(set_to_none=True)  # backward writes fresh gradients
        lr.copy_(LEARNING_RATE / (1.0 + DECAY * count))
        logits = net(Xt)
        loss = F.cross_entropy(logits, yt)
        with torch.no_grad():
            acc = (logits.argmax(dim=1) == yt).float().mean()
        loss.backward()
        optimizer.step()
        count.add_(1.0)
        return loss.detach(), acc

    def reset() -> None:
        with torch.no_grad():
            for p, p0 in zip(net.parameters(), initial, strict=True):
                p.copy_(p0)
            for state in optimizer.state.values():  # exp_avg, exp_avg_sq, step: all zeros
                for value in state.values():
                    if torch.is_tensor(value):
                        value.zero_()
            count.zero_()

    return types.SimpleNamespace(step=step, reset=reset, optimizer=optimizer, net=net)


def _stepping(step: Callable[[], tuple[Any, Any]]) -> Run:
    """``run(epochs)`` from ``step() -> (loss, accuracy)`` tensors: reads them back only on
    logged epochs (every :data:`LOG_EVERY` and the last), as ``torch_eager`` does."""
    state = {"step": 0}

    def run(epochs: int) -> tuple[float, float]:
        loss_value = acc_value = float("nan")
        for i in range(epochs):
            loss, acc = step()
            if (state["step"] + 1) % LOG_EVERY == 0 or i == epochs - 1:
                loss_value, acc_value = float(loss), float(acc)
            state["step"] += 1
        return loss_value, acc_value

    return run


def _torch_uncaptured(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """``torch_cuda_graph``'s step run eagerly, one call per epoch, on any torch device: the
    numbers its graph replays, for the tests."""
    torch = _import_torch()
    return _stepping(_torch_whole_step(torch, w, X, y, torch.device(TORCH_DEVICE[device])).step)


def _captured(torch: Any, parts: types.SimpleNamespace) -> tuple[Any, tuple[Any, Any]]:
    """``parts.step`` (:func:`_torch_whole_step`, on CUDA) captured as a CUDA graph after
    :data:`GRAPH_WARMUP_STEPS` eager steps on a side stream, which ``parts.reset()`` then
    undoes: the graph and the static (loss, accuracy) tensors each replay writes."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(GRAPH_WARMUP_STEPS):
            parts.step()
    torch.cuda.current_stream().wait_stream(side)
    parts.reset()
    # no gradients at the capture: backward allocates them in the graph's private pool
    parts.optimizer.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static = parts.step()
    return graph, static


def torch_cuda_graph(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """PyTorch's whole training step (forward, loss, backward, ``torch.optim.Adam(
    capturable=True)`` with the book's decay computed on the device) captured once as a CUDA
    graph (``torch.cuda.CUDAGraph``) and replayed once per epoch, as PyTorch's documentation
    captures a whole network: :data:`GRAPH_WARMUP_STEPS` eager steps on a side stream first
    (then undone, so that training starts from ``torch_eager``'s weights), the gradients set
    to None before the capture so that backward allocates them in the graph's private pool,
    and the data, loss and accuracy in static tensors. Dropout's masks come from the default
    CUDA generator, which ``torch.cuda.graph`` registers with the graph: each replay draws
    new ones. CUDA only."""
    torch = _import_torch()
    where = torch.device(TORCH_DEVICE[device])
    if where.type != "cuda":
        msg = ("torch_cuda_graph needs CUDA: it captures PyTorch's training step as a CUDA "
               "graph (torch.cuda.CUDAGraph); use --device cuda")
        raise Unavailable(msg)
    _torch_cuda_or_unavailable(torch)
    graph, static = _captured(torch, _torch_whole_step(torch, w, X, y, where))

    def replay() -> tuple[Any, Any]:
        graph.replay()
        return static

    return _stepping(replay)


# ---------------------------------------------------------------------------------------
# JAX: the training step as one jitted function, called once per epoch (jax_jit), or
# several epochs per launch with lax.scan (jax_scan).
# ---------------------------------------------------------------------------------------

#: The JAX platform of the JAX contenders, per device (tests map ``"cuda"`` to ``"cpu"``).
JAX_PLATFORM = {"cpu": "cpu", "cuda": "gpu"}
#: The epochs one ``jax_scan`` launch runs, longest first: ``run(epochs)`` launches the
#: longest that fits until the count is reached (500 = 7 x 64 + 3 x 16 + 4: 11 launches).
#: Each length is compiled once, when the contender is built: four compilations cover
#: every count.
SCAN_LENGTHS = (64, 16, 4, 1)
#: The book's Adam (Optimizer_Adam's defaults), as xpnet's.
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7


def _import_jax() -> Any:
    # JAX takes 75% of a GPU's memory the first time it uses one unless told not to; the
    # other contenders of the run need theirs (read when JAX starts its GPU backend)
    os.environ.setdefault(*JAX_GPU_MEMORY)
    try:
        import jax
    except ImportError as exc:
        msg = f"jax is not installed ({exc})"
        raise Unavailable(msg) from None
    return jax


def _jax_device(jax: Any, device: str) -> Any:
    platform = JAX_PLATFORM[device]
    try:
        return jax.devices(platform)[0]
    except RuntimeError as exc:
        msg = (f"jax {jax.__version__} cannot use a {platform} device here ({exc}); on a GPU "
               "it needs JAX's CUDA plugin (pip install 'jax[cuda12]' or 'jax[cuda13]')")
        raise Unavailable(msg) from None


def _book_parameters(w: Workload) -> tuple[np.ndarray, ...]:
    """``(W1, b1, W2, b2)`` as the book's script makes them (``np.random.seed(0)``, then
    ``0.01 * np.random.randn`` for each dense layer's weights in turn, zero biases), in
    float32: the ``book`` contender's first weights."""
    stream = np.random.RandomState(0)  # the book's stream (its own, not the global one)
    W1 = 0.01 * stream.randn(w.features, w.hidden)
    W2 = 0.01 * stream.randn(w.hidden, w.classes)
    return (W1.astype(np.float32), np.zeros((1, w.hidden), np.float32),
            W2.astype(np.float32), np.zeros((1, w.classes), np.float32))


def _jax_step(jax: Any, w: Workload) -> Callable[..., Any]:
    """One training step as a pure function, ``step(state, X, y) -> (state, (loss, acc))``.

    ``state = (params, m, v, t, key)``: the parameters ``(W1, b1, W2, b2)``, Adam's moments,
    the steps done (int32) and the random key. The maths of the other contenders: ``relu(X @
    W1 + b1)``, with dropout ``where(bernoulli(keep), h / keep, 0)`` from a key split off
    each step, ``log_softmax`` and the mean cross-entropy of the labels, gradients by
    ``jax.value_and_grad``, then the book's Adam (eps 1e-7) with its decayed rate ``lr / (1 +
    decay * t)``. The products ask for float32 precision (``Precision.HIGHEST``): JAX's
    default on a GPU would round their inputs to TF32, which the others do not. The
    accuracy is that of the step's forward pass, computed with it."""
    jnp = jax.numpy
    keep = 1.0 - w.dropout
    highest = jax.lax.Precision.HIGHEST

    def loss_of(params: Any, X: Any, y: Any, key: Any) -> tuple[Any, Any]:
        W1, b1, W2, b2 = params
        h = jax.nn.relu(jnp.dot(X, W1, precision=highest) + b1)
        if w.dropout:
            h = jnp.where(jax.random.bernoulli(key, keep, h.shape), h / keep, 0.0)
        logits = jnp.dot(h, W2, precision=highest) + b2
        log_p = jax.nn.log_softmax(logits, axis=1)
        loss = -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))
        return loss, logits

    gradient = jax.value_and_grad(loss_of, has_aux=True)

    def step(state: Any, X: Any, y: Any) -> tuple[Any, tuple[Any, Any]]:
        params, m, v, t, key = state
        key, subkey = jax.random.split(key)
        (loss, logits), grads = gradient(params, X, y, subkey)
        done = t.astype(jnp.float32)
        lr = LEARNING_RATE / (1.0 + DECAY * done)
        correct_1 = 1.0 - BETA_1 ** (done + 1.0)
        correct_2 = 1.0 - BETA_2 ** (done + 1.0)
        m = tuple(BETA_1 * mi + (1.0 - BETA_1) * g for mi, g in zip(m, grads, strict=True))
        v = tuple(BETA_2 * vi + (1.0 - BETA_2) * (g * g) for vi, g in zip(v, grads, strict=True))
        params = tuple(p - lr * (mi / correct_1) / (jnp.sqrt(vi / correct_2) + EPSILON)
                       for p, mi, vi in zip(params, m, v, strict=True))
        acc = jnp.mean((jnp.argmax(logits, axis=1) == y).astype(jnp.float32))
        return (params, m, v, t + 1, key), (loss, acc)

    return step


def _jax_state(jax: Any, w: Workload, X: np.ndarray, y: np.ndarray, where: Any,
               params: tuple[np.ndarray, ...] | None = None) -> tuple[Any, Any, Any]:
    """The first training state (``params`` or the book's, zero moments, step 0, key 0)
    and the data, on JAX device ``where`` (once, outside every timed region)."""
    first = _book_parameters(w) if params is None else params
    host = tuple(np.asarray(p, dtype=np.float32) for p in first)
    zeros = tuple(np.zeros_like(p) for p in host)
    state = (host, zeros, zeros, np.zeros((), np.int32), jax.random.key(0))
    # int32 labels: JAX's default integer (int64 only in its 64-bit mode)
    data = (np.ascontiguousarray(X, dtype=np.float32), np.asarray(y, dtype=np.int32))
    state, data = jax.device_put((state, data), where)
    return state, *data


def _jax(w: Workload, X: np.ndarray, y: np.ndarray, device: str, scan: bool,
         params: tuple[np.ndarray, ...] | None = None) -> Run:
    jax = _import_jax()
    where = _jax_device(jax, device)
    state, Xj, yj = _jax_state(jax, w, X, y, where, params)
    step = _jax_step(jax, w)
    # donated: each launch may update the state's buffers in place
    if not scan:
        launches = {1: jax.jit(step, donate_argnums=0).lower(state, Xj, yj).compile()}
    else:
        def epochs_of(state: Any, X: Any, y: Any, length: int) -> tuple[Any, tuple[Any, Any]]:
            state, (losses, accs) = jax.lax.scan(lambda s, _: step(s, X, y), state,
                                                 length=length)
            return state, (losses[-1], accs[-1])

        scanned = jax.jit(epochs_of, static_argnames="length", donate_argnums=0)
        launches = {n: scanned.lower(state, Xj, yj, length=n).compile() for n in SCAN_LENGTHS}
    lengths = sorted(launches, reverse=True)
    held = {"state": state, "step": 0}

    def run(epochs: int) -> tuple[float, float]:
        metrics: Any = None
        loss_value = acc_value = float("nan")
        left = epochs
        while left:
            n = next(n for n in lengths if n <= left)
            held["state"], metrics = launches[n](held["state"], Xj, yj)
            left -= n
            held["step"] += n
            # read back after the last launch, and (a launch per epoch, as torch_eager) on
            # logged epochs
            if not left or (not scan and held["step"] % LOG_EVERY == 0):
                loss_value, acc_value = float(metrics[0]), float(metrics[1])
        return loss_value, acc_value

    return run


def jax_jit(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """JAX: the whole training step (forward, loss, ``jax.value_and_grad``, the book's Adam
    with its decay, dropout masks from ``jax.random`` with a key split off each step) as one
    ``jax.jit`` function of (parameters, Adam's state, step, key), called once per epoch.
    Compiled (ahead of time) when the contender is built; starts from the book's weights."""
    return _jax(w, X, y, device, scan=False)


def jax_scan(w: Workload, X: np.ndarray, y: np.ndarray, device: str = "cpu") -> Run:
    """``jax_jit``'s step run several epochs per launch, by ``jax.lax.scan`` inside one jitted
    function: up to 64 epochs a launch (:data:`SCAN_LENGTHS`); timed per epoch as the
    others. Loss and accuracy are those of the last epoch of the last launch."""
    return _jax(w, X, y, device, scan=True)


#: name -> factory, in the order of the tables.
CONTENDERS: dict[str, Callable[..., Run]] = {
    "book": book,
    "book_nnfs": book_nnfs,
    "xpnet": xpnet,
    "xpnet_faithful": xpnet_faithful,
    "xpnet_fast": xpnet_fast,
    "xpnet_layered": xpnet_layered,
    "xpnet_graph": xpnet_graph,
    "torch_eager": torch_eager,
    "torch_cuda_graph": torch_cuda_graph,
    "jax_jit": jax_jit,
    "jax_scan": jax_scan,
    "torch_compile": torch_compile,
}

#: The contenders whose arrays are NumPy's on the CPU, so that tracemalloc sees them.
NUMPY_CONTENDERS = ("book", "book_nnfs", "xpnet", "xpnet_faithful")


#: Left out of a quick run unless named: they compile when built (``torch.compile`` about a
#: minute a case on a small CPU; ``jax_jit`` one XLA compilation, 1-2 s, ``jax_scan`` four).
SLOW_TO_START = ("jax_jit", "jax_scan", "torch_compile")


def default_contenders(device: str = "cpu", quick: bool = False) -> list[str]:
    """The contenders a run on ``device`` times when none are named: on the CPU all but
    :data:`GPU_ONLY`, on a GPU all of them; a ``quick`` run leaves out
    :data:`SLOW_TO_START`.

    >>> default_contenders("cpu")  # doctest: +NORMALIZE_WHITESPACE
    ['book', 'book_nnfs', 'xpnet', 'xpnet_faithful', 'torch_eager', 'jax_jit', 'jax_scan',
     'torch_compile']
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
    ``torch.cuda.synchronize()`` (the whole device). JAX, which dispatches asynchronously
    on the CPU too and has no device-wide wait: ``jax.block_until_ready`` on every live JAX
    array.
    """
    if name.startswith("jax"):
        jax = _import_jax()
        return lambda: jax.block_until_ready(jax.live_arrays())
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
    the drop in the device's free memory (``cuda_free_memory``). PyTorch CUDA eager and
    ``torch_cuda_graph``: ``torch.cuda.max_memory_allocated`` (``torch_cuda``; the graph's
    private pool is PyTorch's allocator's too). Not measured: PyTorch on the CPU (its
    allocator does not report to tracemalloc), ``torch.compile`` on CUDA (a second
    compilation only for this), and JAX (its allocator's peak cannot be reset).
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
    if name in ("torch_eager", "torch_cuda_graph") and TORCH_DEVICE[device] == "cuda":
        return "torch_cuda"
    return None
