"""Saving and loading models: one ``.npz`` file, arrays plus a JSON description.

The file holds every parameter (``layers.{i}.{name}``), the optimizer state
(``optimizer.{i}.{name}.{state}``) and, under the key ``xpnet.json``, a JSON document with
the architecture, loss, accuracy, optimizer settings and step count, precision policy, the
random stream's state, where the dropout masks come from and each Dropout layer's
counter-based stream (its key and how many masks it drew), so that training resumes with the
masks it would have drawn. Nothing is pickled, and a model saved on one backend loads on
any other. Writes are atomic (:func:`xpnet.files.atomic_write_bytes`): an interrupted save never
leaves a torn file, nor, on Linux, a temporary one.

Reading checks the whole file against the format before anything is built or allocated:
each array's header (shape and dtype) against the bytes the archive holds, every key of the
description with its type, the layers' shapes against each other and against the arrays,
the optimizer state against its parameters. Every array must be used. Each problem is one
:class:`~xpnet.errors.ModelFileError` that names the file, the key, what was expected, what
was found, and the fix.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zlib import error as zlib_error

import numpy as np

from . import validate
from .backend import resolve, to_numpy
from .errors import ModelFileError
from .files import atomic_write_bytes
from .nn.layers import Dense, Layer
from .nn.losses import Loss
from .nn.metrics import Accuracy
from .nn.ops import Ops
from .nn.optimizers import Optimizer
from .nn.registry import Registered, init_arguments, is_builtin
from .random import DropoutStream, Generator

__all__ = ["DTYPES", "FORMAT", "PRECISIONS", "VERSION", "SavedModel", "atomic_write_bytes",
           "file_path", "read_model_file", "save_model"]

FORMAT = "xpnet-model"
VERSION = 1
_META = "xpnet.json"
#: Arithmetic policies: the default one, and the book's (``nnfs.init()``'s float64 products,
#: float64 dropout masks, NumPy's sums), which the faithful engine implements.
PRECISIONS = ("default", "nnfs")
#: The dtypes a model's parameters can have.
DTYPES = ("float32", "float64")
#: Where a saved model's dropout masks came from (``Model.dropout_masks``).
MASK_SOURCES = ("host", "counter")


def _describe(obj: Any) -> dict[str, Any]:
    name = type(obj).__name__
    registry = getattr(type(obj), "registry", None)
    if registry is not None and registry.get(name) is not type(obj):
        # the file names classes by name: this one would load as xpnet's class of that name
        msg = (f"cannot save {obj!r}: your class {name} has the name of xpnet's own "
               f"{registry[name].__module__}.{name}, which loading would build instead; "
               "give your class another name.")
        raise TypeError(msg)
    config = obj.get_config()
    if type(obj).get_config is Registered.get_config:  # the default: read from __init__
        missing = init_arguments(obj)[1]
        if missing:
            msg = (f"cannot save {name}: its __init__ takes {', '.join(missing)}, which it does "
                   f"not keep under the same name{'s' if len(missing) > 1 else ''} "
                   f"(self.{missing[0]} = {missing[0]}), so Model.load could not build it "
                   "again as it was. Keep each argument under its own name, or give the class "
                   "a get_config() returning its arguments as a dict.")
            raise TypeError(msg)
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        bad = next((k for k, v in config.items() if not _plain(v)), None)
        if type(obj).get_config is Registered.get_config and bad is not None:
            msg = (f"cannot save {name}: its __init__ argument {bad!r} is read back from "
                   f"self.{bad}, which holds {validate.describe(config[bad])}, no value a "
                   f"model file keeps. Keep the value given to __init__ under that name (an "
                   "array under another, e.g. in self.params), or give the class a "
                   "get_config() returning its arguments as plain values.")
        else:
            msg = (f"cannot save {name}: its config {_short(config)} holds a value a model "
                   f"file cannot keep ({exc}); get_config() must return plain numbers, "
                   "strings, bools, lists and dicts (float(x) of a NumPy number).")
        raise TypeError(msg) from exc
    return {"class": name, "config": config}


def _plain(value: Any) -> bool:
    """Whether JSON keeps ``value`` as it is (no NaN, no NumPy numbers, no arrays)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def file_path(path: Any, call: str, *, example: str = "model.npz",
              reading: bool = False) -> Path:
    """``path`` as the Path of a file for ``call`` to write (or, ``reading``, to read): a
    TypeError for what is no path (a number, None), an IsADirectoryError for a folder, naming
    a file inside it (there, to read one, the files named like ``example``).

    >>> file_path(".", "model.save")
    Traceback (most recent call last):
    ...
    IsADirectoryError: '.' is a folder; give a file path inside it: model.save('model.npz').
    """
    if not isinstance(path, (str, os.PathLike)) or str(path).strip() == "":
        msg = (f"{call} needs a file path (a string or a pathlib.Path), got "
               f"{validate.describe(path)}; e.g. {call}({example!r}).")
        raise TypeError(msg)
    path = Path(path)
    if path.is_dir():
        suffix = Path(example).suffix
        files = sorted(p.name for p in path.glob(f"*{suffix}") if p.is_file()) if reading else []
        there = f" holding {', '.join(files[:5])}{', ...' if len(files) > 5 else ''}" \
            if files else ""
        msg = (f"{str(path)!r} is a folder{there}; give a file path inside it: "
               f"{call}({str(path / (files[0] if files else example))!r}).")
        raise IsADirectoryError(msg)
    return path


