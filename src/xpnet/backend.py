"""Array backends: the only module that knows library names.

Everything else in xpnet receives a :class:`Backend` (an Array API namespace ``xp``, a
device and a name) and writes its maths against ``xp``. Resolving happens once, at the
public boundary (a model, a dataset call), never per element.

Resolving ``"jax"`` turns on JAX's 64-bit mode (``jax_enable_x64``) for the whole process:
without it JAX silently creates float32 arrays when float64 is asked for, and gradient
checks and faithful mode need float64. xpnet passes ``dtype=`` to every array it creates,
so its float32 training is unchanged; your own JAX code that relies on JAX's 32-bit
default dtypes will get 64-bit ones.

>>> b = resolve("numpy")
>>> b.name, b.xp.__name__
('numpy', 'array_api_compat.numpy')
>>> x = b.asarray([[1.0, 2.0]], dtype=b.xp.float32)
>>> to_numpy(x).dtype
dtype('float32')
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

from . import validate
from .errors import BackendError

__all__ = ["BACKENDS", "Backend", "available", "backend_of", "resolve", "same_device",
           "to_numpy"]

#: Backend names accepted by ``backend=`` everywhere in xpnet.
BACKENDS = ("numpy", "array_api_strict", "torch", "cupy", "jax")

_INSTALL_HINT = {
    "numpy": "pip install numpy",
    "array_api_strict": "pip install 'xpnet[strict]'",
    "torch": ("pip install torch --index-url https://download.pytorch.org/whl/cpu (the CPU "
              "build; a plain pip install torch picks the CUDA build on Linux, gigabytes)"),
    "cupy": "pip install 'xpnet[cupy-cuda12]' (or cupy-cuda13) on a machine with a CUDA GPU",
    "jax": "pip install 'xpnet[jax]'",
}


@dataclass(frozen=True)
class Backend:
    """An Array API namespace together with the device arrays are allocated on.

    Parameters
    ----------
    xp : module
        An Array API compatible namespace (as returned by ``array_api_compat``).
    name : str
        One of :data:`BACKENDS`.
    device : object
        The device new arrays are created on (``"cpu"``, a CUDA device, a JAX device...).
    """

    xp: ModuleType
    name: str
    device: Any

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, device={self.device!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> Backend:
        return self  # immutable, and modules cannot be copied: copies of layers share it

    def __reduce_ex__(self, protocol: Any) -> Any:
        # reached by pickling anything that computes (a layer, a model): said plainly, in
        # place of pickle's "cannot pickle 'module' object"
        msg = (f"xpnet's objects are not pickled: they hold an array library ({self!r}), and "
               "a pickle runs code when it is loaded. Save a model with model.save(path) "
               "(xpnet.book's Model too) and its parameters with model.save_parameters(path) "
               "or get_parameters(): .npz files.")
        raise TypeError(msg)

    # -- moving data in and out -------------------------------------------------
    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """Copy host data (a NumPy array, list or scalar) onto this backend's device.

        An array that already belongs to this backend is returned as is (cast if
        ``dtype`` differs; a PyTorch tensor that requires grad, detached); an array of
        another backend raises :class:`BackendError`.
        """
        if self.is_array(x):
            if self.name == "torch" and x.requires_grad:
                # xpnet computes its own gradients: autograd would record every step and
                # warn when a metric is read (a graph of the data's own, never used)
                x = x.detach()
            if dtype is not None and x.dtype != dtype:
                return self.xp.astype(x, dtype)
            return x
        if array_api_compat.is_array_api_obj(x) and not isinstance(x, np.ndarray):
            msg = (
                f"expected a host (NumPy) array or an array of backend {self.name!r}, "
                f"got {_describe(x)}. Convert it with xpnet.backend.to_numpy(x) first."
            )
            raise BackendError(msg)
        if self.name == "torch" and isinstance(x, np.ndarray):
            # torch.asarray cannot take non-writeable or negatively strided NumPy arrays.
            x = np.ascontiguousarray(x)
        return self.xp.asarray(x, dtype=dtype, device=self.device)

    def is_array(self, x: Any) -> bool:
        """True when ``x`` is an array of this backend on this backend's device."""
        if type(x) is np.ndarray:  # the common case, answered without a namespace lookup
            return self.name == "numpy"
        if not array_api_compat.is_array_api_obj(x):
            return False
        try:
            xp = array_api_compat.array_namespace(x)
        except TypeError:
            return False
        return xp is self.xp and same_device(array_api_compat.device(x), self.device)

    def check(self, x: Any, what: str, *, owner: str = "this model") -> None:
        """Raise a clear :class:`BackendError` unless ``x`` lives on this backend (the
        backend of ``owner``)."""
        if self.is_array(x):
            return
        if not array_api_compat.is_array_api_obj(x):
            msg = (
                f"{what} must be an array of backend {self.name!r}, got {type(x).__name__}. "
                f"Create it with xpnet.datasets.spiral(..., backend={self.name!r}) or convert "
                f"it with xpnet.backend.resolve({self.name!r}).asarray(x)."
            )
            raise BackendError(msg)
        here = repr(self.name)
        if self.name == "torch" and str(self.device) != "cpu":
            here += f", device={str(self.device)!r}"
        msg = (
            f"{what} is {_describe(x)}, but {owner} runs on {self!r}. Arrays of two "
            f"backends or devices cannot be mixed: create the data with backend={self.name!r} "
            f"or move it with xpnet.backend.resolve({here})"
            ".asarray(xpnet.backend.to_numpy(x))."
        )
        raise BackendError(msg)

    def synchronize(self, *arrays: Any) -> None:
        """Wait until queued device work is done (for honest timings on GPUs).

        Parameters
        ----------
        *arrays : arrays, optional
            Results to wait for. CuPy and PyTorch wait for the whole device and ignore
            them. JAX dispatches asynchronously (on CPU too) and has no device-wide wait:
            it waits for the given arrays only (``jax.block_until_ready``), and with none
            given this is a no-op; reading a value back (``float(loss)``,
            :func:`to_numpy`) waits for the work that produced it anyway.
        """
        if self.name == "cupy":
            import cupy

            cupy.cuda.get_current_stream().synchronize()
        elif self.name == "torch" and getattr(self.device, "type", "cpu") == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        elif self.name == "jax" and arrays:
            import jax

            jax.block_until_ready(arrays)

    def quiet_float_errors(self) -> contextlib.AbstractContextManager[Any]:
        """Silence overflow/invalid warnings while training: xpnet checks the loss itself
        and raises :class:`~xpnet.errors.DivergenceError` naming the epoch instead."""
        if self.name in ("numpy", "array_api_strict"):
            return np.errstate(over="ignore", invalid="ignore", divide="ignore")
        return contextlib.nullcontext()

    @property
    def native(self) -> ModuleType | None:
        """The array library itself (``numpy``, ``cupy``) when its functions write into an
        existing array with ``out=`` (the in-place engines need it); None elsewhere (JAX's
        arrays cannot be written into at all; torch and array-api-strict run the plain
        engine)."""
        if self.name in ("numpy", "cupy"):
            return importlib.import_module(self.name)
        return None

    @property
    def has_float64(self) -> bool:
        """Whether the device supports float64 (Apple MPS, for one, does not)."""
        info = getattr(self.xp, "__array_namespace_info__", None)
        if info is None:
            return True
        return "float64" in info().dtypes(device=self.device)


