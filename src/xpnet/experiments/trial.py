"""Running one trial: train a preset with changed settings and measure it.

This module is what worker processes (local or Dask) import; :func:`run_trial` is a pure
function of the :class:`~xpnet.experiments.plan.Trial`, so the same trial gives the same
rows wherever it runs.
"""

from __future__ import annotations

import io
import time
from dataclasses import replace
from typing import Any

import numpy as np

from .. import presets
from ..errors import DivergenceError
from ..random import Generator
from .plan import Trial

__all__ = ["TrialResult", "run_trial"]

#: Offsets that derive the evaluation streams from a trial's seed: the validation set and
#: each test set come from streams independent of training (and of each other).
_VALIDATION_STREAM = 1
_TEST_STREAM = 2


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
    from ..backend import to_numpy

    return {name: to_numpy(p) for name, p in model.parameters().items()}


def run_trial(trial: Trial) -> TrialResult:
    """Train ``trial``'s model and return its tidy rows.

    Rows: at every epoch in ``log_at``, split ``"train"`` (the training set, dropout off)
    and ``"validation"``, metrics ``acc`` and ``loss`` (data loss); after training, split
    ``"test"`` for each test-set size and repeat. A run whose loss became NaN or infinite
    stops there and is marked ``diverged_at`` (its rows up to then are kept).
    """
    started = time.perf_counter()
    p = replace(presets.get(trial.preset), train_samples=trial.train_samples, lr=trial.lr,
                epochs=trial.epochs, test_samples=trial.validation_samples)
    model, (X, y), _ = presets.build(p, backend=trial.backend, seed=trial.seed)
    b = model.backend
    validation_stream = _stream(trial.seed, _VALIDATION_STREAM)
    Xv, yv = presets.draw_data(p, trial.validation_samples, validation_stream, b)
    rows: list[dict[str, Any]] = []
    snapshots: dict[int, bytes] = {}
    wanted = set(trial.log_at) | set(trial.snapshots)

    def measure(model: Any, epoch: int, logs: dict[str, Any]) -> None:
        if epoch in trial.log_at:
            rows.extend(_rows(trial, epoch, "train", model.evaluate(X, y)))
            rows.extend(_rows(trial, epoch, "validation", model.evaluate(Xv, yv)))
        if epoch in trial.snapshots:
            snapshots[epoch] = _model_bytes(model)

    diverged_at = None
    try:
        model.train(X, y, epochs=trial.epochs, log_every=sorted(wanted), callbacks=[measure])
    except DivergenceError as exc:
        diverged_at = exc.epoch
    if diverged_at is None:
        for size in trial.test_samples:
            for rep in range(trial.test_repeats):
                Xt, yt = presets.draw_data(p, size, _stream(trial.seed, _TEST_STREAM, size, rep), b)
                rows.extend(_rows(trial, trial.epochs, "test", model.evaluate(Xt, yt),
                                  test_samples=size, rep=rep))
    return TrialResult(key=trial.key, config=trial.config, rows=rows, snapshots=snapshots,
                       seconds=time.perf_counter() - started, diverged_at=diverged_at)

