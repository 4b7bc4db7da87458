"""Backend resolution, conversion, device checks, and what importing xpnet imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from xpnet.backend import available, backend_of, resolve, to_numpy
from xpnet.errors import BackendError


def test_resolve_names_namespaces_and_backends(backend):
    again = resolve(backend.name)
    assert again.xp is backend.xp and again.name == backend.name
    assert resolve(backend) is backend
    x = backend.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert backend.is_array(x)
    assert backend_of(x).name == backend.name
    np.testing.assert_array_equal(to_numpy(x), np.arange(6).reshape(2, 3))
    assert backend.name in available()


def test_unknown_and_missing_backends_say_how_to_fix():
    with pytest.raises(BackendError, match="unknown backend 'jax2'; expected one of numpy"):
        resolve("jax2")
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(BackendError, match=r"pip install 'xpnet\[cupy-cuda12\]'"):
            resolve("cupy")


def test_check_rejects_other_backends_and_non_arrays():
    pytest.importorskip("array_api_strict")
    strict = resolve("array_api_strict")
    with pytest.raises(BackendError, match="Arrays of two backends or devices cannot be mixed"):
        strict.check(np.zeros(3), "X")
    with pytest.raises(BackendError, match="an array of backend 'array_api_strict', got list"):
        strict.check([1, 2], "X")
    other_device = strict.xp.asarray([1.0], device=strict.xp.Device("device1"))
    with pytest.raises(BackendError, match="device"):
        strict.check(other_device, "X")


def test_asarray_refuses_foreign_device_arrays():
    pytest.importorskip("array_api_strict")
    x = resolve("array_api_strict").asarray(np.ones(2))
    with pytest.raises(BackendError, match="to_numpy"):
        resolve("numpy").asarray(x)


def test_importing_xpnet_imports_no_optional_backend():
    code = ("import sys, xpnet; "
            "print(sorted(m for m in ('cupy', 'torch', 'array_api_strict') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cupy_without_a_gpu_is_a_clean_backend_error(monkeypatch):
    """CuPy imports on machines with no GPU; resolving it must then fail cleanly (so the
    test matrix skips), before any array is created."""
    import types

    from xpnet import backend as backend_module

    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.SimpleNamespace(
        cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device)),
        zeros=lambda n: pytest.fail("an array was created before the GPU check"),
    )
    monkeypatch.setattr(backend_module, "_import", lambda name: fake)
    with pytest.raises(BackendError, match="needs a CUDA GPU, but none could be used"):
        resolve("cupy")