def same_device(a: Any, b: Any) -> bool:
    """Whether two devices are the same one, compared by equivalence: ``"cuda"`` is
    ``cuda:0`` (PyTorch's ``torch.device("cuda")`` too), ``"CPU"`` is ``"cpu"``, and
    ``"cpu"`` is JAX's ``CpuDevice(id=0)`` (whose ``str`` is ``cpu:0``).

    >>> same_device("cuda", "cuda:0"), same_device("cpu", "CPU:0"), same_device("cuda:0", "cuda:1")
    (True, True, False)

    CuPy's ``Device(1)`` (whose ``str`` is ``<CUDA Device 1>``) is ``"cuda:1"``.
    """
    return a == b or _device_key(a) == _device_key(b)


def _device_key(device: Any) -> str:
    """``"type:index"``, the index 0 when the device names none (the first, the default)."""
    if type(device).__module__.startswith("cupy") and isinstance(getattr(device, "id", None),
                                                                 int):
        return f"cuda:{device.id}"
    key = str(device).strip().lower().replace(" ", "")
    return key if ":" in key else f"{key}:0"


def _cupy_device(lib: ModuleType, device: Any) -> Any:
    """CuPy's ``Device`` for ``device``: a ``Device`` itself, its index, or ``"cuda"``,
    ``"cuda:N"``, ``"gpu:N"`` (anything whose name says so, PyTorch's ``torch.device`` too).
    CuPy takes only its own: its ``asarray`` makes ``Device("cuda")`` (an error), and its
    arrays' ``Device(0)`` is not the string ``"cuda:0"``."""
    if isinstance(device, lib.cuda.Device):
        return device
    if isinstance(device, int) and not isinstance(device, bool):
        index = device
    else:
        kind, _, number = _device_key(device).partition(":")
        if kind not in ("cuda", "gpu") or not number.isdigit():
            msg = "not a CUDA device"
            raise ValueError(msg)
        index = int(number)
    if not 0 <= index < lib.cuda.runtime.getDeviceCount():
        msg = f"no CUDA device {index}"
        raise ValueError(msg)
    return lib.cuda.Device(index)


