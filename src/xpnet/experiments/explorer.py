"""The explorer: one HTML page (``explorer.html``) to browse a study's stored runs.

Sliders pick a stored setting (training samples, learning rate, run length: whichever the
study varied, snapping to the grid's values); the page shows that setting's curves (train,
validation and fresh-test accuracy and loss at the logged epochs, the mean across seeds bold
and each seed faint) and the decision regions of its stored snapshots, which a play button steps
through. Like TensorFlow Playground, but every picture is a real, repeated run.

The page is self-contained (inline data, script and style; no network), so it opens from
disk. The decision regions are computed here, once: the class predicted at each point of a
:data:`GRID` x :data:`GRID` grid over the spiral's square, as base64 of uint8 (row 0 at the
bottom). Only epochs with a stored snapshot are drawn.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import presets
from ..backend import to_numpy
from ..files import atomic_write_bytes
from .plan import ARMS, Trial, preset_of
from .store import Store

__all__ = ["EXTENT", "FIELDS", "GRID", "boundary", "explorer_data", "nearest",
           "predicted_classes", "snapshot_model", "write_explorer"]

#: Half-width of the square the decision regions cover (the spiral's radius is 1).
EXTENT = 1.15
#: Grid points per side of a decision-region image.
GRID = 60
#: The settings a slider can vary, with their labels.
FIELDS = {"train_samples": "Training samples per class", "lr": "Learning rate",
          "epochs": "Epochs trained", "arm": "Regularizers"}
#: The curves a run shows: train (dropout off), validation, and the fresh test curve.
_CURVES = [(split, metric) for split in ("train", "validation", "test_curve")
           for metric in ("acc", "loss")]


def snapshot_model(config: dict[str, Any], blob: bytes) -> tuple[Any, np.ndarray, np.ndarray]:
    """The trial's model (``config``) with a snapshot's parameters (``blob``, the .npz that
    :meth:`~xpnet.experiments.store.Store.snapshot` returns), and its training data
    ``(X, y)`` as NumPy arrays."""
    model, (X, y), _ = presets.build(preset_of(config), backend="numpy", seed=config["seed"])
    with np.load(io.BytesIO(blob), allow_pickle=False) as saved:
        for i, layer in enumerate(model.layers):
            for name, current in getattr(layer, "params", {}).items():
                layer.params[name] = model.backend.asarray(saved[f"layers.{i}.{name}"],
                                                           dtype=current.dtype)
    return model, to_numpy(X), to_numpy(y)


def predicted_classes(model: Any, X: np.ndarray) -> np.ndarray:
    """The class ``model`` predicts for each row of ``X`` (shape ``(n,)``, int): the
    argmax of a softmax output, or output > 0.5 for one sigmoid unit."""
    out = to_numpy(model.predict(model.backend.asarray(X)))
    return (out[:, 0] > 0.5).astype(int) if out.shape[1] == 1 else out.argmax(axis=1)


def boundary(model: Any, size: int = GRID) -> np.ndarray:
    """The decision regions of ``model``: uint8 classes of shape ``(size, size)``, entry
    ``[r, c]`` at ``y = ticks[r]``, ``x = ticks[c]`` with ``ticks = linspace(-EXTENT,
    EXTENT, size)`` (row 0 at the bottom).

    Examples
    --------
    >>> from xpnet import presets
    >>> model, _, _ = presets.build(presets.get("ch15"), seed=0)
    >>> image = boundary(model, size=8)
    >>> image.shape, image.dtype, bool(image.max() < 3)
    ((8, 8), dtype('uint8'), True)
    """
    ticks = np.linspace(-EXTENT, EXTENT, size, dtype=np.float32)
    gx, gy = np.meshgrid(ticks, ticks)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    return predicted_classes(model, grid).reshape(size, size).astype(np.uint8)


def _b64(data: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(data, dtype=np.uint8).tobytes()).decode()


def _points(X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Training points, quantised to a byte per coordinate over the square."""
    xy = np.clip(np.round((X + EXTENT) / (2 * EXTENT) * 255), 0, 255)
    return {"n": len(X), "xy": _b64(xy.ravel()), "y": _b64(y.ravel())}


def _arm_rank(arm: str) -> tuple[int, str]:
    """The regularizers' order: :data:`~xpnet.experiments.plan.ARMS`' (the book's first),
    then other mixes by name."""
    names = list(ARMS)
    return (names.index(arm) if arm in names else len(names), arm)


def _label(field: str, value: Any) -> str:
    return f"{value:g}" if field == "lr" else "the book's" if value == "book" else str(value)


def nearest(settings: Sequence[dict[str, Any]], fields: Sequence[dict[str, Any]],
            here: dict[str, Any], field: str, value: Any) -> int:
    """The index in ``settings`` of the stored setting with ``field == value`` that changes
    fewest of ``here``'s other ``fields``; among those, the closest: the smallest sum over
    the changed fields of the log-ratio of a number (training samples, lr, epochs) or the
    distance in ``values`` order (the arms). -1 when none has that value.

    >>> fields = [{"name": "train_samples", "values": [30, 1000, 3000]},
    ...           {"name": "epochs", "values": [10000, 30000]}]
    >>> settings = [{"train_samples": 30, "epochs": 30000},
    ...             {"train_samples": 1000, "epochs": 30000},
    ...             {"train_samples": 3000, "epochs": 10000}]
    >>> nearest(settings, fields, settings[2], "epochs", 30000)  # 1000/class, not 30
    1
    """
    def distance(s: dict[str, Any]) -> tuple[int, float]:
        changed, far = 0, 0.0
        for f in fields:
            a, b = s[f["name"]], here[f["name"]]
            if f["name"] == field or a == b:
                continue
            changed += 1
            numbers = all(isinstance(x, (int, float)) and x > 0 for x in (a, b))
            far += (abs(float(np.log(a / b))) if numbers else
                    abs(f["values"].index(a) - f["values"].index(b)))
        return changed, far

    found = [(distance(s), i) for i, s in enumerate(settings) if s[field] == value]
    return min(found)[1] if found else -1