def _describe_layer(layer: Layer) -> dict[str, Any]:
    """A layer's class and config, and a Dropout layer's counter-based stream."""
    spec = _describe(layer)
    stream = getattr(layer, "rng", None)
    if isinstance(stream, DropoutStream):
        spec["stream"] = {"key": stream.key, "position": stream.position}
    return spec


def save_model(model: Any, path: str | os.PathLike[str], *, suffix: bool = True) -> None:
    """Save ``model`` to ``path`` (``.npz`` is appended if missing, unless not ``suffix``:
    the book's ``model.save('x.model')`` writes ``x.model``)."""
    path = file_path(path, "model.save")
    if suffix and path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for i, layer in enumerate(model.layers):
        if type(layer).__name__ not in Layer.registry:
            msg = (f"cannot save layer {layer!r}: only subclasses of xpnet.nn.layers.Layer can "
                   "be saved.")
            raise TypeError(msg)
        layers.append(_describe_layer(layer))
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
        "dropout_masks": model.dropout_masks,
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


# -- reading ---------------------------------------------------------------------------------
# A file is read in three passes, each refusing before the next does any work: the archive
# (every member a .npy array whose header agrees with its size), the description (every key
# with its type, the components rebuilt from it, unbuilt), then the arrays against the
# architecture (names, shapes, dtypes; none left over). Only then is any array loaded.

#: Most a deflated member can expand (zlib's limit is about 1032:1).
_MAX_DEFLATE_RATIO = 1100


def _resave(path: Path) -> str:
    return (f"The file is damaged or was not written by xpnet's model.save; save the model "
            f"again with model.save({str(path)!r}) from the program that trained it.")


