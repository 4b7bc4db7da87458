"""Running one trial: train a preset with changed settings and measure it.

This module is what worker processes (local or Dask) import; :func:`run_trial` is a pure
function of the :class:`~xpnet.experiments.plan.Trial`, so the same trial gives the same
rows wherever it runs.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import presets
from ..backend import to_numpy
from ..errors import DivergenceError
from ..many import ManyModels
from ..nn.activations import ReLU
from ..random import Generator
from .plan import Trial, preset_of

__all__ = ["TrialResult", "dead_units", "predicted_classes", "run_trial", "run_trials",
           "shape_of", "validation_set"]

#: Offsets that derive the evaluation streams from a trial's seed: the validation set and
#: each test set come from streams independent of training (and of each other).
_VALIDATION_STREAM = 1
_TEST_STREAM = 2
_IID_TEST_STREAM = 3
_CURVE_TEST_STREAM = 4


def _stream(seed: int, *path: int) -> Generator:
    state = np.random.SeedSequence([seed, *path]).generate_state(1, dtype=np.uint64)[0]
    return Generator(int(state) & (2**63 - 1))


class TrialResult(dict):
    """``{"key", "config", "rows", "snapshots", "seconds", "diverged_at"}``."""


def _rows(trial: Trial, epoch: int, split: str, metrics: dict[str, float],
          test_samples: int = 0, rep: int = 0) -> list[dict[str, Any]]:
    return [{"epoch": epoch, "split": split, "metric": name, "value": float(value),
             "test_samples": test_samples, "rep": rep} for name, value in metrics.items()]


def _model_bytes(model: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **_host_params(model))  # type: ignore[arg-type]
    return buffer.getvalue()


def _host_params(model: Any) -> dict[str, np.ndarray]:
    return {name: to_numpy(p) for name, p in model.parameters().items()}


def validation_set(config: dict[str, Any], backend: Any) -> tuple[Any, Any]:
    """The validation set of the trial with ``config``, drawn from its seed's own stream on
    ``backend``: the data its logged validation metrics were measured on (so a model kept at
    an epoch that was not logged can be measured as the logged ones were)."""
    p = preset_of(config)
    return presets.draw_data(p, config.get("validation_samples", p.test_samples),
                             _stream(config["seed"], _VALIDATION_STREAM), backend)


class _Prepared:
    """A trial's preset, its model (built in the book's draw order), its training data and
    its evaluation sets: the validation set and the curve's test set (None without one),
    each from a stream of its own."""

    def __init__(self, trial: Trial) -> None:
        self.preset = preset_of(trial.config)
        self.model, self.train, _ = presets.build(self.preset, backend=trial.backend,
                                                  seed=trial.seed)
        backend = self.model.backend
        self.validation = validation_set(trial.config, backend)
        self.curve = presets.draw_data(self.preset, trial.curve_test,
                                       _stream(trial.seed, _CURVE_TEST_STREAM),
                                       backend) if trial.curve_test else None


def dead_units(model: Any) -> int:
    """Hidden ReLU units whose output was 0 for every sample of the last forward pass.

    Call it right after ``model.forward(X, training=False)``: each :class:`~xpnet.nn.ReLU`
    keeps its output ``y`` (samples x units), and a unit is dead on ``X`` when its column is
    all zero. A dead unit also passes no gradient back (ReLU's derivative is 0 where its
    output is), so nothing in ``X`` can revive it: the layer is that much narrower.

    Examples
    --------
    >>> import numpy as np
    >>> from xpnet import Model
    >>> from xpnet.nn import Dense, ReLU
    >>> model = Model(seed=0)
    >>> dense = model.add(Dense(2, 3))
    >>> _ = model.add(ReLU())
    >>> dense.params["W"][...] = [[1.0, -1.0, 0.0], [0.0, -1.0, 0.0]]  # unit 1: -x0 - x1 < 0 here
    >>> dense.params["b"][...] = [[0.0, 0.0, -1.0]]                     # unit 2: always < 0
    >>> _ = model.forward(np.array([[1.0, 2.0], [3.0, 0.5]]), training=False)
    >>> dead_units(model)
    2
    """
    return sum(int((~(to_numpy(layer.y) > 0).any(axis=0)).sum())
               for layer in model.layers if isinstance(layer, ReLU))


def predicted_classes(model: Any, X: Any) -> int:
    """How many distinct classes ``model`` predicts on ``X`` (dropout off); 1 means it
    collapsed to one class. Its forward pass leaves each ReLU's output for
    :func:`dead_units`."""
    return len(np.unique(to_numpy(model.predictions(model.forward(X, training=False)))))


def _measure(trial: Trial, model: Any, epoch: int, sets: _Prepared,
             rows: list[dict[str, Any]], snapshots: dict[int, bytes]) -> None:
    """The rows (and snapshot) of a logged epoch."""
    train, validation = sets.train, sets.validation
    if epoch in trial.log_at:
        rows.extend(_rows(trial, epoch, "train", model.evaluate(*train)))
        rows.extend(_rows(trial, epoch, "validation", model.evaluate(*validation)))
        if sets.curve is not None:
            rows.extend(_rows(trial, epoch, "test_curve", model.evaluate(*sets.curve),
                              test_samples=trial.curve_test))
        classes = predicted_classes(model, train[0])
        rows.extend(_rows(trial, epoch, "train",
                          {"classes": classes, "dead_units": dead_units(model)}))
        rows.extend(_rows(trial, epoch, "validation",
                          {"classes": predicted_classes(model, validation[0])}))
    if epoch in trial.snapshots:
        snapshots[epoch] = _model_bytes(model)


def _test(trial: Trial, p: presets.Preset, model: Any, rows: list[dict[str, Any]]) -> None:
    """The rows of the fresh test sets, after training: the book's spiral ("test") and,
    if the trial asks, spiral sets with random radii ("test_iid", independent points)."""
    kinds = [("test", _TEST_STREAM, False)] + (
        [("test_iid", _IID_TEST_STREAM, True)] if trial.iid_test else [])
    for split, offset, iid in kinds:
        for size in trial.test_samples:
            for rep in range(trial.repeats_at(size)):
                Xt, yt = presets.draw_data(p, size, _stream(trial.seed, offset, size, rep),
                                           model.backend, iid=iid)
                rows.extend(_rows(trial, trial.epochs, split, model.evaluate(Xt, yt),
                                  test_samples=size, rep=rep))


def run_trial(trial: Trial) -> TrialResult:
    """Train ``trial``'s model and return its tidy rows.

    Rows: at every epoch in ``log_at``, split ``"train"`` (the training set, dropout off)
    and ``"validation"``, metrics ``acc``, ``loss`` (data loss) and ``classes`` (distinct
    classes predicted: 1 is a collapse to one class), and on ``"train"`` ``dead_units``
    (hidden ReLU units never active on the training set, :func:`dead_units`); after
    training, split
    ``"test"`` for each test-set size and repeat. A run whose loss became NaN or infinite
    stops there and is marked ``diverged_at`` (its rows up to then are kept).
    """
    started = time.perf_counter()
    sets = _Prepared(trial)
    rows: list[dict[str, Any]] = []
    snapshots: dict[int, bytes] = {}
    wanted = set(trial.log_at) | set(trial.snapshots)

    def measure(model: Any, epoch: int, logs: dict[str, Any]) -> None:
        _measure(trial, model, epoch, sets, rows, snapshots)

    diverged_at = None
    try:
        sets.model.train(*sets.train, epochs=trial.epochs, log_every=sorted(wanted),
                         callbacks=[measure])
    except DivergenceError as exc:
        diverged_at = exc.epoch
    if diverged_at is None:
        _test(trial, sets.preset, sets.model, rows)
    return TrialResult(key=trial.key, config=trial.config, rows=rows, snapshots=snapshots,
                       seconds=time.perf_counter() - started, diverged_at=diverged_at)


def shape_of(trial: Trial) -> tuple[Any, ...] | None:
    """Trials with the same shape can train together as one batched model
    (:class:`~xpnet.many.ManyModels`): everything but the seed and the learning rate
    agrees (but how many test sets each measures after training), and the preset is one of
    the spiral classifiers. None when it cannot batch."""
    p = presets.get(trial.preset)
    if p.task != "classification" or p.hidden_layers != 1:
        return None
    config = trial.config
    del config["seed"], config["lr"]
    config.pop("test_points", None)
    return tuple(sorted((k, v if not isinstance(v, list) else tuple(v))
                        for k, v in config.items()))


def run_trials(trials: Sequence[Trial]) -> list[TrialResult]:
    """Run trials of one :func:`shape_of` together, as one batched model.

    Each trial's model is built (data and weights drawn in the book's order) as
    :func:`run_trial` builds it; the copies then train stacked on those very arrays
    (:class:`~xpnet.many.ManyModels`), bit for bit as each would alone, so every
    result (rows, snapshots, divergence) is the one :func:`run_trial` gives; ``seconds`` is
    the group's time shared equally. Trials that cannot batch run one by one.
    """
    shapes = {shape_of(t) for t in trials}
    if len(trials) < 2 or None in shapes:
        return [run_trial(t) for t in trials]
    if len(shapes) != 1:
        msg = "run_trials needs trials of one shape (they may differ in seed and lr only)."
        raise ValueError(msg)
    started = time.perf_counter()
    prepared = [_Prepared(t) for t in trials]
    first = trials[0]
    many = ManyModels.from_models([s.model for s in prepared], [s.train for s in prepared])
    rows: list[list[dict[str, Any]]] = [[] for _ in trials]
    snapshots: list[dict[int, bytes]] = [{} for _ in trials]
    diverged: list[int | None] = [None] * len(trials)
    # the epochs Model.train logs (and checks for divergence): the wanted ones and the last
    checkpoints = sorted((set(first.log_at) | set(first.snapshots) | {first.epochs})
                         & set(range(1, first.epochs + 1)))
    with many.b.quiet_float_errors():
        for epoch in checkpoints:
            logs = many.train(epoch - many.iterations)
            for m, (trial, sets) in enumerate(zip(trials, prepared, strict=True)):
                if diverged[m] is not None:
                    continue
                if not math.isfinite(logs["loss"][m]):
                    diverged[m] = epoch
                    continue
                if epoch in trial.log_at or epoch in trial.snapshots:
                    _measure(trial, many.sync(m), epoch, sets, rows[m], snapshots[m])
    seconds = (time.perf_counter() - started) / len(trials)
    results = []
    for m, (trial, sets) in enumerate(zip(trials, prepared, strict=True)):
        if diverged[m] is None:
            _test(trial, sets.preset, many.sync(m), rows[m])
        results.append(TrialResult(key=trial.key, config=trial.config, rows=rows[m],
                                   snapshots=snapshots[m], seconds=seconds,
                                   diverged_at=diverged[m]))
    return results
