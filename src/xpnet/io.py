"""Saving and loading models: one ``.npz`` file, arrays plus a JSON description.

The file holds every parameter (``layers.{i}.{name}``), the optimizer state
(``optimizer.{i}.{name}.{state}``) and, under the key ``xpnet.json``, a JSON document with
the architecture, loss, accuracy, optimizer settings and step count, precision policy and
the random stream's state. Nothing is pickled: ``numpy.load(..., allow_pickle=False)``
reads it, and a model saved on one backend loads on any other. Writes are atomic (a
temporary file renamed over the target), so an interrupted save never leaves a torn file.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .backend import to_numpy
from .errors import ModelFileError
from .nn.layers import Layer
from .nn.losses import Loss
from .nn.metrics import Accuracy
from .nn.optimizers import Optimizer
from .random import Generator

__all__ = ["FORMAT", "VERSION", "SavedModel", "atomic_write_bytes", "read_model_file",
           "save_model"]

FORMAT = "xpnet-model"
VERSION = 1
_META = "xpnet.json"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync'd,
    then renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _describe(obj: Any) -> dict[str, Any]:
    return {"class": type(obj).__name__, "config": obj.get_config()}


def save_model(model: Any, path: str | os.PathLike[str]) -> None:
    """Save ``model`` to ``path`` (``.npz`` is appended if missing)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for i, layer in enumerate(model.layers):
        if type(layer).__name__ not in Layer.registry:
            msg = (f"cannot save layer {layer!r}: only subclasses of xpnet.layers.Layer can "
                   "be saved.")
            raise TypeError(msg)
        layers.append(_describe(layer))
        for name, p in getattr(layer, "params", {}).items():
            arrays[f"layers.{i}.{name}"] = to_numpy(p)
        for name, state in getattr(layer, "optimizer_state", {}).items():
            for key, value in state.items():
                arrays[f"optimizer.{i}.{name}.{key}"] = to_numpy(value)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "backend": model.backend.name,
        "precision": model.precision,
        "dtype": model.dtype,
        "layers": layers,
        "loss": _describe(model.loss) if model.loss is not None else None,
        "accuracy": _describe(model.accuracy) if model.accuracy is not None else None,
        "optimizer": None,
        "rng": model.rng.get_state(),
    }
    if model.optimizer is not None:
        meta["optimizer"] = {
            **_describe(model.optimizer),
            "iterations": model.optimizer.iterations,
            "current_learning_rate": model.optimizer.current_learning_rate,
        }
    arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # (numpy's stub: no key is allow_pickle)
    atomic_write_bytes(path, buffer.getvalue())


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not path.exists():
        msg = f"no model file at {str(path)!r}."
        raise ModelFileError(msg)
    try:
        # open the file ourselves: np.load leaks its handle when the archive is corrupt
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        msg = (
            f"{str(path)!r} is not a readable xpnet model file ({exc}). It may be truncated or "
            "corrupt; save the model again with model.save(path)."
        )
        raise ModelFileError(msg) from exc
    if _META not in arrays:
        msg = (
            f"{str(path)!r} is an .npz file but not one written by xpnet (it has no {_META!r} "
            f"entry; its arrays are {sorted(arrays)[:5]}). Load it with numpy.load instead."
        )
        raise ModelFileError(msg)
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{str(path)!r}: the model description is corrupt ({exc})."
        raise ModelFileError(msg) from exc
    if meta.get("format") != FORMAT:
        msg = f"{str(path)!r} has format {meta.get('format')!r}, expected {FORMAT!r}."
        raise ModelFileError(msg)
    if meta.get("version") != VERSION:
        msg = (
            f"{str(path)!r} was written in xpnet model format version {meta.get('version')}, "
            f"but this xpnet reads version {VERSION}; upgrade xpnet."
        )
        raise ModelFileError(msg)
    return meta, arrays


def _make(registry: dict[str, type], spec: dict[str, Any], what: str, path: Path) -> Any:
    try:
        cls = registry[spec["class"]]
        return cls(**spec["config"])
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"{str(path)!r}: cannot rebuild the {what} {spec!r} ({exc})."
        raise ModelFileError(msg) from exc


@dataclass
class SavedModel:
    """A model file's description (``meta``) and arrays, read and checked by
    :func:`read_model_file`; :meth:`restore` rebuilds the model into a new one."""

    path: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    def restore(self, model: Any) -> None:
        """Add the saved layers (with their parameters and optimizer state) to an empty
        ``model`` and set its loss, optimizer, accuracy and random stream."""
        meta, arrays, path = self.meta, self.arrays, self.path
        rng = Generator(0)
        rng.set_state(meta["rng"])
        model.rng = rng
        b = model.backend
        for i, spec in enumerate(meta["layers"]):
            layer = _make(Layer.registry, spec, "layer", path)
            model.add(layer)
            for name, current in list(getattr(layer, "params", {}).items()):
                key = f"layers.{i}.{name}"
                if key not in arrays:
                    msg = f"{str(path)!r} is missing the array {key!r}; the file is incomplete."
                    raise ModelFileError(msg)
                value = arrays[key]
                if tuple(value.shape) != tuple(current.shape):
                    msg = (
                        f"{str(path)!r}: array {key!r} has shape {value.shape}, but layer {i} "
                        f"({layer!r}) needs {tuple(current.shape)}; the file is corrupt."
                    )
                    raise ModelFileError(msg)
                layer.params[name] = b.asarray(value, dtype=current.dtype)
            state: dict[str, dict[str, Any]] = {}
            prefix = f"optimizer.{i}."
            for key, value in arrays.items():
                if key.startswith(prefix):
                    name, slot = key[len(prefix):].split(".", 1)
                    state.setdefault(name, {})[slot] = b.asarray(value)
            if state:
                layer.optimizer_state = state
        # the rng was advanced by building the layers: restore the saved stream
        rng.set_state(meta["rng"])
        if meta.get("loss"):
            loss = _make(Loss.registry, meta["loss"], "loss", path)
            optimizer = None
            if meta.get("optimizer"):
                optimizer = _make(Optimizer.registry, meta["optimizer"], "optimizer", path)
                optimizer.iterations = int(meta["optimizer"]["iterations"])
                optimizer.current_learning_rate = float(
                    meta["optimizer"]["current_learning_rate"])
            accuracy = None
            if meta.get("accuracy"):
                accuracy = _make(Accuracy.registry, meta["accuracy"], "accuracy", path)
            model.set(loss=loss, optimizer=optimizer, accuracy=accuracy)


def read_model_file(path: str | os.PathLike[str]) -> SavedModel:
    """Read and check a file written by :func:`save_model` (``Model.load`` rebuilds it)."""
    path = Path(path)
    meta, arrays = _read(path)
    return SavedModel(path, meta, arrays)