def _error(path: Path, key: str, expected: str, found: str, fix: str | None = None) -> \
        ModelFileError:
    """The one form of every problem: file, key, what was expected, what was found, fix."""
    return ModelFileError(f"{str(path)!r}: {key} should be {expected}, but the file has "
                          f"{found}. {fix or _resave(path)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class _Header:
    shape: tuple[int, ...]
    dtype: np.dtype
    member: zipfile.ZipInfo


def _read_headers(path: Path, archive: zipfile.ZipFile) -> dict[str, _Header]:
    """Every member's .npy header, checked against the member's size (nothing is loaded)."""
    on_disk = path.stat().st_size
    headers: dict[str, _Header] = {}
    for member in archive.infolist():
        name = member.filename
        key = f"the archive member {name!r}"
        if not name.endswith(".npy"):
            raise _error(path, key, "a .npy array", "another kind of file")
        if name[:-4] in headers:
            raise _error(path, key, "present once", "it twice")
        bound = on_disk if member.compress_type == zipfile.ZIP_STORED else (
            member.compress_size * _MAX_DEFLATE_RATIO)
        if member.file_size > bound:
            raise _error(path, key, f"at most {bound} bytes (what the file can hold)",
                         f"a declared size of {member.file_size} bytes")
        with archive.open(member) as f:
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f".npy format version {version}")
            except ValueError as exc:
                raise _error(path, key, "a .npy header of version 1.0 or 2.0",
                             f"an unreadable one ({exc})") from exc
            start = f.tell()
        if dtype.hasobject:
            raise _error(path, key, "an array of numbers (objects would need unpickling, "
                         "which xpnet never does)", f"dtype {dtype}")
        nbytes = math.prod(shape) * dtype.itemsize
        if start + nbytes != member.file_size:
            raise _error(path, key, f"{nbytes} bytes of data (shape {shape} x {dtype.itemsize}"
                         f" bytes of {dtype})", f"{member.file_size - start} bytes")
        headers[name[:-4]] = _Header(tuple(shape), dtype, member)
    return headers


def _load(archive: zipfile.ZipFile, header: _Header) -> np.ndarray:
    with archive.open(header.member) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


#: The description's keys and their JSON types (None: the key may be null).
_SCHEMA: dict[str, tuple[type, ...]] = {
    "format": (str,), "version": (int,), "backend": (str,), "precision": (str,),
    "dtype": (str,), "layers": (list,), "loss": (dict, type(None)),
    "accuracy": (dict, type(None)), "optimizer": (dict, type(None)), "rng": (dict,),
}
#: Keys a file may lack (files written before they were added).
_OPTIONAL: dict[str, tuple[type, ...]] = {"dropout_masks": (str,)}
_JSON_TYPES = {str: "a string", int: "an integer", float: "a number", list: "a list",
               dict: "an object", type(None): "null"}


def _typed(path: Path, doc: dict[str, Any], key: str, kinds: tuple[type, ...],
           where: str = "") -> Any:
    """``doc[key]``, checked to be present and of one of ``kinds`` (JSON types)."""
    name = f"the key {where + key!r}"
    expected = " or ".join(_JSON_TYPES[k] for k in kinds)
    if key not in doc:
        raise _error(path, name, expected, "no such key")
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _error(path, name, expected, f"{_short(value)} ({type(value).__name__})")
    return value