def _describe(x: Any) -> str:
    try:
        xp = array_api_compat.array_namespace(x)
        name = _name_of(xp)
        return f"an array of backend {name!r} on device {array_api_compat.device(x)!r}"
    except TypeError:
        return f"an object of type {type(x).__name__}"


def _name_of(xp: ModuleType) -> str:
    if array_api_compat.is_numpy_namespace(xp):
        return "numpy"
    if array_api_compat.is_cupy_namespace(xp):
        return "cupy"
    if array_api_compat.is_torch_namespace(xp):
        return "torch"
    if array_api_compat.is_array_api_strict_namespace(xp):
        return "array_api_strict"
    if array_api_compat.is_jax_namespace(xp):
        return "jax"
    return getattr(xp, "__name__", repr(xp))


#: JAX's GPU client takes 75% of the GPU's memory when it starts unless told not to; it
#: starts with the first device lookup, the CPU's included (``jax.devices("cpu")`` starts
#: every platform), so that ``resolve("jax")``, whose default device is the CPU, would
#: hold most of a GPU that CuPy and PyTorch in the same process then lack. xpnet sets this
#: (unless it is set) before JAX starts: JAX then allocates as it needs.
JAX_GPU_MEMORY = ("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def _import(name: str) -> ModuleType:
    module = {"array_api_strict": "array_api_strict", "jax": "jax.numpy"}.get(name, name)
    try:
        return importlib.import_module(module)
    except Exception as exc:  # CuPy without its CUDA libraries fails with other errors too
        msg = f"backend {name!r} is not installed ({exc}). Install it with: {_INSTALL_HINT[name]}."
        raise BackendError(msg) from exc


def _enable_x64() -> None:
    """Turn on JAX's float64 (off by default, when ``float64`` quietly gives float32).

    Process-wide and set before xpnet creates a JAX array; arrays created earlier keep
    their dtypes. Gradient checks run in float64 and faithful mode multiplies in float64.
    """
    os.environ.setdefault(*JAX_GPU_MEMORY)  # before JAX starts its devices (the probe)
    jax = importlib.import_module("jax")
    if not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)


