"""Many models at once: M copies of one network trained as one, with a leading model axis.

Each copy keeps its own data, initial weights, dropout stream and learning rate; every array
carries the model axis first (``W`` of the first layer is ``(M, 2, H)``), so one batched
product does the work of M small ones. The copies run **the same layers and optimizer code**
as a single model (:mod:`xpnet.nn` works on any leading axes) with the same engine, so each
copy ends bit for bit where training it alone ends (a test checks this).

:meth:`ManyModels.from_models` stacks models that are already built (the lab's trials, whose
data and weights were drawn in the book's order) without drawing anything again;
``ManyModels(preset, seeds=...)`` builds them from a preset.

>>> many = ManyModels("ch14", seeds=[0, 1, 2], lr=[0.01, 0.02, 0.05])
>>> logs = many.train(epochs=50)
>>> len(logs["loss"]), logs["epoch"]
(3, 50)
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from . import presets, validate
from .backend import to_numpy
from .engine import train_step, training_views, whole_step
from .engine.fused import GraphRun
from .engine.step import WholeStep
from .model import Model
from .nn.losses import CategoricalCrossentropy, SoftmaxCrossentropy, regularization_loss
from .random import DropoutStream, Generator
from .training import recorded_arrays, step_table

__all__ = ["ManyModels", "Streams"]


#: Default budget for one block's (copies, n, hidden) float32 activation, in bytes.
BLOCK_BYTES = 3 * 2**20


class Streams:
    """The random streams of several copies, drawing as one: ``randn(a, b)`` and
    ``keep_mask(keep, (M, ...))`` give each copy's draw, from its own stream, stacked;
    ``next_counter()`` gives each copy's key and position of a counter-based mask (of
    :class:`~xpnet.random.DropoutStream` s), as arrays."""

    def __init__(self, rngs: Sequence[Generator | DropoutStream]):
        self.rngs = list(rngs)
        self.nnfs = any(r.nnfs for r in self.rngs)
        self._masks: dict[tuple[int, ...], np.ndarray] = {}

    def randn(self, *shape: int) -> np.ndarray:
        return np.stack([rng.randn(*shape) for rng in self.rngs])  # type: ignore[union-attr]

    def keep_mask(self, keep: float, shape: tuple[int, ...]) -> np.ndarray:
        host = self._masks.get(shape)
        if host is None:  # one host array per shape, reused: drawn into, then moved
            host = self._masks[shape] = np.empty(shape, dtype=bool)
        for m, rng in enumerate(self.rngs):
            rng.keep_mask(keep, shape[1:], out=host[m])
        return host

    def next_counter(self) -> tuple[np.ndarray, np.ndarray]:
        """Each copy's key and position (uint64 arrays): copy ``m`` draws the mask it draws
        alone (:func:`xpnet.philox.keep_mask` takes the arrays)."""
        taken = [rng.next_counter() for rng in self.rngs]  # type: ignore[union-attr]
        return (np.asarray([k for k, _ in taken], dtype=np.uint64),
                np.asarray([p for _, p in taken], dtype=np.uint64))


class ManyModels:
    """M copies of a network trained together.

    Parameters
    ----------
    preset : str or Preset
        ``ch14``, ``ch15`` or ``ch18`` (a spiral classifier), or a
        :class:`~xpnet.presets.Preset` of that shape (e.g. without dropout).
    seeds : sequence of int
        One seed per copy (its data, initial weights and dropout masks).
    lr : float or sequence of float, optional
        The initial learning rate, per copy (the preset's by default).
    l2 : float, optional
        The first layer's L2 strength, for every copy (the preset's by default).
    backend : str
        Array backend.
    block : int, optional
        Copies computed together per operation. Many copies at once share Python's overhead,
        but arrays that outgrow the CPU caches stream through memory at a fraction of the
        speed; the default keeps a block's activations within a few megabytes.
    dropout_masks : {"auto", "host", "counter"}
        Where the copies' dropout masks come from (see :class:`~xpnet.Model`); each copy
        draws the masks it draws alone either way.
    """

    def __init__(self, preset: str | presets.Preset, *, seeds: Sequence[int], lr: Any = None,
                 l2: float | None = None, backend: Any = "numpy", block: int | None = None,
                 dropout_masks: str = "auto"):
        p = preset if isinstance(preset, presets.Preset) else presets.get(preset)
        if p.task != "classification" or p.hidden_layers != 1:
            msg = f"ManyModels trains the spiral classifiers (ch14, ch15, ch18), not {p.name!r}."
            raise ValueError(msg)
        seeds = _seeds(seeds)
        lrs = _per_copy(lr, p.lr, len(seeds))
        if l2 is not None:
            l2 = validate.non_negative_float("l2", l2)
        self.preset: presets.Preset | None = p if l2 is None else replace(p, l2=l2)
        built = [presets.build(replace(self.preset, lr=r), backend=backend, seed=s,
                               dropout_masks=dropout_masks)
                 for s, r in zip(seeds, lrs, strict=True)]
        self._setup([m for m, _, _ in built], [d for _, d, _ in built], block)

    @classmethod
    def from_models(cls, models: Sequence[Model], data: Sequence[tuple[Any, Any]], *,
                    block: int | None = None) -> ManyModels:
        """Train ``models`` (built alike, differing in weights, streams and learning rate)
        together on their own ``data`` (``(X, y)`` each): nothing is drawn again."""
        if isinstance(models, Model):
            msg = ("from_models needs a list of models, got one Model: "
                   "ManyModels.from_models([model, ...], [(X, y), ...]).")
            raise TypeError(msg)
        models, data = list(models), list(data)
        if not models or not all(isinstance(m, Model) for m in models):
            found = [type(m).__name__ for m in models] if models else "an empty list"
            msg = f"from_models needs a non-empty list of xpnet.Model, got {found}."
            raise TypeError(msg)
        if len(data) != len(models):
            msg = (f"from_models needs one (X, y) pair per model: {len(models)} models, "
                   f"{len(data)} pairs of data.")
            raise ValueError(msg)
        backends = {(m.backend.name, str(m.backend.device)) for m in models}
        if len(backends) > 1:
            msg = (f"from_models stacks the copies on one backend and device, got "
                   f"{sorted(backends)}; build every model on one (Model(backend=...)).")
            raise ValueError(msg)
        _check_alike(models)
        for i, pair in enumerate(data):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                got = (f"a {type(pair).__name__} of {len(pair)} items"
                       if isinstance(pair, (tuple, list)) else validate.describe(pair))
                msg = (f"from_models needs an (X, y) pair per model; data[{i}] is {got}: "
                       "pass [(X0, y0), (X1, y1), ...].")
                raise TypeError(msg)
        # each pair as Model.train would take it (lists, host arrays: converted and checked)
        data = [m.convert_data(X, y) for m, (X, y) in zip(models, data, strict=True)]
        shapes = {(tuple(X.shape), tuple(y.shape)) for X, y in data}
        if len(shapes) > 1:
            msg = (f"from_models trains the copies on data of one shape (they are stacked), "
                   f"got {sorted(shapes)}; draw every copy's data with the same sizes.")
            raise ValueError(msg)
        self = cls.__new__(cls)
        self.preset = None
        self._setup(models, data, block)
        return self

    def _setup(self, models: list[Model], data: list[tuple[Any, Any]],
               block: int | None) -> None:
        first = models[0]
        if first.optimizer is None or first.loss is None:
            msg = "ManyModels needs built models with a loss and an optimizer (model.set)."
            raise ValueError(msg)
        self.models, self.M = models, len(models)
        self.b = first.backend
        xp = self.b.xp
        n, hidden = int(data[0][0].shape[0]), max(
            (getattr(layer, "n_out", 0) for layer in first.layers), default=1)
        if block is None:
            # copies per block: on the CPU, enough that the (copies, n, hidden) activations
            # of a block stay in the outer cache instead of streaming through memory; on a
            # GPU all of them (launches are what costs there, and the whole-step engine does
            # not store the activations)
            block = self.M if self.b.name == "cupy" else max(
                1, BLOCK_BYTES // (n * hidden * 4))
        if not isinstance(block, int) or isinstance(block, bool) or block < 1:
            msg = f"block must be a positive integer or None, got {block!r}."
            raise ValueError(msg)
        self.block = min(block, self.M)
        self.blocks: list[Model] = []
        self.data: list[tuple[Any, Any]] = []
        self.views: list[list[Any]] = []
        self.wholes: list[WholeStep | None] = []  # the whole-step engine of each block
        for lo in range(0, self.M, self.block):
            part = models[lo:lo + self.block]
            stacked = _stack(part)
            self.blocks.append(stacked)
            # each copy's data as Model.train converts them (the model's dtype and device)
            pairs = [m.convert_data(X, y) for m, (X, y) in zip(part, data[lo:lo + self.block],
                                                               strict=True)]
            self.data.append((xp.stack([X for X, _ in pairs]), xp.stack([y for _, y in pairs])))
            # the fused updates where the models have them (CuPy), with a learning rate per copy
            self.views.append(training_views(stacked.ops, stacked.layers, stacked.loss,
                                             stacked.fused_kernels()))
            # positions on the device: each copy's own, moved on by the step
            self.wholes.append(whole_step(stacked.ops, stacked.layers, stacked.loss,
                                          stacked.fused_kernels(), graph=True))
        self.iterations = 0

    # -- training -------------------------------------------------------------------------
    def _step(self, k: int) -> Any:
        """Forward, backward and every update of block ``k`` (the optimizer's pre/post calls
        are the caller's): the output of the forward pass."""
        (X, y) = self.data[k]
        output, self.wholes[k] = train_step(self.blocks[k], self.views[k], self.wholes[k],
                                            X, y)
        return output

    def _stepped(self, k: int) -> None:
        """After block ``k``'s step: the whole step's host streams follow the device."""
        whole = self.wholes[k]
        if whole is not None:
            whole.stepped()

    def _epoch(self, logged: bool, graphs: Sequence[GraphRun | None]) -> dict[str, list[float]]:
        """One epoch of every copy, block by block; the metrics per copy when logged."""
        logs: dict[str, list[float]] = {}
        for k, (model, (X, y)) in enumerate(zip(self.blocks, self.data, strict=True)):
            assert model.optimizer is not None
            if logged:
                reg = regularization_loss(model.trainable_layers)
            run = graphs[k]
            if run is not None:  # pre/post, the step (recorded, replayed), the streams
                output = run.epoch()
            else:
                model.optimizer.pre_update_params()
                output = self._step(k)
                self._stepped(k)
                model.optimizer.post_update_params()
            if logged:
                data_loss, acc, _ = model.batch_metrics(output, y, int(X.shape[-2]))
                for key, value in (("data_loss", data_loss), ("reg_loss", reg),
                                   ("loss", data_loss + reg), ("acc", acc)):
                    values = np.broadcast_to(to_numpy(value), (int(X.shape[0]),))
                    logs.setdefault(key, []).extend(float(v) for v in values)
        self.iterations += 1
        return logs

    def _graphs(self, epochs: int, graph: Any) -> list[GraphRun | None]:
        """The step table of each block whose run reads one, recorded as a CUDA graph where
        it records (:func:`xpnet.training.step_table` decides, as for one model)."""
        out: list[GraphRun | None] = []
        for k, model in enumerate(self.blocks):
            kernels = model.fused_kernels()
            tabled, record = step_table(model, kernels, graph, epochs)
            if not record and (not tabled or self.wholes[k] is None):
                out.append(None)
                continue
            assert model.optimizer is not None and kernels is not None
            dtype = next(iter(model.trainable_layers[0].params.values())).dtype
            out.append(GraphRun(
                functools.partial(self._step, k), model.optimizer, kernels, self.b, epochs,
                dtype, stepped=functools.partial(self._stepped, k),
                arrays=functools.partial(recorded_arrays, model), fallback=graph == "auto",
                record=record))
        return out

    def train(self, epochs: int, *, graph: bool | str = "auto") -> dict[str, Any]:
        """Train every copy for ``epochs`` epochs; returns the last epoch's metrics per copy
        (``{"epoch", "acc", "loss", "data_loss", "reg_loss"}``, lists of length M).

        ``graph`` as :func:`xpnet.train` takes it: on a GPU, a run of at least
        ``xpnet.training.GRAPH_MIN_EPOCHS`` epochs records one step of all copies as a CUDA
        graph and replays it (``"auto"``), with every copy's learning rate and mask position
        on the device."""
        epochs = validate.positive_int("epochs", epochs)
        graph = validate.flag("graph", graph, auto=True)
        graphs = self._graphs(epochs, graph)
        with contextlib.ExitStack() as stack:
            stack.enter_context(self.b.quiet_float_errors())
            for run in graphs:
                if run is not None and run.record:  # a recording stream (CuPy)
                    stack.enter_context(run.kernels.replaying())
            for epoch in range(1, epochs + 1):
                logs = self._epoch(logged=epoch == epochs, graphs=graphs)
        return {"epoch": self.iterations, **logs}

    # -- the copies -----------------------------------------------------------------------
    def parameters(self, m: int) -> dict[str, Any]:
        """Copy ``m``'s parameters (views), named as :meth:`xpnet.Model.parameters` names
        them (``m`` from 0, or from -1 for the last copy, as a list's index)."""
        m = self._copy(m)
        model, i = self.blocks[m // self.block], m % self.block
        return {name: p[i, ...] for name, p in model.parameters().items()}

    def _copy(self, m: Any) -> int:
        """``m`` as the index of a copy in ``range(M)`` (a negative one counts from the end)."""
        m = validate.integer("the copy's index", m)
        if not -self.M <= m < self.M:
            msg = (f"copy {m} does not exist: there are {self.M} copies, indexed 0 to "
                   f"{self.M - 1} (or -{self.M} to -1).")
            raise IndexError(msg)
        return m % self.M

    def sync(self, m: int) -> Model:
        """Model ``m`` with copy ``m``'s current parameters (views, nothing copied), to
        evaluate or predict. Its optimizer state is not copied back (the stacked model holds
        it), so train the copies on here, not the returned model."""
        m = self._copy(m)
        model = self.models[m]
        for key, value in self.parameters(m).items():
            _, index, name = key.split(".")
            model.layers[int(index)].params[name] = value
        return model

    def preset_of(self, m: int) -> presets.Preset:
        """The preset that trains copy ``m`` alone, settings included."""
        if self.preset is None:
            msg = "this ManyModels was stacked from models, not built from a preset."
            raise ValueError(msg)
        optimizer = self.models[self._copy(m)].optimizer
        assert optimizer is not None
        return replace(self.preset, lr=optimizer.learning_rate)


def _seeds(seeds: Any) -> list[int]:
    """The copies' seeds: a non-empty sequence of integers >= 0."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence | np.ndarray):
        msg = (f"seeds must be a sequence of integers, one per copy, got "
               f"{validate.describe(seeds)}; e.g. seeds=range(8) or seeds=[0, 1, 2].")
        raise TypeError(msg)
    if len(seeds) < 1:
        msg = "ManyModels needs at least one seed; e.g. seeds=range(8)."
        raise ValueError(msg)
    return [validate.integer(f"seeds[{i}]", s, minimum=0) for i, s in enumerate(seeds)]


def _per_copy(value: Any, default: float, count: int) -> list[float]:
    """One learning rate per copy, from None (the default), a number, or a sequence."""
    if value is None:
        return [default] * count
    if isinstance(value, np.ndarray) and value.ndim == 0:  # one number, as an array
        value = value.item()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | np.ndarray):
        return [validate.positive_float("lr", value)] * count
    values = [validate.positive_float(f"lr[{i}]", v) for i, v in enumerate(value)]
    if len(values) != count:
        msg = f"lr has {len(values)} values for {count} seeds; give one per seed."
        raise ValueError(msg)
    return values


def _check_alike(models: Sequence[Model]) -> None:
    """Refuse models the stacked one would not train as each would alone: without an
    optimizer or a cross-entropy loss, with another optimizer or setting than the first's
    (the learning rate may differ), another precision or dtype, or already trained (an
    optimizer's state and step count are not stacked)."""
    first = models[0]

    def setting(m: Model) -> tuple[Any, ...]:
        config = {k: v for k, v in m.optimizer.get_config().items()  # type: ignore[union-attr]
                  if k != "learning_rate"}
        return (type(m.optimizer).__name__, sorted(config.items()), type(m.loss).__name__,
                m.precision, str(m.dtype))

    for i, model in enumerate(models):
        twin = next((j for j in range(i) if models[j] is model), None)
        if twin is not None:
            msg = (f"models {twin} and {i} are the same Model object: its copies would share "
                   "nothing but the name. Build each copy as its own model.")
            raise ValueError(msg)
        if model.optimizer is None or model.loss is None:
            msg = (f"ManyModels needs built models with a loss and an optimizer (model.set); "
                   f"model {i} has {'no loss' if model.loss is None else 'no optimizer'}.")
            raise ValueError(msg)
        if setting(model) != setting(first):
            msg = (f"model {i} differs from model 0 in its optimizer, loss, precision or "
                   f"dtype ({setting(model)} against {setting(first)}); ManyModels trains "
                   "copies that differ only in their weights, data, streams and learning rate.")
            raise ValueError(msg)
        if not isinstance(model.loss, (CategoricalCrossentropy, SoftmaxCrossentropy)):
            msg = (f"ManyModels trains classifiers (a cross-entropy loss), got "
                   f"{type(model.loss).__name__}; train other models one by one.")
            raise ValueError(msg)
        trained = model.optimizer.iterations or any(
            getattr(layer, "optimizer_state", None) for layer in model.layers)
        if trained:
            msg = (f"model {i} has trained before (its optimizer is at step "
                   f"{model.optimizer.iterations}); its optimizer state would not carry over "
                   "into the stacked copies. Build fresh models for ManyModels.")
            raise ValueError(msg)


def _stack(models: Sequence[Model]) -> Model:
    """One model whose layers hold the parameters of ``models`` along a leading axis, with
    their streams and one optimizer holding every copy's learning rate."""
    first = models[0]
    described = [(type(layer), layer.get_config()) for layer in first.layers]
    for i, model in enumerate(models[1:], start=1):
        layers = [(type(layer), layer.get_config()) for layer in model.layers]
        if layers != described:
            pairs = zip(layers, described, strict=False)  # (a count that differs: said below)
            where = next((j for j, (a, b) in enumerate(pairs) if a != b),
                         min(len(layers), len(described)))
            if where < min(len(layers), len(described)):
                what = (f"its layer {where} is {model.layers[where]!r}, model 0's is "
                        f"{first.layers[where]!r}")
            else:
                what = f"it has {len(layers)} layers, model 0 has {len(described)}"
            msg = (f"ManyModels needs models of one architecture (the same layers and "
                   f"settings): model {i} differs, {what}. Build every copy alike (the "
                   "learning rate may differ).")
            raise ValueError(msg)
    sources = {model.dropout_masks for model in models}
    if len(sources) > 1:
        msg = (f"ManyModels needs models that draw dropout masks alike, got dropout_masks "
               f"{sorted(sources)}; build them with one dropout_masks.")
        raise ValueError(msg)
    stacked = Model(backend=first.backend, seed=0, precision=first.precision,
                    dtype=first.dtype, dropout_masks=first.dropout_masks, fast=first.fast)
    xp = first.backend.xp
    for i, layer in enumerate(first.layers):
        twin = copy.copy(layer)  # the same settings; parameters and stream of its own
        twin.params = {name: xp.stack([model.layers[i].params[name] for model in models])
                       for name in layer.params}
        twin.grads = {}
        if hasattr(twin, "rng"):  # each copy's stream of this layer (host draws: the model's)
            twin.rng = Streams([model.layers[i].rng for model in models])  # type: ignore[attr-defined]
        stacked.add(twin)
    optimizer: Any = copy.copy(first.optimizer)
    assert first.loss is not None and all(m.optimizer is not None for m in models)
    # one learning rate per copy, as a column the update broadcasts over the copies
    rates = np.asarray([m.optimizer.learning_rate for m in models])  # type: ignore[union-attr]
    # one rate per copy (each checked by its own optimizer): past the one-number Setting
    vars(optimizer).update(learning_rate=rates.reshape(-1, 1, 1),
                           current_learning_rate=rates.reshape(-1, 1, 1))
    stacked.set(loss=first.loss, optimizer=optimizer, accuracy=first.accuracy)
    stacked.check_ready(training=True)
    return stacked