def _read_description(path: Path, archive: zipfile.ZipFile,
                      headers: dict[str, _Header]) -> dict[str, Any]:
    if _META not in headers:
        msg = (f"{str(path)!r} is an .npz file but not one written by xpnet (it has no {_META!r}"
               f" entry; its arrays are {sorted(headers)[:5]}). Load it with "
               f"numpy.load({str(path)!r}) instead.")
        raise ModelFileError(msg)
    header = headers.pop(_META)
    if header.dtype != np.uint8 or len(header.shape) != 1:
        raise _error(path, f"the array {_META!r}", "UTF-8 bytes (a 1-D uint8 array)",
                     f"dtype {header.dtype}, shape {header.shape}")
    try:
        meta = json.loads(_load(archive, header).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _error(path, f"the array {_META!r}", "a JSON document",
                     f"unreadable text ({exc})") from exc
    if not isinstance(meta, dict):
        raise _error(path, f"the array {_META!r}", "a JSON object", type(meta).__name__)
    if meta.get("format") != FORMAT:
        raise _error(path, "the key 'format'", repr(FORMAT), _short(meta.get("format")),
                     f"Only files written by xpnet's model.save load; read it with "
                     f"numpy.load({str(path)!r}) instead.")
    if meta.get("version") != VERSION:
        raise _error(path, "the key 'version'", f"{VERSION} (the format this xpnet reads)",
                     _short(meta.get("version")),
                     "Upgrade xpnet to read it: pip install --upgrade xpnet.")
    for key, kinds in _SCHEMA.items():
        _typed(path, meta, key, kinds)
    for key, kinds in _OPTIONAL.items():
        if key in meta:
            _typed(path, meta, key, kinds)
    extra = sorted(set(meta) - set(_SCHEMA) - set(_OPTIONAL))
    if extra:
        raise _error(path, "the description",
                     f"only the keys {sorted(_SCHEMA)} and {sorted(_OPTIONAL)}",
                     f"also {extra}")
    for key, allowed in (("precision", PRECISIONS), ("dtype", DTYPES),
                         ("dropout_masks", MASK_SOURCES)):
        if key in meta and meta[key] not in allowed:
            raise _error(path, f"the key {key!r}", f"one of {list(allowed)}",
                         _short(meta[key]))
    if meta["precision"] == "nnfs" and meta.get("dropout_masks") == "counter":
        raise _error(path, "the key 'dropout_masks'", "'host' in faithful mode (precision "
                     "'nnfs' draws the book's masks from the host stream)", "'counter'")
    try:
        Generator(0).set_state(meta["rng"])
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise _error(path, "the key 'rng'", "a random stream's state (Generator.get_state())",
                     f"{_short(meta['rng'])} ({type(exc).__name__}: {exc})") from exc
    return meta


def _make(path: Path, registry: dict[str, type], spec: dict[str, Any], where: str,
          extra: tuple[str, ...] = ()) -> Any:
    """The unbuilt component that ``spec`` (``{"class", "config"}``) describes."""
    name = _typed(path, spec, "class", (str,), where)
    config = _typed(path, spec, "config", (dict,), where)
    unknown = sorted(set(spec) - {"class", "config", *extra})
    if unknown:
        raise _error(path, f"the key {where.rstrip('.')!r}",
                     f"only the keys {['class', 'config', *extra]}",
                     f"also {unknown}")
    if name not in registry:
        raise _error(path, f"the key {where + 'class'!r}", f"one of {sorted(registry)}",
                     repr(name), f"If {name} is your own class, import the module that "
                     "defines it before Model.load; else save the model again.")
    try:
        return registry[name](**config)
    except (TypeError, ValueError) as exc:
        fix = None if is_builtin(registry[name]) else (
            f"{name} is your own class: its __init__ must take what its get_config() returns "
            "(the arguments it was built with); make the two agree, then save the model again.")
        raise _error(path, f"the key {where + 'config'!r}", f"the arguments of {name}",
                     f"{_short(config)} ({exc})", fix) from exc


@dataclass
class SavedModel:
    """A model file, read and checked by :func:`read_model_file`: its description
    (``meta``), its arrays, and its components, unbuilt; :meth:`restore` builds them into
    a new model."""

    path: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]
    layers: list[Layer]
    loss: Loss | None
    optimizer: Optimizer | None
    accuracy: Accuracy | None

    def restore(self, model: Any) -> None:
        """Add the saved layers (with their parameters and optimizer state) to an empty
        ``model`` and set its loss, optimizer, accuracy and random stream."""
        rng = Generator(0)
        rng.set_state(self.meta["rng"])
        model.rng = rng
        b = model.backend
        for i, layer in enumerate(self.layers):
            model.add(layer)
            for name, current in list(layer.params.items()):
                layer.params[name] = b.asarray(self.arrays[f"layers.{i}.{name}"],
                                               dtype=current.dtype)
            state: dict[str, dict[str, Any]] = {}
            prefix = f"optimizer.{i}."
            for key, value in self.arrays.items():
                if key.startswith(prefix):
                    name, slot = key[len(prefix):].split(".", 1)
                    state.setdefault(name, {})[slot] = b.asarray(value)
            if state:
                layer.optimizer_state = state  # type: ignore[attr-defined]
            saved = self.meta["layers"][i].get("stream")
            stream = getattr(layer, "rng", None)
            if saved is not None and isinstance(stream, DropoutStream):
                stream.key, stream.position = saved["key"], saved["position"]
        # the rng was advanced by building the layers: restore the saved stream (keeping the
        # count of counter-based keys its Dropout layers took, so that no later layer of
        # this model repeats one)
        taken = rng.get_state()["counter_keys"]
        rng.set_state({**self.meta["rng"], "counter_keys": taken})
        if self.loss is not None:
            model.set(loss=self.loss, optimizer=self.optimizer, accuracy=self.accuracy)