def _jax_device(device: Any) -> Any:
    """A JAX device from ``"cpu"``, ``"cpu:1"``, ``"gpu"`` ... or a JAX device itself."""
    if not isinstance(device, str):
        return device
    platform, _, index = device.partition(":")
    try:
        return importlib.import_module("jax").devices(platform)[int(index or 0)]
    except (RuntimeError, IndexError, ValueError) as exc:
        msg = (f"backend 'jax' has no device {device!r} ({exc}). Pass a device JAX lists, "
               "e.g. device='cpu' or one of jax.devices().")
        raise BackendError(msg) from exc


def _default_device(name: str, lib: ModuleType) -> Any:
    if name == "numpy":
        return "cpu"
    if name == "torch":
        return lib.device("cpu")
    if name == "cupy":
        try:
            lib.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError has no stable public import path
            msg = f"backend 'cupy' needs a CUDA GPU, but none could be used: {exc}"
            raise BackendError(msg) from exc
        return lib.cuda.Device()
    if name == "jax":
        # jax.numpy's namespace info has no default device (it says None): take the first
        # CPU device, as PyTorch's default is its CPU (pass device="gpu" for a GPU)
        return _jax_device("cpu")
    return lib.__array_namespace_info__().default_device()


def resolve(backend: str | ModuleType | Backend | None = None, device: Any = None) -> Backend:
    """Turn ``"numpy"``, ``"cupy"``, ``"torch"``, ``"array_api_strict"``, ``"jax"`` or a
    namespace into a :class:`Backend`.

    Parameters
    ----------
    backend : str, module, Backend or None
        A name from :data:`BACKENDS`, an array namespace (``numpy``, ``torch``,
        ``array_api_strict``, ``jax.numpy``...), or a ``Backend`` (returned unchanged).
        ``None`` means NumPy.
    device : optional
        The device to allocate on; the library's default device when omitted
        (``"cuda"`` strings are accepted for PyTorch, and ``"cuda"``, ``"cuda:N"`` or an
        index for CuPy, which are made CuPy's ``Device``; for JAX the first CPU device, and
        strings such as ``"cpu"`` or ``"gpu:0"`` are accepted).

    Notes
    -----
    Resolving ``"jax"`` (or ``jax.numpy``) enables JAX's 64-bit mode process-wide
    (``jax.config.update("jax_enable_x64", True)``), which float64 needs.
    """
    if isinstance(backend, Backend):
        if device is None:
            return backend
        if backend.name == "jax":
            device = _jax_device(device)
        elif backend.name == "cupy":
            device = _checked_device("cupy", _import("cupy"), backend.xp, device)
        return Backend(backend.xp, backend.name, device)
    if backend is None:
        backend = "numpy"
    if not isinstance(backend, (str, ModuleType)) and not hasattr(backend, "asarray"):
        msg = (f"backend must be a name ({', '.join(map(repr, BACKENDS))}), an array namespace "
               f"or a Backend, got {validate.describe(backend)}; e.g. "
               "backend='numpy'.")
        raise BackendError(msg)
    if isinstance(backend, str):
        name = backend.replace("-", "_").lower()
        if name == "strict":
            name = "array_api_strict"
        if name not in BACKENDS:
            msg = f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}."
            raise BackendError(msg)
        lib = _import(name)
        if name == "cupy":
            # ask for a GPU before touching one: CuPy imports fine on machines without
            default = _default_device(name, lib)
            device = default if device is None else device
    else:
        lib = backend
        name = _name_of(lib)
        if name not in BACKENDS:
            # Any other Array API namespace: trust it, and name it by its module.
            return Backend(lib, name, device)
    if name == "jax":
        _enable_x64()  # before the probe, so no JAX array of xpnet's predates it
    try:
        xp = array_api_compat.array_namespace(_probe(name, lib))
    except Exception as exc:
        msg = f"backend {name!r} is installed but cannot create arrays here: {exc}"
        raise BackendError(msg) from exc
    if device is None:
        device = _default_device(name, lib)
    elif name == "jax":
        device = _jax_device(device)
    elif name in ("numpy", "torch", "array_api_strict", "cupy"):
        device = _checked_device(name, lib, xp, device)
    return Backend(xp, name, device)


