"""The training loop, apart from the model: epochs, batches, metrics, callbacks, divergence.

:meth:`xpnet.Model.train` calls :func:`train`. The loop is the book's: for each epoch, a
forward pass, the loss, a backward pass and one optimizer step per batch; metrics are
computed only for the epochs that are logged. While it runs, each layer computes with the
engine the run was given (:mod:`xpnet.engine`): reused buffers on NumPy and CuPy, fused
kernels with ``fast=True``, a replayed CUDA graph with ``graph=True``; the plain engine
while explain mode records. The engines are lent for each training step only, so callbacks,
``evaluate`` and ``predict`` always see plain arrays.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from . import callbacks as callback_checks
from . import engine, trace, validate
from .backend import Backend
from .callbacks import BatchCallback, Callback
from .errors import DivergenceError
from .nn.layers import Dropout
from .nn.losses import Loss, regularization_loss
from .nn.metrics import Accuracy
from .nn.ops import Ops
from .nn.optimizers import Optimizer
from .random import Generator

log = logging.getLogger(__name__)

__all__ = ["GRAPH_MIN_EPOCHS", "BatchCallback", "Callback", "History", "Trainable",
           "graph_problem", "recorded_arrays", "step_table", "train", "validation_pair"]


class Trainable(Protocol):
    """What the loop needs of a model (:class:`xpnet.Model` has it all)."""

    backend: Backend
    ops: Ops
    rng: Generator
    layers: list[Any]
    loss: Loss | None
    optimizer: Optimizer | None
    accuracy: Accuracy | None

    @property
    def trainable_layers(self) -> list[Any]: ...
    def check_ready(self, training: bool) -> None: ...
    def check_loss_fits(self) -> None: ...
    def convert_data(self, X: Any, y: Any, xname: str, yname: str) -> tuple[Any, Any]: ...
    def parameters(self) -> dict[str, Any]: ...
    def fused_kernels(self) -> Any: ...
    def forward(self, X: Any, training: bool = False) -> Any: ...
    def backward(self, output: Any, y: Any) -> None: ...
    def batch_metrics(self, output: Any, y: Any, count: int) -> tuple[Any, Any, int]: ...
    def shuffled(self, X: Any, y: Any) -> tuple[Any, Any]: ...
    def evaluate(self, X: Any, y: Any, *, batch_size: int | None = None) -> dict[str, float]:
        ...


@dataclass
class History:
    """Metrics of a training run: one record per logged epoch.

    ``history["loss"]`` is the list of one metric over the logged epochs; ``records`` holds
    dicts with ``epoch, acc, loss, data_loss, reg_loss, lr`` (and ``val_acc, val_loss``
    where validation ran); ``validation`` the final validation metrics, if any.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, float] | None = None
    stopped_early: bool = False

    def __getitem__(self, key: str) -> list[Any]:
        if self.records and key not in self.records[0]:
            hint = ""
            if key.startswith("val_"):
                hint = (" Validation per logged epoch needs train(..., validation_data=(X_val, "
                        "y_val), validate_every=K); the final one is history.validation.")
            msg = f"History has no metric {key!r}; it has {sorted(self.records[0])}.{hint}"
            raise KeyError(msg)
        return [r[key] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "validation": self.validation,
                "stopped_early": self.stopped_early}