def _components(path: Path, meta: dict[str, Any]) -> tuple[list[Layer], Any, Any, Any]:
    layers = []
    for i, spec in enumerate(meta["layers"]):
        if not isinstance(spec, dict):
            raise _error(path, f"the key 'layers[{i}]'", "an object {'class', 'config'}",
                         _short(spec))
        layers.append(_make(path, Layer.registry, spec, f"layers[{i}].", ("stream",)))
        if "stream" in spec:
            _check_stream(path, spec["stream"], f"layers[{i}].stream")
    loss = accuracy = optimizer = None
    if meta["loss"] is not None:
        loss = _make(path, Loss.registry, meta["loss"], "loss.")
    if meta["accuracy"] is not None:
        accuracy = _make(path, Accuracy.registry, meta["accuracy"], "accuracy.")
    spec = meta["optimizer"]
    if spec is not None:
        if loss is None:
            raise _error(path, "the key 'optimizer'", "null when 'loss' is null (a model "
                         "without a loss has no optimizer)", _short(spec))
        optimizer = _make(path, Optimizer.registry, spec, "optimizer.",
                          ("iterations", "current_learning_rate"))
        iterations = _typed(path, spec, "iterations", (int,), "optimizer.")
        lr = _typed(path, spec, "current_learning_rate", (int, float), "optimizer.")
        if iterations < 0:
            raise _error(path, "the key 'optimizer.iterations'", "a count >= 0", str(iterations))
        if not (math.isfinite(lr) and lr >= 0):
            raise _error(path, "the key 'optimizer.current_learning_rate'",
                         "a finite number >= 0", repr(lr))
        optimizer.iterations, optimizer.current_learning_rate = iterations, float(lr)
    return layers, loss, optimizer, accuracy


def _check_stream(path: Path, stream: Any, where: str) -> None:
    """A Dropout layer's counter-based stream: ``{"key", "position"}``, a 64-bit key and a
    count of masks drawn."""
    expected = "an object {'key': a 64-bit key, 'position': masks drawn, >= 0}"
    if not isinstance(stream, dict) or set(stream) != {"key", "position"}:
        raise _error(path, f"the key {where!r}", expected, _short(stream))
    for name, bound in (("key", 2**64), ("position", 2**63)):
        value = _typed(path, stream, name, (int,), f"{where}.")
        if not 0 <= value < bound:
            raise _error(path, f"the key {where + '.' + name!r}", f"an integer in [0, {bound})",
                         _short(value))


def _parameter_shapes(layer: Layer, dtype: str) -> dict[str, tuple[int, ...]]:
    """The shape of each parameter ``layer`` will have once built, without building it
    (a Dense's arrays can be large), or, for another class, from a built copy."""
    if type(layer) is Dense:
        return {"W": (layer.n_in, layer.n_out), "b": (1, layer.n_out)}
    probe = type(layer)(**layer.get_config())
    probe.build(Ops(resolve("numpy")), Generator(0), dtype)
    return {name: tuple(p.shape) for name, p in probe.params.items()}