def explorer_data(store: Store, trials: Sequence[Trial], size: int = GRID) -> dict[str, Any]:
    """What the page shows, as JSON-ready data: the stored ``trials`` grouped by setting.

    Returns ``{"grid", "extent", "classes", "fields", "start", "settings", "points"}``:
    ``fields`` the settings that vary (``{"name", "label", "values", "labels"}``);
    ``settings`` one entry per stored ``(train_samples, lr, epochs, arm)`` (``arm``: the
    regularizers, :func:`~xpnet.experiments.plan.arm_of`), each with its
    ``runs`` (one per seed: ``seed``, ``diverged_at``, ``epoch`` (the logged epochs) and
    the curves ``train_acc``, ``train_loss``, ``validation_acc``, ``validation_loss``,
    ``test_curve_acc``, ``test_curve_loss`` (None where not finite or not logged),
    ``boundaries`` ``{epoch: base64 uint8 grid}`` for the stored
    snapshots only, and ``points``, a key of ``points``: the run's training data) and its
    ``jump``, per field the setting each of its values leads to (:func:`nearest`);
    ``start`` the index of the setting shown first (the one most studies share).
    """
    stored = {t["key"]: t for t in store.trials()}
    ours = sorted((t for t in trials if t.key in stored),
                  key=lambda t: (t.train_samples, t.lr, t.epochs, t.arm != "book", t.arm,
                                 t.seed))
    curves: dict[str, dict[tuple[str, str], dict[int, float]]] = {t.key: {} for t in ours}
    for row in store.rows([t.key for t in ours]):
        if (row["split"], row["metric"]) in _CURVES:
            curves[row["key"]].setdefault((row["split"], row["metric"]), {})[row["epoch"]] = \
                row["value"]
    groups: dict[tuple[int, float, int, str], list[Trial]] = {}
    for t in ours:
        groups.setdefault((t.train_samples, t.lr, t.epochs, t.arm), []).append(t)
    points: dict[str, dict[str, Any]] = {}
    settings = []
    for (n, lr, epochs, arm), group in groups.items():
        runs = []
        for t in group:
            logged = sorted({e for c in curves[t.key].values() for e in c})
            run: dict[str, Any] = {"seed": t.seed, "diverged_at": stored[t.key]["diverged_at"],
                                   "epoch": logged, "boundaries": {},
                                   "points": f"{n}/{t.seed}"}
            for split, metric in _CURVES:
                by_epoch = curves[t.key].get((split, metric), {})
                run[f"{split}_{metric}"] = [
                    v if v is not None and np.isfinite(v) else None
                    for v in (by_epoch.get(e) for e in logged)]
            for epoch in sorted(set(t.snapshots)):
                blob = store.snapshot(t.key, epoch)
                if blob is None:  # a run that diverged before it
                    continue
                model, X, y = snapshot_model(t.config, blob)
                run["boundaries"][str(epoch)] = _b64(boundary(model, size))
                points.setdefault(run["points"], _points(X, y))
            runs.append(run)
        settings.append({"train_samples": n, "lr": lr, "epochs": epochs, "arm": arm,
                         "runs": runs})
    fields: list[dict[str, Any]] = []
    for name, label in FIELDS.items():
        values = sorted({getattr(group[0], name) for group in groups.values()},
                        key=_arm_rank if name == "arm" else None)
        if len(values) > 1:
            fields.append({"name": name, "label": label, "values": values,
                           "labels": [_label(name, v) for v in values]})
    for s in settings:  # where each slider position leads from this setting
        s["jump"] = {f["name"]: [nearest(settings, fields, s, f["name"], v) for v in f["values"]]
                     for f in fields}
    shared = [max(len(t.studies) for t in group) for group in groups.values()]
    classes = max(presets.get(ours[0].preset).classes, 2) if ours else 2
    return {"grid": size, "extent": EXTENT, "classes": classes, "fields": fields,
            "start": shared.index(max(shared)) if shared else 0, "settings": settings,
            "points": points}


def write_explorer(store: Store, outdir: str | os.PathLike[str], trials: Sequence[Trial],
                   title: str = "xpnet study explorer") -> Path:
    """Write ``outdir/explorer.html`` (atomically) for the stored runs of ``trials``;
    returns its path."""
    data = json.dumps(explorer_data(store, trials), separators=(",", ":"), allow_nan=False)
    template = resources.files(__package__).joinpath("explorer.html").read_text()
    # "</" would end the inline <script> early
    page = (template.replace("{{title}}", html.escape(title))
            .replace("{{data}}", data.replace("</", "<\\/")))
    path = Path(outdir) / "explorer.html"
    atomic_write_bytes(path, page.encode())
    return path