def _checked_device(name: str, lib: ModuleType, xp: Any, device: Any) -> Any:
    """``device`` as ``lib`` names it, once an array could be made on it; else a
    BackendError that lists the backend's devices here."""
    given = device
    if name == "numpy" and same_device(device, "cpu"):
        return "cpu"  # "CPU", "cpu:0": NumPy's one device, as NumPy names it
    try:
        if name == "torch" and isinstance(device, (str, int)) and not isinstance(device, bool):
            device = lib.device(device)
        if name == "cupy":
            device = _cupy_device(lib, device)
        probe = xp.zeros((1,), device=device)
        if name == "torch":
            # the device its arrays report: torch.device("cuda") (the current GPU) and the
            # ordinal 0 (the current accelerator's first) are cuda:0 there, so that the
            # model's own arrays are its own (is_array) and synchronize() knows a GPU
            device = probe.device
    except Exception as exc:  # each library words (and types) the refusal its own way
        if name == "torch":
            listed = ["cpu", *(f"cuda:{i}" for i in range(lib.cuda.device_count()))]
        elif name == "cupy":
            listed = [f"cuda:{i}" for i in range(lib.cuda.runtime.getDeviceCount())]
        else:
            listed = [str(d) for d in xp.__array_namespace_info__().devices()]
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if len(why) > 120:  # cut at a word, and say so
            why = why[:120].rsplit(" ", 1)[0] + " ..."
        gpu = ("" if any("cuda" in d for d in listed) else
               " For a GPU: backend='cupy', or PyTorch's CUDA build with device='cuda'.")
        msg = (f"backend {name!r} has no device {given!r} here ({why}). Its devices here: "
               f"{', '.join(map(repr, listed))}; pass one of them, or leave device out for "
               f"the default.{gpu}")
        raise BackendError(msg) from exc
    return device


def _probe(name: str, lib: ModuleType) -> Any:
    """A tiny array of ``lib``, from which array_api_compat finds the wrapped namespace."""
    if name == "torch":
        return lib.zeros(1)
    if name == "cupy":
        return lib.zeros(1)
    return lib.asarray([0.0])


def backend_of(x: Any) -> Backend:
    """The :class:`Backend` an array belongs to."""
    if type(x) is np.ndarray:  # the common case, answered without a namespace lookup
        return _numpy_backend()
    try:
        xp = array_api_compat.array_namespace(x)
    except TypeError as exc:
        msg = (f"expected an array (NumPy, CuPy, PyTorch, JAX or array-api-strict), got "
               f"{type(x).__name__}. Convert it first, e.g. numpy.asarray(data, "
               f"dtype=numpy.float32) for inputs or numpy.asarray(labels) for class labels.")
        raise BackendError(msg) from exc
    return Backend(xp, _name_of(xp), array_api_compat.device(x))


@functools.cache
def _numpy_backend() -> Backend:
    """NumPy's backend, as :func:`backend_of` gives it for any NumPy array."""
    xp = array_api_compat.array_namespace(np.empty(0))
    return Backend(xp, _name_of(xp), array_api_compat.device(np.empty(0)))


def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any backend to a NumPy array on the host."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (int, float, bool, np.generic)):
        return np.asarray(x)
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_jax_array(x):
        return np.array(x)  # a writeable copy (np.asarray gives a read-only view on CPU)
    if array_api_compat.is_array_api_obj(x):
        try:
            return np.from_dlpack(x)
        except (TypeError, RuntimeError, BufferError):
            return np.asarray(x)
    return np.asarray(x)


def available() -> list[str]:
    """Names of the backends that can be used on this machine (CuPy only with a GPU)."""
    names = []
    for name in BACKENDS:
        try:
            resolve(name)
        except BackendError:
            continue
        names.append(name)
    return names