def _check_arrays(path: Path, meta: dict[str, Any], layers: list[Layer],
                  optimizer: Optimizer | None, headers: dict[str, _Header]) -> None:
    """Every array named, shaped and typed as the architecture needs; none left over."""
    unused = dict(headers)
    width = None  # the features flowing out of the last layer, when known
    for i, layer in enumerate(layers):
        if isinstance(layer, Dense):
            if width is not None and layer.n_in != width:
                raise _error(path, f"the key 'layers[{i}].config.n_in'", f"{width} (the width "
                             "of the previous Dense layer's output)", str(layer.n_in))
            width = layer.n_out
        elif not type(layer).__module__.startswith("xpnet."):
            width = None  # a user's layer may change the width
        shapes = _parameter_shapes(layer, meta["dtype"])
        for name, shape in shapes.items():
            key = f"layers.{i}.{name}"
            header = unused.pop(key, None)
            if header is None:
                raise _error(path, f"the array {key!r}", f"present, shape {shape} (parameter "
                             f"{name} of {layer!r})", "no such array")
            _check_array(path, key, header, shape, f"parameter {name} of {layer!r}",
                         (meta["dtype"],))
            names = optimizer.state_names if optimizer is not None else ()
            state_keys = [f"optimizer.{i}.{name}.{slot}" for slot in names]
            present = [k for k in state_keys if k in unused]
            missing = [k for k in state_keys if k not in unused]
            if present and missing:
                raise _error(path, f"the array {missing[0]!r}", "present (the optimizer "
                             f"keeps {list(names)} for each parameter, all or none)",
                             "no such array")
            for slot, state_key in zip(names, present, strict=False):
                _check_array(path, state_key, unused.pop(state_key), shape,
                             f"{type(optimizer).__name__} state {slot!r} of {key}", DTYPES)
    if unused:
        key = sorted(unused)[0]
        found = f"an array {key!r} that the model does not use"
        if key.startswith("layers."):
            found += f" (the description lists {len(layers)} layers: is its list cut short?)"
        elif key.startswith("optimizer.") and optimizer is not None:
            found += (f" ({type(optimizer).__name__}'s state is "
                      f"{list(optimizer.state_names)} per parameter)")
        raise _error(path, "every array", "used by the model it describes", found)


def _check_array(path: Path, key: str, header: _Header, shape: tuple[int, ...],
                 what: str, dtypes: tuple[str, ...]) -> None:
    """An array of ``shape`` and one of ``dtypes``: a parameter has the model's (as
    ``model.save`` writes it; float16 would have been cast up silently, its precision
    lost), an optimizer's state float32 or float64 (faithful mode keeps some in float64)."""
    if header.shape != shape:
        raise _error(path, f"the array {key!r}", f"of shape {shape} ({what})",
                     f"shape {header.shape}")
    if header.dtype.name not in dtypes:
        expected = (f"of dtype {dtypes[0]} (the model's dtype, as model.save writes it)"
                    if len(dtypes) == 1 else f"of dtype {' or '.join(dtypes)}")
        raise _error(path, f"the array {key!r}", expected, f"dtype {header.dtype}")


def _check_squares(path: Path, key: str, value: np.ndarray,
                   optimizer: Optimizer | None) -> None:
    """Refuse negative values in an optimizer state that sums squared gradients (Adam's
    ``v``, Adagrad's and RMSprop's ``cache``): the next step takes its square root, NaN."""
    prefix, _, slot = key.rpartition(".")
    if optimizer is None or not prefix.startswith("optimizer.") or \
            slot not in optimizer.squares or not (value < 0).any():
        return
    raise _error(path, f"the array {key!r}", f"numbers >= 0 ({type(optimizer).__name__}'s "
                 f"{slot!r} sums squared gradients; the next step takes its square root)",
                 f"{int((value < 0).sum())} negative values (the smallest {value.min():.4g})")