def train(
    model: Trainable,
    X: Any,
    y: Any,
    *,
    epochs: int = 1,
    batch_size: int | None = None,
    shuffle: bool = False,
    validation_data: tuple[Any, Any] | None = None,
    log_every: int | Collection[int] | None = 1,
    validate_every: int | None = None,
    callbacks: Iterable[Callback] = (),
    batch_callbacks: Iterable[BatchCallback] = (),
    start_epoch: int = 1,
    log_before_update: bool = False,
    graph: bool | str = "auto",
) -> History:
    """Train ``model`` for ``epochs`` passes over ``(X, y)`` and return the :class:`History`
    (also ``model.train(X, y, ...)``).

    Parameters
    ----------
    X : array or nested lists, shape (n_samples, n_features)
        Converted to the model's dtype and device (see :class:`xpnet.Model`).
    y : array or nested lists
        Labels ``(n_samples,)`` for cross-entropy (or one-hot targets), else targets of the
        output's shape (``(n_samples, 1)`` for one output: ``y[:, None]``).
    epochs : int
        Number of passes over the data.
    batch_size : int, optional
        Mini-batch size; ``None`` trains on the full batch (the book's chapters 14-18).
    shuffle : bool
        Reshuffle the samples (from the model's stream) before every epoch.
    validation_data : (X_val, y_val), optional
        Evaluated once after training (and every ``validate_every`` epochs if given).
    log_every : int, collection of int, or None
        Record metrics (and call ``callbacks``) every this many epochs, or at exactly
        these epochs (e.g. log-spaced ones); ``None`` only at the end. Metrics are
        computed only for logged epochs.
    callbacks : iterable of callables
        ``callback(model, epoch, logs)``; a callback returning True stops training.
    batch_callbacks : iterable of callables
        ``batch_callback(model, step, logs)`` after each batch's update, ``step`` counting
        the epoch's batches from 0 (the book's chapter 19 prints its ``step:`` lines from
        it): ``logs`` holds ``epoch``, and the batch's ``acc``, ``loss``, ``data_loss``,
        ``reg_loss`` (the penalty of the weights its forward pass used) and ``lr`` (the
        step's own). Each batch's metrics are then computed, in every epoch.
    start_epoch : int
        Number of the first epoch (the book's chapters 14-17 count from 0).
    log_before_update : bool
        Log as the book's chapters 14-17 do, before the epoch's update, so the logged
        ``lr`` is the previous step's; otherwise (chapter 18) the step's own. The losses
        and accuracy are those of the epoch's forward pass either way.
    graph : bool or "auto"
        Record one training step as a CUDA graph and replay it every epoch: one launch per
        epoch instead of one per kernel. Needs the fused kernels (CuPy), full batches
        without shuffling, a built-in optimizer, and no Dropout outside the whole-step
        engine (:mod:`xpnet.engine.step`, whose masks' position lives on the device).
        Values are those of the same run without a graph. ``"auto"`` (default): where the
        whole-step engine trains the model and the run is at least
        :data:`GRAPH_MIN_EPOCHS` full-batch epochs; if recording fails there, the run goes
        on without a graph (logged).

    Raises
    ------
    TypeError, ValueError
        For arguments or data of the wrong kind, checked before the first epoch.
    DivergenceError
        When a logged loss is NaN or infinite; the message names the likely cause.
    """
    model.check_ready(training=True)
    epochs = validate.non_negative_int("epochs", epochs)
    if batch_size is not None:
        batch_size = validate.positive_int("batch_size", batch_size)
    shuffle = validate.flag("shuffle", shuffle)
    log_every = _log_every(log_every)
    if validate_every is not None:
        validate_every = validate.positive_int("validate_every", validate_every)
        if validation_data is None:
            msg = ("validate_every evaluates validation_data every so many epochs, but no "
                   "validation_data was given: pass validation_data=(X_val, y_val), or drop "
                   "validate_every.")
            raise ValueError(msg)
    callbacks = callback_checks.checked(callbacks)
    batch_callbacks = callback_checks.checked(batch_callbacks, "batch_callbacks", "step")
    start_epoch = validate.non_negative_int("start_epoch", start_epoch)
    log_before_update = validate.flag("log_before_update", log_before_update)
    graph = validate.flag("graph", graph, auto=True)
    pair = validation_pair(validation_data)
    X, y = model.convert_data(X, y, "X", "y")
    n = int(X.shape[0])
    if pair is not None:
        validation_data = model.convert_data(*pair, "validation X", "validation y")
    _check_parameters(model)
    _check_iterations(model.optimizer)
    _check_memory(model, n if batch_size is None else min(batch_size, n), X.dtype)
    kernels = model.fused_kernels()
    auto = graph == "auto"
    tabled, graph = step_table(model, kernels, graph, epochs, batch_size, shuffle)
    assert model.accuracy is not None and model.optimizer is not None
    model.accuracy.init(y)
    run = _Run(model, X, y, n, batch_size, shuffle, log_before_update, callbacks,
               batch_callbacks)
    history = History()
    schedule = _Schedule(log_every, start_epoch + epochs - 1,
                         validate_every if validation_data is not None else None)
    # the loss is checked below; NumPy's overflow warnings would only repeat it
    with model.backend.quiet_float_errors(), \
            run.lending(kernels, graph, tabled, epochs, auto):
        for epoch in range(start_epoch, start_epoch + epochs):
            if trace.ACTIVE is not None:
                trace.ACTIVE.step = epoch
            logs = run.epoch(epoch, schedule.logs(epoch))
            if logs is None:
                continue
            if validation_data is not None and schedule.validates(epoch):
                val = model.evaluate(*validation_data, batch_size=batch_size)
                logs["val_acc"], logs["val_loss"] = val["acc"], val["loss"]
            _check_finite(model, logs, history, run)
            history.records.append(logs)
            stop = False
            for cb in run.callbacks:  # (each may change the model: checked after it ran)
                stop = callback_checks.call(cb, model, epoch, logs) or stop
                if run.guard is not None:
                    run.guard.check(model, cb, epoch)
            if stop:
                history.stopped_early = True
                break
            if run.tabled is not None and run.callbacks:
                run.tabled.dirty = True  # they may have changed the rate or the weights
    if validation_data is not None:
        history.validation = model.evaluate(*validation_data, batch_size=batch_size)
    return history


