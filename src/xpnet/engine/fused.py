r"""The fused engine: each optimizer update as one kernel, and CUDA-graph replay of a step.

The plain engine launches one GPU kernel per array operation: Adam's update of one parameter
is fourteen of them. On the small networks of the book a kernel does almost no work, so a
training step costs what its launches cost. With ``Model(backend="cupy", fast=True)`` a
model trains with :class:`FusedOps`: the buffered engine, with every optimizer update run
as one elementwise kernel that updates the parameter and its state in place. The kernel is
compiled from the optimizer's own ``update`` method (:mod:`xpnet.engine.rules`), so each rule
is written once, in Python, for every engine.

``Model.train(..., graph=True)`` goes further: it records one full-batch training step as a
CUDA graph and replays it every epoch, one launch instead of dozens (:class:`GraphRun`).

Faithful to the generic path
----------------------------
The CUDA kernel is compiled with ``--fmad=false`` (so the compiler does not contract
``a * b + c`` into one rounding), with the rule's operations in the method's order and its
scalar subexpressions computed on the host as the method computes them. :class:`Kernels`,
the reference implementation used on the CPU, executes the same translated body with NumPy
scalars and arrays. The tests check that the reference gives the plain engine's bits, and
(on a GPU) that CuPy's kernels give the reference's.

Fused updates are used only where they give the plain values: while a model trains, with the
parameter, gradient and state of one dtype, and never while explain mode records.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ..backend import Backend
from ..errors import BackendError
from ..nn.optimizers import Optimizer
from .buffered import BufferedOps
from .rules import UpdateRule, compile_rule

__all__ = ["CupyKernels", "FusedOps", "GraphRun", "Kernels", "ScalarTable", "kernels_for"]

log = logging.getLogger(__name__)


class ScalarTable:
    """The step scalars of a run of graph replays: one row per step, read on the device at
    row ``counter[0]``, and a counter the step itself advances.

    A captured graph replays fixed kernel arguments, so what changes from step to step (the
    decayed learning rate, Adam's bias corrections) cannot be passed by value; it is written
    here once for the whole run instead.
    """

    def __init__(self, backend: Backend, rows: Sequence[Sequence[Any]], dtype: Any):
        self.backend = backend
        xp = backend.xp
        self.width = max((len(r) for r in rows), default=0)
        for i, r in enumerate(rows):
            if len(r) != self.width:
                msg = f"every step needs {self.width} scalars, step {i} has {len(r)}"
                raise ValueError(msg)
        #: values per scalar: 1, or one per model copy (many models' learning rates; every
        #: row has the same kinds of values, the first tells)
        self.copies = max((int(np.size(v)) for v in rows[0]), default=1) if rows else 1
        if rows and self.copies == 1 and all(np.ndim(v) == 0 for v in rows[0]):
            flat = np.asarray(rows, dtype=np.float64).reshape(-1)  # numbers: one conversion
        else:
            flat = self._flat_rows(rows)
        flat = flat if flat.size else np.zeros((1,))  # a kernel argument is never empty
        #: row ``t``, scalar ``j``, copy ``m`` is ``table[(t * width + j) * copies + m]`` (one
        #: axis: what a kernel indexes)
        self.table = backend.asarray(flat, dtype=dtype)
        self.counter = xp.zeros((1,), dtype=xp.int32, device=backend.device)

    def _span(self, row: int) -> slice:
        size = self.width * self.copies
        return slice(row * size, (row + 1) * size)

    def _flat_rows(self, rows: Sequence[Sequence[Any]]) -> np.ndarray:
        """Rows of scalars in the table's layout, each scalar repeated or spread over the
        copies."""
        return np.array([np.broadcast_to(np.asarray(v, dtype=np.float64).reshape(-1),
                                         (self.copies,)) for r in rows for v in r],
                        dtype=np.float64).reshape(-1)

    def advance(self) -> None:
        """Move to the next row (recorded into the graph with the step)."""
        self.counter += 1

    def write(self, start: int, rows: Sequence[Sequence[Any]]) -> None:
        """Replace the rows from ``start`` on (steps whose scalars changed after the table
        was written: a callback set another learning rate), in one copy to the device."""
        if not rows:
            return
        flat = self._flat_rows(rows)
        size = self.width * self.copies
        self.table[start * size:start * size + flat.size] = self.backend.asarray(
            flat, dtype=self.table.dtype)

    def row(self, width: int) -> list[Any]:
        """The current row's first ``width`` scalars on the host: floats, or arrays of one
        value per copy shaped to broadcast over stacked parameters (the reference's use)."""
        t = int(self.counter[0])
        values = np.asarray(self.table[self._span(t)], dtype=np.float64)
        if self.copies == 1:
            return [float(v) for v in values[:width]]
        return [values[j * self.copies:(j + 1) * self.copies].reshape(-1, 1, 1)
                for j in range(width)]


class Kernels:
    """The fused kernels' reference implementation, in NumPy.

    It runs each :class:`~xpnet.engine.rules.UpdateRule`'s body as Python on NumPy scalars of
    the arrays' dtype, and "captures" a step by keeping the function to call again. Tests pass
    ``Model(fast=Kernels(backend))`` to check on a CPU everything the CUDA path does but
    compile: which arrays it updates, the scalars, the table of a graph's steps.
    :class:`CupyKernels` is the GPU implementation.
    """

    name = "reference"
    #: What compiles the whole step's kernels (:mod:`xpnet.engine.step`): CuPy on a GPU;
    #: None here (the tests set a host compiler's stand-in)
    elementwise: Any = None
    #: Whether a recorded step may multiply matrices (call the BLAS): this reference
    #: "records" anything; CuPy refuses cuBLAS calls during stream capture
    records_matmul = True

    def __init__(self, backend: Backend):
        self.backend = backend
        self.table: ScalarTable | None = None  # set while a graph's steps read scalars from it

    def __deepcopy__(self, memo: dict[int, Any]) -> Kernels:
        # shared, not copied: compiled kernels and a capture pool serve any number of models
        # (a recorded graph lives only as long as the train() call that replays it)
        return self

    def update(self, rule: UpdateRule, scalars: Sequence[Any], p: Any, g: Any,
               state: Sequence[Any]) -> None:
        """Apply ``rule`` to ``p`` and ``state`` in place, with ``scalars`` (or the current
        row of :attr:`table` while a graph's step runs)."""
        dtype = p.dtype.type
        values = self.table.row(len(scalars)) if self.table is not None else scalars
        # a scalar per model copy (many models: a column of learning rates) broadcasts
        env: dict[str, Any] = {name: dtype(v) if np.ndim(v) == 0 else np.asarray(v, p.dtype)
                               for name, v in zip(rule.scalars, values, strict=True)}
        env.update(p=p, g=g, sqrt=np.sqrt, **dict(zip(rule.state, state, strict=True)))
        exec(rule.python, {"__builtins__": {}}, env)  # translated from our own rule methods
        for name, array in zip(("p", *rule.state), (p, *state), strict=True):
            if env[name] is not array:
                np.copyto(array, env[name])

    @contextlib.contextmanager
    def replaying(self) -> Iterator[None]:
        """The context the steps of a graph run in (CuPy: a capture stream)."""
        yield

    def capture(self, step: Callable[[], Any]) -> Callable[[], Any]:
        """Record ``step`` (without running it) as one launch that runs it and returns its
        output. The reference records nothing: its launch calls the step."""
        return step


def update_kernel(module: Any, rule: UpdateRule, table: bool) -> Any:
    """``rule`` as one in-place elementwise kernel made by ``module`` (CuPy; in the tests, a
    stand-in that compiles the source for the host). Its inputs are ``g`` and the rule's
    scalars, or with ``table`` the step table (:class:`ScalarTable`) with the counter of its
    row, the parameter's size per model copy and the number of copies; its outputs ``p`` and
    the state, updated in place. Compiled with ``--fmad=false``: no ``a * b + c`` contracted
    into one rounding, so it gives the generic path's bits."""
    if table:  # the row of the step, each scalar's value for this element's copy
        ins = "T g, raw T table, raw int32 counter, int64 per, int64 copies"
        width = len(rule.scalars)
        prefix = "const long long xpnet_m = copies > 1 ? (long long)i / per : 0; " + \
            "".join(f"const T {name} = table[((long long)counter[0] * {width} + {j}) "
                    f"* copies + xpnet_m]; " for j, name in enumerate(rule.scalars))
    else:
        ins = ", ".join(["T g", *(f"T {name}" for name in rule.scalars)])
        prefix = ""
    outs = ", ".join(f"T {name}" for name in ("p", *rule.state))
    return module.ElementwiseKernel(ins, outs, prefix + rule.c, name=f"xpnet_{rule.name}",
                                    options=("--fmad=false",))


class CupyKernels(Kernels):
    """The CUDA fused kernels and graphs, with CuPy (``module``: CuPy, or in the tests a
    stand-in for its ``ElementwiseKernel``)."""

    name = "cupy"
    records_matmul = False

    def __init__(self, backend: Backend, module: Any = None):
        super().__init__(backend)
        if module is None:
            import cupy

            module = cupy
        self._cupy = module
        self.elementwise = module
        self._compiled: dict[tuple[str, bool], Any] = {}
        self._pool: Any = None  # the capture's private memory pool, kept with the model
        self._stream: Any = None
        self._uploaded: dict[tuple[Any, ...], Any] = {}  # this step's per-copy scalars

    def _kernel(self, rule: UpdateRule, table: bool) -> Any:
        key = (rule.name, table)
        kernel = self._compiled.get(key)
        if kernel is None:
            kernel = self._compiled[key] = update_kernel(self._cupy, rule, table)
        return kernel

    def update(self, rule: UpdateRule, scalars: Sequence[Any], p: Any, g: Any,
               state: Sequence[Any]) -> None:
        if self.table is not None:
            if self.table.width != len(scalars):
                msg = (f"the step table has {self.table.width} scalars, {rule.name} needs "
                       f"{len(scalars)}")
                raise RuntimeError(msg)
            copies = self.table.copies
            self._kernel(rule, True)(g, self.table.table, self.table.counter,
                                     np.int64(max(p.size // copies, 1)), np.int64(copies), p,
                                     *state)
        else:
            self._kernel(rule, False)(g, *self._on_device(scalars, p.dtype), p, *state)

    def _on_device(self, scalars: Sequence[Any], dtype: Any) -> list[Any]:
        """The scalars as the kernel takes them: numbers by value, and those given per model
        copy (arrays that broadcast over the parameter, many models' learning rates) as
        device arrays in the parameter's dtype, uploaded once per step for all parameters."""
        out: list[Any] = []
        for v in scalars:
            if np.ndim(v) == 0:
                out.append(v)
                continue
            host = np.asarray(v, dtype=dtype)
            key = (host.shape, host.dtype.str, host.tobytes())
            found = self._uploaded.get(key)
            if found is None:
                if len(self._uploaded) >= 16:  # a step's few; older steps' are not needed
                    self._uploaded.clear()
                found = self._uploaded[key] = self.backend.asarray(host, dtype=host.dtype)
            out.append(found)
        return out

    def _own_stream(self) -> Any:
        if self._stream is None:
            self._stream = self._cupy.cuda.Stream(non_blocking=False)
        return self._stream

    @contextlib.contextmanager
    def replaying(self) -> Iterator[None]:
        # a graph is captured and replayed on a stream of its own; a blocking stream, so
        # that it waits for the work queued on the default stream before it (the data, the
        # parameters), and work queued there after waits for the replays
        stream = self._own_stream()
        with stream:
            try:
                yield
            finally:
                stream.synchronize()

    def capture(self, step: Callable[[], Any]) -> Callable[[], Any]:
        cupy = self._cupy
        stream = cupy.cuda.get_current_stream()
        if stream.ptr in (0, 1):  # CuPy cannot capture the default (legacy) stream
            stream = self._own_stream()
        # Temporaries the step allocates while it is recorded get their memory from a pool
        # of their own, kept as long as the model: the graph writes to those addresses on
        # every replay, so nothing else may ever be given them.
        if self._pool is None:
            self._pool = cupy.cuda.MemoryPool()
        with stream, cupy.cuda.using_allocator(self._pool.malloc):
            stream.begin_capture()
            try:
                out = step()
            except BaseException:
                # the capture must end (else the stream stays capturing); CUDA's
                # "capture invalidated" would hide the step's own error, the one to tell
                with contextlib.suppress(Exception):
                    stream.end_capture()
                raise
            graph = stream.end_capture()

        def launch() -> Any:
            graph.launch(stream)
            return out  # the replay rewrites the arrays the recorded step returned

        return launch


def _same(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether two rows of step scalars (numbers, or arrays of one per copy) are equal."""
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def kernels_for(backend: Backend, fast: bool | Kernels) -> Kernels | None:
    """The fused kernels a model on ``backend`` trains with: ``fast`` itself when it is a
    :class:`Kernels`, CuPy's when ``fast`` is true on CuPy, else None (no fused engine)."""
    if isinstance(fast, Kernels):
        if fast.backend.name != backend.name:
            msg = (f"fast paths built for backend {fast.backend.name!r} cannot run a model on "
                   f"{backend.name!r}; pass fast=True to pick the model's own.")
            raise BackendError(msg)
        return fast
    if not fast or backend.name != "cupy":
        return None
    return CupyKernels(backend)


class FusedOps(BufferedOps):
    """The buffered engine with each optimizer update as one kernel of ``kernels``."""

    name = "fused"

    def __init__(self, backend: Backend, *, kernels: Kernels, **options: Any):
        super().__init__(backend, **options)
        self.kernels = kernels

    def update(self, optimizer: Optimizer, p: Any, g: Any, state: dict[str, Any]) -> Any:
        rule = compile_rule(optimizer.rule())
        arrays = [state[k] for k in optimizer.state_names]
        if rule is None or any(a.dtype != p.dtype for a in (g, *arrays)):
            return super().update(optimizer, p, g, state)
        scalars = rule.scalar_values(optimizer.hyperparameters())
        self.kernels.update(rule, scalars, p, g, arrays)
        return p


class GraphRun:
    """The epochs of a run with a step table: ``train(graph=True)``, where the first runs
    eagerly (buffers, optimizer state and kernels come into being), the second records the
    step, every later one replays it; or, with ``record=False``, every epoch eagerly.

    The optimizer's host state (decayed learning rate, step count) advances every epoch as
    usual; what the device needs of it comes from a table written once for the whole run.
    After callbacks ran (the trainer sets :attr:`dirty`), the next epoch checks the table
    against the optimizer's scalars (a callback may have set another learning rate) and
    rewrites the coming rows where they differ, and records the step again when an array it
    reads was replaced (a callback loaded other weights, or reset the optimizer's state):
    that step runs eagerly first, so that what it makes (new state arrays) is made outside
    the recording, then the next one is recorded. A table serves one optimizer and rule
    (:meth:`serves`); the trainer makes a new one when a callback sets another.

    Parameters
    ----------
    step : callable
        One training step (forward, backward, every parameter's update) returning the output.
    optimizer : Optimizer
    kernels : Kernels
    backend : Backend
    epochs : int
        How many steps the table must cover.
    dtype : dtype
        The parameters' dtype (the table's).
    stepped : callable, optional
        Called after every epoch's step, however it ran: host state that a step moves on
        in device memory follows it here (the whole step's dropout position).
    arrays : callable, optional
        The arrays the recorded step reads and writes in place (the model's parameters and
        the optimizer's state), as an iterable.
    values : callable, optional
        What else the recorded step keeps as it was recorded (settings it passes to its
        kernels by value or in arrays of its own, such as the whole step's dropout rate and
        penalties), compared after callbacks as the parameters are.
    fallback : bool
        When recording fails, log why and run the remaining steps eagerly (``graph="auto"``)
        instead of raising.
    record : bool
        Record and replay the step (else every step runs eagerly, its scalars still read
        from the table: the whole-step engine applies the update in its last kernel then).
    """

    def __init__(self, step: Callable[[], Any], optimizer: Optimizer, kernels: Kernels,
                 backend: Backend, epochs: int, dtype: Any,
                 stepped: Callable[[], None] | None = None,
                 arrays: Callable[[], Iterable[Any]] | None = None,
                 fallback: bool = False,
                 record: bool = True,
                 values: Callable[[], Any] | None = None):
        rule = compile_rule(optimizer.rule())
        assert rule is not None  # checked by the trainer before
        self.step, self.optimizer, self.kernels, self.rule = step, optimizer, kernels, rule
        self.stepped, self.arrays, self.fallback = stepped, arrays, fallback
        self.record, self.values = record, values
        self.epochs = epochs
        self.rows = self._coming(optimizer, epochs, pre_done=False)
        self.table = ScalarTable(backend, self.rows, dtype)
        self.launch: Callable[[], Any] | None = None
        #: the ids of the arrays the recorded step uses, and its other values (``values``)
        self.recorded: tuple[list[int], Any] = ([], None)
        self.done = 0  # steps run
        #: whether the next step may be recorded: the first step, and the first after the
        #: recorded one was dropped, run eagerly (buffers, optimizer state, kernels are made)
        self.warm = False
        self.failed: str | None = None  # why recording failed (then every step runs eagerly)
        #: set by the trainer when callbacks ran: the next epoch checks the optimizer's
        #: scalars against the table and the arrays against the recorded ones
        self.dirty = False

    def _coming(self, optimizer: Optimizer, steps: int, pre_done: bool) -> list[list[Any]]:
        """The scalars of the next ``steps`` steps, from a copy of ``optimizer`` (whose
        current step's ``pre_update_params`` has run when ``pre_done``)."""
        shadow = copy.copy(optimizer)  # the coming steps' scalars, without touching optimizer
        rows = []
        for i in range(steps):
            if i or not pre_done:
                shadow.pre_update_params()
            rows.append(self.rule.scalar_values(shadow.hyperparameters()))
            shadow.post_update_params()
        return rows

    def _refresh(self) -> None:
        """After callbacks: rewrite the table from this step on if the optimizer's scalars
        changed (a learning rate of one's own), and record the step again if an array it
        uses was replaced (other weights loaded) or a value it keeps changed (a dropout rate
        or a penalty set)."""
        scalars = self.rule.scalar_values(self.optimizer.hyperparameters())
        if not _same(scalars, self.rows[self.done]):
            coming = self._coming(self.optimizer, self.epochs - self.done, pre_done=True)
            self.rows[self.done:] = coming
            self.table.write(self.done, coming)
        if self.launch is not None and self._ids() != self.recorded:
            self.launch, self.warm = None, False

    def serves(self, optimizer: Optimizer) -> bool:
        """Whether this table holds ``optimizer``'s scalars: it is the optimizer the table
        was made for, with the same update rule (a callback may set another optimizer, or
        switch SGD's momentum on)."""
        return optimizer is self.optimizer and compile_rule(optimizer.rule()) is self.rule

    def _step(self) -> Any:
        output = self.step()
        self.table.advance()
        return output

    def _ids(self) -> tuple[list[int], Any]:
        return ([id(a) for a in self.arrays()] if self.arrays else [],
                self.values() if self.values else None)

    def _record(self) -> None:
        try:
            self.launch = self.kernels.capture(self._step)
        except Exception as exc:
            if not self.fallback:
                raise
            self.failed = f"{type(exc).__name__}: {exc}"
            log.warning("recording the training step as a CUDA graph failed (%s); the "
                        "run goes on without a graph", self.failed)
            return
        self.recorded = self._ids()

    def epoch(self) -> Any:
        """One epoch: the optimizer's pre/post calls on the host, the step on the device."""
        self.kernels.table = self.table
        try:
            self.optimizer.pre_update_params()
            if self.dirty:
                self._refresh()
                self.dirty = False
            if not self.record or not self.warm or self.failed is not None:
                output = self._step()
                self.warm = True
            else:
                if self.launch is None:
                    self._record()
                output = self._step() if self.launch is None else self.launch()
            self.done += 1
            if self.stepped is not None:
                self.stepped()
            self.optimizer.post_update_params()
        finally:
            self.kernels.table = None
        return output
