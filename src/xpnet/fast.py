r"""Optional fast paths: fused kernels and CUDA-graph capture of a training step.

The generic code launches one GPU kernel per array operation: Adam's update of one parameter
is fourteen of them, softmax five, its cross-entropy gradient three. On the small networks of
the book a kernel does almost no work, so a training step costs what its launches cost.
With ``Model(backend="cupy", fast=True)`` the model replaces them with one kernel each:

- **optimizer updates**: :class:`UpdateRule` bodies for SGD (with and without momentum),
  Adagrad, RMSprop and Adam, each one elementwise kernel that updates the parameter and its
  state in place;
- **softmax** (forward) as one kernel per row, and **softmax + cross-entropy**'s gradient
  :math:`(s - y)/n` as one kernel.

``Model.train(..., graph=True)`` goes further: it records one full-batch training step as a
CUDA graph and replays it every epoch, one launch instead of dozens.

Faithful to the generic path
----------------------------
An update rule's body is written once, in the common subset of C and Python (statements
``a = b * c + d;``, ``sqrt``), with the operations in the generic code's order and rounding:
the CUDA kernel is compiled from it with ``--fmad=false`` (so the compiler does not contract
``a * b + c`` into one rounding), and :class:`Kernels`, the reference implementation used on
the CPU, executes the very same text with NumPy scalars and arrays. The tests check that the
reference gives the generic optimizers' bits, and (on a GPU) that CuPy's kernels give the
reference's. Softmax differs from the generic path only in the order of its row sum, by at
most a few units in the last place.

Fast paths are used only where they give the generic values: while a model trains, with the
parameter, gradient and state of one dtype, and never while explain mode records (it must
see the intermediate arrays the fused kernels never form).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .activations import _row_max
from .backend import Backend
from .errors import BackendError
from .losses import one_hot

__all__ = ["RULES", "CupyKernels", "Kernels", "UpdateRule", "kernels_for"]


@dataclass(frozen=True)
class UpdateRule:
    """An in-place optimizer update of one parameter array, as one elementwise kernel.

    Attributes
    ----------
    name : str
        The kernel's name (``xpnet_<name>`` on the GPU).
    scalars : tuple of str
        Float scalars of the step, in the order the optimizer's ``kernel_scalars`` returns.
    state : tuple of str
        The optimizer's state arrays the body updates (with ``p``, the parameter).
    body : str
        Statements valid in both C and Python, reading ``g`` and the scalars and assigning
        ``p`` and the state arrays.
    """

    name: str
    scalars: tuple[str, ...]
    state: tuple[str, ...]
    body: str


#: The built-in optimizers' updates, keyed by ``Optimizer.kernel_rule()``. Each body repeats
#: the generic ``update`` of :mod:`xpnet.optimizers` operation for operation.
RULES: dict[str, UpdateRule] = {
    rule.name: rule for rule in (
        UpdateRule("sgd", ("neg_lr",), (), "p = p + neg_lr * g;"),
        UpdateRule("sgd_momentum", ("mu", "lr"), ("u",), "u = mu * u - lr * g; p = p + u;"),
        UpdateRule("adagrad", ("neg_lr", "eps"), ("cache",),
                   "cache = cache + g * g; p = p + neg_lr * g / (sqrt(cache) + eps);"),
        UpdateRule("rmsprop", ("neg_lr", "eps", "rho", "one_minus_rho"), ("cache",),
                   "cache = rho * cache + one_minus_rho * (g * g); "
                   "p = p + neg_lr * g / (sqrt(cache) + eps);"),
        UpdateRule("adam", ("neg_lr", "eps", "b1", "one_minus_b1", "b2", "one_minus_b2", "c1",
                            "c2"), ("m", "v"),
                   "m = b1 * m + one_minus_b1 * g; v = b2 * v + one_minus_b2 * (g * g); "
                   "p = p + neg_lr * (m / c1) / (sqrt(v / c2) + eps);"),
    )
}


class ScalarTable:
    """The step scalars of a run of graph replays: one row per step, read on the device at
    row ``counter[0]``, and a counter the step itself advances.

    A captured graph replays fixed kernel arguments, so what changes from step to step (the
    decayed learning rate, Adam's bias corrections) cannot be passed by value; it is written
    here once for the whole run instead.
    """

    def __init__(self, backend: Backend, rows: Sequence[Sequence[float]], dtype: Any):
        xp = backend.xp
        self.width = max((len(r) for r in rows), default=0)
        flat = np.zeros((max(len(rows) * self.width, 1),), dtype=np.float64)
        for i, r in enumerate(rows):
            if len(r) != self.width:
                msg = f"every step needs {self.width} scalars, step {i} has {len(r)}"
                raise ValueError(msg)
            flat[i * self.width:(i + 1) * self.width] = r
        #: row ``t`` is ``table[t * width:(t + 1) * width]`` (one axis: what a kernel indexes)
        self.table = backend.asarray(flat, dtype=dtype)
        self.counter = xp.zeros((1,), dtype=xp.int32, device=backend.device)

    def advance(self) -> None:
        """Move to the next row (recorded into the graph with the step)."""
        self.counter += 1


class Kernels:
    """The fast paths' reference implementation, in NumPy.

    It runs each :class:`UpdateRule` body as Python on NumPy float32 scalars and arrays, the
    softmax row by row in the GPU kernel's order, and "captures" a step by keeping the
    function to call again. Tests pass ``Model(fast=Kernels(backend))`` to check on a CPU
    everything the CUDA fast paths do but compile: which arrays they update, the scalars,
    the table of a graph's steps. :class:`CupyKernels` is the GPU implementation.
    """

    name = "reference"

    def __init__(self, backend: Backend):
        self.backend = backend
        self.table: ScalarTable | None = None  # set while a graph's steps read scalars from it

    def __deepcopy__(self, memo: dict[int, Any]) -> Kernels:
        # shared, not copied: compiled kernels and a capture pool serve any number of models
        # (a recorded graph lives only as long as the train() call that replays it)
        return self

    # -- optimizer updates ---------------------------------------------------------------
    def update(self, rule: UpdateRule, scalars: Sequence[float], p: Any, g: Any,
               state: Sequence[Any]) -> None:
        """Apply ``rule`` to ``p`` and ``state`` in place, with ``scalars`` (or the current
        row of :attr:`table` while a graph's step runs)."""
        dtype = p.dtype.type
        values = self._row(len(scalars)) if self.table is not None else scalars
        env: dict[str, Any] = {name: dtype(v) for name, v in zip(rule.scalars, values,
                                                                   strict=True)}
        env.update(p=p, g=g, sqrt=np.sqrt, **dict(zip(rule.state, state, strict=True)))
        exec(rule.body, {"__builtins__": {}}, env)  # the rule bodies are our own constants
        for name, array in zip(("p", *rule.state), (p, *state), strict=True):
            if env[name] is not array:
                np.copyto(array, env[name])

    def _row(self, width: int) -> Any:
        assert self.table is not None
        t, w = int(self.table.counter[0]), self.table.width
        return [float(v) for v in self.table.table[t * w:t * w + width]]

    # -- softmax and its cross-entropy gradient ------------------------------------------
    def softmax(self, x: Any, out: Any) -> Any:
        """Row softmax of a 2-D ``x`` into ``out``: maximum, exponentials and their sum taken
        column by column in order, as the kernel's loop over a row does."""
        np.exp(x - _row_max(np, x), out=out)
        total = out[:, 0:1].copy()
        for j in range(1, x.shape[1]):
            total += out[:, j:j + 1]
        out /= total
        return out

    def softmax_ce_backward(self, s: Any, y: Any, out: Any) -> Any:
        """``(s - one_hot(y)) / n`` for integer labels ``y``, into ``out``."""
        n, k = s.shape
        np.subtract(s, one_hot(self.backend.xp, y, k, s.dtype), out=out)
        out /= s.dtype.type(n)
        return out

    # -- graphs --------------------------------------------------------------------------
    @contextlib.contextmanager
    def replaying(self) -> Iterator[None]:
        """The context the steps of a graph run in (CuPy: a capture stream)."""
        yield

    def capture(self, step: Callable[[], Any]) -> Callable[[], Any]:
        """Record ``step`` (without running it) as one launch that runs it and returns its
        output. The reference records nothing: its launch calls the step."""
        return step


class CupyKernels(Kernels):
    """The CUDA fast paths: CuPy elementwise kernels and CUDA graphs."""

    name = "cupy"

    def __init__(self, backend: Backend):
        super().__init__(backend)
        import cupy

        self._cupy = cupy
        self._compiled: dict[tuple[str, bool], Any] = {}
        self._pool: Any = None  # the capture's private memory pool, kept with the model
        self._stream: Any = None

    def _kernel(self, rule: UpdateRule, table: bool) -> Any:
        key = (rule.name, table)
        kernel = self._compiled.get(key)
        if kernel is None:
            if table:
                ins = "T g, raw T table, raw int32 counter"
                width = len(rule.scalars)
                prefix = "".join(
                    f"const T {name} = table[counter[0] * {width} + {j}]; "
                    for j, name in enumerate(rule.scalars))
            else:
                ins = ", ".join(["T g", *(f"T {name}" for name in rule.scalars)])
                prefix = ""
            outs = ", ".join(f"T {name}" for name in ("p", *rule.state))
            kernel = self._compiled[key] = self._cupy.ElementwiseKernel(
                ins, outs, prefix + rule.body, name=f"xpnet_{rule.name}",
                options=("--fmad=false",))
        return kernel

    def update(self, rule: UpdateRule, scalars: Sequence[float], p: Any, g: Any,
               state: Sequence[Any]) -> None:
        if self.table is not None:
            if self.table.width != len(scalars):
                msg = f"the step table has {self.table.width} scalars, {rule.name} needs " \
                      f"{len(scalars)}"
                raise RuntimeError(msg)
            self._kernel(rule, True)(g, self.table.table, self.table.counter, p, *state)
        else:
            self._kernel(rule, False)(g, *scalars, p, *state)

    def softmax(self, x: Any, out: Any) -> Any:
        kernel = self._compiled.get(("softmax", False))
        if kernel is None:
            kernel = self._compiled["softmax", False] = self._cupy.ElementwiseKernel(
                "raw T x, int32 k", "raw T s",
                """
                const ptrdiff_t row = i * (ptrdiff_t)k;
                T m = x[row];
                for (int j = 1; j < k; ++j) { const T v = x[row + j]; m = v > m ? v : m; }
                T total = 0;
                for (int j = 0; j < k; ++j) { const T e = exp(x[row + j] - m); s[row + j] = e;
                                               total = total + e; }
                for (int j = 0; j < k; ++j) s[row + j] = s[row + j] / total;
                """,
                name="xpnet_softmax", options=("--fmad=false",))
        x = self._cupy.ascontiguousarray(x)
        kernel(x, np.int32(x.shape[1]), out, size=x.shape[0])
        return out

    def softmax_ce_backward(self, s: Any, y: Any, out: Any) -> Any:
        kernel = self._compiled.get(("softmax_ce", False))
        if kernel is None:
            kernel = self._compiled["softmax_ce", False] = self._cupy.ElementwiseKernel(
                "T s, raw I y, int32 k, T n", "T dx",
                "dx = (s - (T)(y[i / k] == (I)(i % k))) / n;",
                name="xpnet_softmax_ce_backward", options=("--fmad=false",))
        n, k = s.shape
        kernel(s, y, np.int32(k), s.dtype.type(n), out)
        return out

    @contextlib.contextmanager
    def replaying(self) -> Iterator[None]:
        # a graph is captured and replayed on a stream of its own; a blocking stream, so
        # work on the default stream waits for the replays before it
        if self._stream is None:
            self._stream = self._cupy.cuda.Stream(non_blocking=False)
        with self._stream:
            try:
                yield
            finally:
                self._stream.synchronize()

    def capture(self, step: Callable[[], Any]) -> Callable[[], Any]:
        cupy = self._cupy
        stream = cupy.cuda.get_current_stream()
        # Temporaries the step allocates while it is recorded get their memory from a pool
        # of their own, kept as long as the model: the graph writes to those addresses on
        # every replay, so nothing else may ever be given them.
        if self._pool is None:
            self._pool = cupy.cuda.MemoryPool()
        with cupy.cuda.using_allocator(self._pool.malloc):
            stream.begin_capture()
            try:
                out = step()
            finally:
                graph = stream.end_capture()

        def launch() -> Any:
            graph.launch(stream)
            return out  # the replay rewrites the arrays the recorded step returned

        return launch


def kernels_for(backend: Backend, fast: bool | Kernels) -> Kernels | None:
    """The fast paths a model on ``backend`` uses: ``fast`` itself when it is a
    :class:`Kernels`, CuPy's when ``fast`` is true on CuPy, else None (the generic path)."""
    if isinstance(fast, Kernels):
        if fast.backend.name != backend.name:
            msg = (f"fast paths built for backend {fast.backend.name!r} cannot run a model on "
                   f"{backend.name!r}; pass fast=True to pick the model's own.")
            raise BackendError(msg)
        return fast
    if not fast or backend.name != "cupy":
        return None
    return CupyKernels(backend)