#: ``graph="auto"`` records a graph for runs of at least this many epochs (recording costs
#: about as much as a few dozen eager steps of the book's networks).
GRAPH_MIN_EPOCHS = 100


class _Schedule:
    """Which epochs are logged: every ``log_every``-th, the listed ones, the last, and every
    ``validate_every``-th (a validation is recorded with its epoch's metrics)."""

    def __init__(self, log_every: int | Collection[int] | None, last: int,
                 validate_every: int | None = None):
        self.every = log_every if isinstance(log_every, int) else 0
        self.at = frozenset(log_every) if log_every is not None and not isinstance(
            log_every, int) else frozenset()
        self.last = last
        self.validate_every = validate_every or 0

    def logs(self, epoch: int) -> bool:
        return epoch == self.last or (self.every > 0 and epoch % self.every == 0) or \
            epoch in self.at or self.validates(epoch)

    def validates(self, epoch: int) -> bool:
        """Whether ``epoch`` is validated (every ``validate_every``-th, with data to do it)."""
        return self.validate_every > 0 and epoch % self.validate_every == 0


class _Run:
    """The state of one :func:`train` call: data, batches, the engines lent to the layers."""

    def __init__(self, model: Trainable, X: Any, y: Any, n: int, batch_size: int | None,
                 shuffle: bool, log_before_update: bool, callbacks: list[Callback],
                 batch_callbacks: list[BatchCallback]):
        self.model, self.X, self.y, self.n = model, X, y, n
        self.batches = [(0, n)] if batch_size is None else [
            (s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
        self.shuffle = shuffle
        self.log_before_update = log_before_update
        self.callbacks = callbacks
        #: what the next epoch trains with, checked after each callback (when there are any)
        self.guard = callback_checks.Guard(model) if callbacks else None
        self.batch_callbacks = batch_callbacks
        self.views: list[Ops] = []
        self.whole: engine.step.WholeStep | None = None
        #: the run's step table (and recorded graph), for full-batch runs that can use one
        self.tabled: engine.fused.GraphRun | None = None
        #: makes a step table for so many epochs, with the model's optimizer of the time
        self.table: Callable[[int], engine.fused.GraphRun] | None = None

    @contextlib.contextmanager
    def lending(self, kernels: Any, graph: bool, tabled: bool, epochs: int,
                auto: bool) -> Iterator[None]:
        """Choose the step's engines once for the run, and its step table (``tabled``:
        recorded as a CUDA graph with ``graph``, in its recording context)."""
        model = self.model
        self.views = engine.training_views(model.ops, model.layers, model.loss, kernels)
        self.whole = engine.whole_step(model.ops, model.layers, model.loss, kernels,
                                       graph=graph)
        replaying: Any = contextlib.nullcontext()
        if graph and kernels is not None:
            replaying = kernels.replaying()
        with replaying:
            if tabled and kernels is not None:
                dtype = next(iter(model.trainable_layers[0].params.values())).dtype

                def table(epochs: int) -> engine.fused.GraphRun:
                    assert model.optimizer is not None
                    return engine.fused.GraphRun(
                        lambda: self.step(self.X, self.y), model.optimizer, kernels,
                        model.backend, epochs, dtype, stepped=self._stepped,
                        arrays=functools.partial(recorded_arrays, model), fallback=auto,
                        record=graph, values=self._recorded_values)

                self.table, self.tabled = table, table(epochs)
            yield

    def step(self, X: Any, y: Any) -> Any:
        """Forward, backward and every parameter's update (the optimizer's pre/post calls
        are the caller's): the output of the forward pass."""
        output, self.whole = engine.train_step(self.model, self.views, self.whole, X, y)
        return output

    def _stepped(self) -> None:
        """After a graph run's step: the whole step's host streams follow the device."""
        if self.whole is not None:
            self.whole.stepped()

    def _recorded_values(self) -> Any:
        """What the whole step keeps in a recorded graph besides the arrays it uses."""
        return None if self.whole is None else self.whole.recorded_values()

    def _retabled(self, old: engine.fused.GraphRun,
                  optimizer: Optimizer) -> engine.fused.GraphRun | None:
        """A callback set another optimizer, or another rule of it (SGD's momentum): the
        rest of the run gets a table of its own (recorded again with a graph), or none
        where its rule does not compile (its steps then update parameter by parameter)."""
        if engine.rules.compile_rule(optimizer.rule()) is None:
            log.warning("a callback set %s, whose update rule cannot be compiled into one "
                        "kernel (see xpnet.engine.rules): the rest of the run updates "
                        "parameter by parameter, without a graph", type(optimizer).__name__)
            return None
        assert self.table is not None
        new = self.table(old.epochs - old.done)
        new.failed = old.failed  # a step that could not be recorded is not tried again
        return new

    def epoch(self, epoch: int, logged: bool) -> dict[str, Any] | None:
        """One pass over the data; its metrics when the epoch is logged."""
        model, optimizer = self.model, self.model.optimizer
        assert optimizer is not None
        X, y = (self.X, self.y) if not self.shuffle else model.shuffled(self.X, self.y)
        sums: list[tuple[Any, Any, int]] = []
        lr_before = optimizer.current_learning_rate
        reg_loss: Any = 0
        if self.tabled is not None and self.tabled.dirty and not self.tabled.serves(optimizer):
            self.tabled = self._retabled(self.tabled, optimizer)
        measured = logged or bool(self.batch_callbacks)  # each batch's metrics are read
        if self.tabled is not None:
            if measured:  # the penalty of the weights before this epoch's update
                reg_loss = regularization_loss(model.trainable_layers)
            output = self.tabled.epoch()
            if measured:
                sums.append(model.batch_metrics(output, y, self.n))
                self._batch_done(epoch, 0, sums[-1], reg_loss)
        else:
            for step, (lo, hi) in enumerate(self.batches):
                full = (lo, hi) == (0, self.n)
                Xb, yb = (X, y) if full else (X[lo:hi, ...], y[lo:hi, ...])
                if measured and (full or self.batch_callbacks):
                    # the penalty of the weights that produce this forward pass, as the book
                    # computes it (before the update)
                    reg_loss = regularization_loss(model.trainable_layers)
                optimizer.pre_update_params()
                output = self.step(Xb, yb)
                optimizer.post_update_params()
                if measured:
                    sums.append(model.batch_metrics(output, yb, hi - lo))
                    self._batch_done(epoch, step, sums[-1], reg_loss)
        if not logged:
            return None
        if len(self.batches) > 1:
            # mini-batches: the penalty after the epoch, as the book's calculate_accumulated
            reg_loss = regularization_loss(model.trainable_layers)
        lr = lr_before if self.log_before_update else optimizer.current_learning_rate
        return _logs(epoch, sums, reg_loss, lr, self.n)

    def _batch_done(self, epoch: int, step: int, metrics: tuple[Any, Any, int],
                    reg_loss: Any) -> None:
        """Call the batch callbacks with the metrics of the batch ``step`` just trained on."""
        if not self.batch_callbacks:
            return
        assert self.model.optimizer is not None
        logs = _logs(epoch, [metrics], reg_loss, self.model.optimizer.current_learning_rate,
                     metrics[2])
        for callback in self.batch_callbacks:
            callback(self.model, step, logs)
        if self.tabled is not None:  # they may have changed the rate or the weights
            self.tabled.dirty = True


def recorded_arrays(model: Trainable) -> list[Any]:
    """The arrays a recorded training step of ``model`` reads and writes in place: its
    parameters and its optimizer's state (a graph run records again when one is replaced)."""
    arrays = list(model.parameters().values())
    for layer in model.trainable_layers:
        for state in getattr(layer, "optimizer_state", {}).values():
            arrays += state.values()
    return arrays


def _logs(epoch: int, sums: Sequence[tuple[Any, Any, int]], reg_loss: Any, lr: float,
          n: int) -> dict[str, Any]:
    """One epoch's metrics as Python floats (this is where device values are read)."""
    if len(sums) == 1:
        data_loss, acc = sums[0][0], sums[0][1]
    else:  # mini-batches: sample-weighted means over the epoch, as the book accumulates
        data_loss = sum(float(d) * c for d, _, c in sums) / n
        acc = sum(float(a) * c for _, a, c in sums) / n
    loss = data_loss + reg_loss
    return {
        "epoch": epoch, "acc": float(acc), "loss": float(loss),
        "data_loss": float(data_loss), "reg_loss": float(reg_loss), "lr": lr,
    }


def _log_every(log_every: Any) -> int | Collection[int] | None:
    """``log_every``: None, a positive integer, or a collection of epoch numbers."""
    if log_every is None or (isinstance(log_every, int) and not isinstance(log_every, bool)):
        return None if log_every is None else validate.positive_int("log_every", log_every)
    if isinstance(log_every, Collection) and not isinstance(log_every, (str, bytes)):
        return [validate.non_negative_int("an epoch in log_every", e) for e in log_every]
    return validate.positive_int("log_every", log_every)  # raises, saying what arrived


def validation_pair(validation_data: Any) -> tuple[Any, Any] | None:
    """``validation_data`` as an ``(X_val, y_val)`` pair (or None)."""
    if validation_data is None:
        return None
    if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
        return validation_data[0], validation_data[1]
    got = validate.describe(validation_data)
    if isinstance(validation_data, (tuple, list)):
        count = len(validation_data)
        got = f"a {type(validation_data).__name__} of {count} item{'' if count == 1 else 's'}"
    msg = (f"validation_data must be a pair (X_val, y_val), got {got}; pass "
           "validation_data=(X_val, y_val).")
    raise TypeError(msg)


def _is_finite(model: Trainable, a: Any) -> bool:
    xp = model.backend.xp
    return bool(xp.all(xp.isfinite(a)))


def _check_parameters(model: Trainable) -> None:
    """Refuse to start from parameters that are already NaN or infinite."""
    bad = [name for name, p in model.parameters().items() if not _is_finite(model, p)]
    if bad:
        msg = (f"the parameters {', '.join(bad)} hold NaN or infinite values before training "
               "starts (did an earlier run diverge?), so no learning rate can help. Build the "
               "model again, or load a saved one with xpnet.Model.load(path).")
        raise ValueError(msg)


def _check_iterations(optimizer: Any) -> None:
    """Refuse a step count set by hand to what no run counts (``-5``, ``2.5``): Adam's bias
    corrections and the decay divide by terms of it (``iterations = -1`` divides by 0)."""
    try:
        validate.non_negative_int("optimizer.iterations", optimizer.iterations)
    except (TypeError, ValueError) as exc:
        msg = (f"{exc} It counts the steps taken (the learning-rate decay and Adam's bias "
               "corrections use it): set it to 0 to start afresh, or leave it as training "
               "and Model.load set it.")
        raise type(exc)(msg) from None


def _check_memory(model: Trainable, rows: int, dtype: Any) -> None:
    """Refuse a run whose layers' outputs and their gradients (``rows`` at a time) cannot fit
    in the machine's memory at all, where its arrays live in host memory: a width typed
    with extra zeros would otherwise end in the system killing the process."""
    device = str(model.backend.device).lower()
    if model.backend.name == "cupy" or "cuda" in device or "gpu" in device:
        return  # the device's allocator raises its own out-of-memory error
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return
    width, widths, widest = 0, 0, (0, "")
    for layer in model.layers:
        if hasattr(layer, "n_out"):  # a Dense layer sets the width the next ones keep
            width = int(layer.n_out)
            widest = max(widest, (width, str(getattr(layer, "name", type(layer).__name__))))
        widths += width
    try:  # the data's dtype, the layers' (torch.float32, float32, ...)
        itemsize = np.dtype(str(dtype).rpartition(".")[2]).itemsize
    except TypeError:
        itemsize = 4
    need = 2 * rows * widths * itemsize  # each output and its gradient
    if need > physical:
        msg = (f"training on {rows:,} samples at a time needs about {need / 2**30:,.1f} GiB "
               f"for the layers' outputs and their gradients (the widest, {widest[1]}, has "
               f"{widest[0]:,} units), more than this machine's {physical / 2**30:,.1f} GiB. "
               "Use fewer units, or train in batches (batch_size=...).")
        raise ValueError(msg)


def _check_finite(model: Trainable, logs: dict[str, Any], history: History, run: _Run) -> None:
    """Raise a :class:`DivergenceError` naming the likely cause when the loss is not finite.

    Runs its diagnosis only on failure: the optimizer's settings (changed since it was
    made?), which parameters went non-finite, and one extra forward pass to find the first
    layer whose output does."""
    if math.isfinite(logs["loss"]):
        return
    assert model.optimizer is not None
    epoch = logs["epoch"]
    last = history.records[-1]["epoch"] if history.records else None
    since = "" if last is None else f" (last finite at epoch {last})"
    head = f"training diverged at epoch {epoch}: the loss is {logs['loss']}{since}."
    where = _first_non_finite(model, run.X)
    if model.optimizer.iterations == len(run.batches) == 1:
        # the initial parameters were finite (checked before the first epoch), and so were
        # the inputs: the first forward pass overflowed (where, if the update left the
        # parameters finite enough to run it again)
        detail = "" if where.startswith("the parameters") else f" ({where})"
        msg = (f"{head} The first forward pass, before any update, already gives it, so the "
               "learning rate is not the cause: the initial weights or the inputs are too "
               f"large{detail}. Scale the inputs (e.g. X / abs(X).max()) or start from "
               "smaller weights (Dense(..., init_scale=0.01)).")
    else:
        msg = (f"{head} {where[0].upper()}{where[1:]}. Lower the learning rate (it is "
               f"{model.optimizer.learning_rate}), scale the inputs, or add regularization.")
    raise DivergenceError(msg, epoch)


def _first_non_finite(model: Trainable, X: Any) -> str:
    """Where the numbers first stop being finite: a parameter, or a layer's output in one
    forward pass (dropout off) with the current parameters."""
    bad = [name for name, p in model.parameters().items() if not _is_finite(model, p)]
    if bad:
        return f"the parameters {', '.join(bad)} are no longer finite (an update overflowed)"
    out = X
    for layer in model.layers:
        out = layer.forward(out, False)
        if not _is_finite(model, out):
            return f"the first layer whose output is not finite is {layer.name}"
    biggest = float(model.backend.xp.max(model.backend.xp.abs(out)))
    return (f"every layer's output is finite (up to {biggest:.3g} in size) but the loss of "
            "outputs this large is not")


def step_table(model: Trainable, kernels: Any, graph: bool | str, epochs: int,
               batch_size: int | None = None, shuffle: bool = False) -> tuple[bool, bool]:
    """Whether a run of ``epochs`` reads the optimizer's scalars from a step table, and
    whether it records its step as a CUDA graph: ``(tabled, record)``.

    It records with ``graph=True`` where a replay can train the model (else a ValueError
    that says why), and with ``"auto"`` where it can and the whole-step engine trains the
    model (its step calls no cuBLAS, which CuPy refuses to record) for at least
    :data:`GRAPH_MIN_EPOCHS` epochs. A recorded run has a table; so has every run of the
    whole-step engine that a replay could train, so that its last kernel applies the
    update."""
    problem = graph_problem(model, kernels, batch_size, shuffle)
    whole = engine.whole_step_applies(model.ops, model.layers, model.loss, kernels)
    if graph == "auto":
        record = problem is None and whole and epochs >= GRAPH_MIN_EPOCHS
    elif graph and problem is not None:
        msg = f"graph=True cannot be used here: {problem}."
        raise ValueError(msg)
    else:
        record = bool(graph)
    return record or (problem is None and whole), record


def graph_problem(model: Trainable, kernels: Any, batch_size: int | None,
                   shuffle: bool) -> str | None:
    """Why a recorded step could not replay the training (``graph=True`` is refused with
    it), or None."""
    assert model.optimizer is not None
    problem = None
    if kernels is None:
        problem = ("it needs the fused kernels: build the model with fast=True on "
                   f"backend 'cupy' (this one is {model.backend.name!r})")
    elif batch_size is not None or shuffle:
        problem = "it records one full-batch step: drop batch_size and shuffle"
    elif any(isinstance(layer, Dropout) for layer in model.layers) and \
            not engine.whole_step_applies(model.ops, model.layers, model.loss, kernels):
        problem = ("Dropout draws a new mask each step, and outside the whole-step engine "
                   "(xpnet.engine.step: the book's Dense, ReLU, Dropout, Dense, Softmax "
                   "networks with dropout_masks='counter') a replay would reuse the recorded "
                   "mask: train without graph=True")
    elif not kernels.records_matmul and \
            not engine.whole_step_applies(model.ops, model.layers, model.loss, kernels):
        problem = ("on CuPy the layered step multiplies matrices with cuBLAS, which CuPy "
                   "cannot record into a CUDA graph; only the whole-step engine's networks "
                   "replay (xpnet.engine.step: the book's Dense, ReLU, [Dropout,] Dense, "
                   "Softmax with CategoricalCrossentropy): train without graph=True")
    elif engine.rules.compile_rule(model.optimizer.rule()) is None:
        problem = (f"{type(model.optimizer).__name__}'s update rule cannot be compiled into "
                   "one kernel (see xpnet.engine.rules); use a built-in optimizer")
    elif trace.ACTIVE is not None:
        problem = "explain mode records every step's arrays, which a replay never forms"
    return problem