def _other_kind(path: Path) -> str:
    """What the file at ``path`` is, from its first bytes, when it is plainly no zip archive
    (an empty file, a single NumPy array, text): "" otherwise (truncated or corrupt)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return ""
    if not head:
        return "empty (0 bytes)"
    if head.startswith(b"\x93NUMPY"):
        return "a single NumPy array (.npy, numpy.save's format: load it with numpy.load)"
    if head.startswith(b"PK"):
        return ""  # an archive, cut short or damaged
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    return "a text file" if all(c.isprintable() or c.isspace() for c in text) else ""


def is_pickle(path: str | os.PathLike[str]) -> bool:
    """Whether the file ``path`` starts as a pickle of protocol 2 or later does (``0x80``, then
    the protocol's number); read, never unpickled."""
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def pickle_refused(path: str | os.PathLike[str], save: str) -> ModelFileError:
    """The error for a pickle given where xpnet reads its own files (``save``: the call that
    writes one of those)."""
    msg = (f"{os.fspath(path)!r} is a pickle (the book's own code writes them): xpnet never "
           f"reads pickles, since loading one runs code from the file. Write the file with "
           f"xpnet ({save}, an .npz), then load that.")
    return ModelFileError(msg)


def read_model_file(path: str | os.PathLike[str]) -> SavedModel:
    """Read and check a file written by :func:`save_model` (``Model.load`` builds it).

    Raises
    ------
    ModelFileError
        When the file is missing, not an xpnet model file, or breaks the format anywhere
        (the message names the key, what was expected, what was found and the fix).
    """
    path = file_path(path, "Model.load", reading=True)
    appended = path.with_name(path.name + ".npz")  # model.save appends it
    if path.suffix != ".npz" and appended.is_file() and not (
            path.is_file() and zipfile.is_zipfile(path)):
        path = appended  # (a file at the very path may be the book's pickle of that name)
    if not path.is_file():
        msg = (f"no model file at {str(path)!r}. Check the path, or write one with "
               f"model.save({str(path)!r}).")
        raise ModelFileError(msg)
    try:
        # open the file ourselves: zipfile keeps no handle when the archive is corrupt
        with path.open("rb") as fh, zipfile.ZipFile(fh) as archive:
            headers = _read_headers(path, archive)
            meta = _read_description(path, archive, headers)
            layers, loss, optimizer, accuracy = _components(path, meta)
            _check_arrays(path, meta, layers, optimizer, headers)
            arrays = {key: _load(archive, h) for key, h in headers.items()}
            for key, value in arrays.items():  # (optimizer state too: NaN there is NaN next)
                if not np.isfinite(value).all():
                    raise _error(path, f"the array {key!r}", "finite numbers",
                                 f"{int((~np.isfinite(value)).sum())} NaN or infinite "
                                 "values (saved after training diverged?)",
                                 "Train again with a smaller learning rate and save then.")
                _check_squares(path, key, value, optimizer)
    except PermissionError as exc:
        msg = (f"cannot read the model file {str(path)!r}: permission denied. Give this user "
               f"read access (chmod u+r {str(path)!r}) or copy the file somewhere readable.")
        raise ModelFileError(msg) from exc
    except (zipfile.BadZipFile, EOFError, OSError, zlib_error) as exc:
        if is_pickle(path):
            raise pickle_refused(path, "model.save(path)") from exc
        kind = _other_kind(path)
        if kind:
            msg = (f"{str(path)!r} is {kind}, not an xpnet model file (the .npz archive "
                   "model.save writes). Give the path of a file written by model.save.")
            raise ModelFileError(msg) from exc
        msg = (
            f"{str(path)!r} is not a readable xpnet model file ({exc}). It may be truncated or "
            f"corrupt; save the model again with model.save({str(path)!r})."
        )
        raise ModelFileError(msg) from exc
    return SavedModel(path, meta, arrays, layers, loss, optimizer, accuracy)
