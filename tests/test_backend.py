"""Backend resolution, conversion, device checks, and what importing xpnet imports."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from xpnet.backend import available, backend_of, resolve, same_device, to_numpy
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
    code = ("import sys, xpnet; print(sorted(m for m in ('cupy', 'torch', 'array_api_strict', "
            "'jax') if m in sys.modules))")
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


def test_cupy_devices_are_cupys_own_whatever_their_spelling():
    """CuPy makes ``Device(device)`` of what it is given (``int("cuda")`` fails) and gives
    its arrays ``Device(0)``, which is not the string ``"cuda:0"``: a model on
    ``device="cuda"`` would fail on its first array, one on ``device=0`` refuse its own
    arrays. Every spelling becomes CuPy's ``Device``; a device that is not there is refused
    with the ones that are."""
    import types

    from xpnet.backend import _checked_device

    class Device:
        def __init__(self, index=0):
            self.id = int(index)

        def __eq__(self, other):
            return isinstance(other, Device) and other.id == self.id

        def __repr__(self):
            return f"<CUDA Device {self.id}>"

    Device.__module__ = "cupy.cuda.device"
    made = []
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(
        Device=Device, runtime=types.SimpleNamespace(getDeviceCount=lambda: 2)))
    xp = types.SimpleNamespace(zeros=lambda shape, device: made.append(device))
    for spelling, index in (("cuda", 0), ("CUDA:1", 1), ("gpu:1", 1), (1, 1), (Device(1), 1)):
        device = _checked_device("cupy", fake, xp, spelling)
        assert isinstance(device, Device) and device.id == index
        assert made[-1] is device  # an array was made there
        assert same_device(device, f"cuda:{index}") and same_device(device, Device(index))
    assert not same_device(Device(0), "cuda:1") and not same_device(Device(0), "cpu")
    for bad in ("cuda:2", "cpu", 7, "cuda:x"):
        with pytest.raises(BackendError, match=rf"backend 'cupy' has no device {bad!r} here "
                                               r"\(.*\)\. Its devices here: 'cuda:0', 'cuda:1'; "
                                               r"pass one of them"):
            _checked_device("cupy", fake, xp, bad)


# -- JAX ------------------------------------------------------------------------------------

def test_jax_resolves_to_its_namespace_on_the_first_cpu_device_with_float64_on():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    import array_api_compat

    b = resolve("jax")
    assert b.name == "jax"
    assert b.xp is array_api_compat.array_namespace(jnp.zeros(1))
    assert b.device == jax.devices("cpu")[0]
    assert jax.config.read("jax_enable_x64")  # float64 would silently be float32 otherwise
    assert b.has_float64 and b.native is None  # no in-place engine on immutable arrays
    # the namespace itself, a device string, and an explicit index all give the same backend
    assert resolve(jnp) == b
    assert resolve("jax", device="cpu") == b == resolve("jax", device="cpu:0")
    assert resolve(b, device="cpu") == b
    assert "jax" in available()


def test_jax_asarray_and_to_numpy_round_trip_values_and_dtypes():
    pytest.importorskip("jax")
    b = resolve("jax")
    xp = b.xp
    for host_x, dtype in ((np.arange(6, dtype=np.float32).reshape(2, 3) / 3, xp.float32),
                          (np.linspace(-1, 1, 5), xp.float64),
                          (np.array([0, 2, 1]), xp.int64)):
        x = b.asarray(host_x, dtype=dtype)
        assert x.dtype == dtype and b.is_array(x) and backend_of(x) == b
        back = to_numpy(x)
        assert back.dtype == host_x.dtype
        np.testing.assert_array_equal(back, host_x)
    # an array of the backend is returned as is, or cast
    x = b.asarray([1.5, -2.0], dtype=xp.float64)
    assert b.asarray(x) is x
    assert b.asarray(x, dtype=xp.float32).dtype == xp.float32
    # to_numpy gives a writeable copy: writing into it leaves the device array alone
    back = to_numpy(x)
    back[0] = 7.0
    np.testing.assert_array_equal(to_numpy(x), [1.5, -2.0])
    # read-only host data is accepted (the datasets' arrays can be views)
    ro = np.ones(3)
    ro.flags.writeable = False
    np.testing.assert_array_equal(to_numpy(b.asarray(ro)), [1.0, 1.0, 1.0])


def test_devices_compare_by_equivalence():
    numpy_cpu0 = resolve("numpy", device="cpu:0")
    assert numpy_cpu0.is_array(np.zeros(2))  # NumPy says "cpu"; "cpu:0" is the same device
    jax = pytest.importorskip("jax")
    b = resolve("jax", device="cpu")
    x = jax.device_put(np.zeros(2), jax.devices("cpu")[0])
    assert b.is_array(x)
    b.check(x, "X")  # no error


def test_jax_refuses_foreign_arrays_and_unknown_devices():
    pytest.importorskip("jax")
    b = resolve("jax")
    with pytest.raises(BackendError, match="got an array of backend 'jax' on device"):
        resolve("numpy").asarray(b.asarray([1.0]))
    with pytest.raises(BackendError, match="Arrays of two backends or devices cannot be mixed"):
        b.check(np.zeros(3), "X")
    with pytest.raises(BackendError, match=r"backend 'jax' has no device 'cpu:99'.*device='cpu'"):
        resolve("jax", device="cpu:99")


def test_jax_synchronize_waits_for_the_arrays_given():
    pytest.importorskip("jax")
    b = resolve("jax")
    x = b.xp.ones((64, 64), dtype=b.xp.float32, device=b.device)
    y = x @ x
    b.synchronize(y)
    assert y.is_ready()
    np.testing.assert_array_equal(to_numpy(y)[0, :3], [64.0, 64.0, 64.0])
    b.synchronize()  # nothing to wait for: a no-op, not an error


def test_missing_jax_is_a_backend_error_with_the_install_command(monkeypatch):
    # None in sys.modules makes `import jax` fail as if it were not installed
    monkeypatch.setitem(sys.modules, "jax", None)
    monkeypatch.setitem(sys.modules, "jax.numpy", None)
    with pytest.raises(BackendError,
                       match=r"backend 'jax' is not installed .*pip install 'xpnet\[jax\]'"):
        resolve("jax")
    assert "jax" not in available()


def test_the_test_matrix_has_a_jax_session_that_installs_jax():
    """nox's tests(backend=...) sessions come from the same names as BACKENDS, and the jax
    session installs the jax extra that pyproject.toml declares."""
    import importlib.util
    from pathlib import Path

    pytest.importorskip("nox")
    tomllib = pytest.importorskip("tomllib")
    from xpnet.backend import BACKENDS

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("xpnet_noxfile", root / "noxfile.py")
    noxfile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(noxfile)
    assert noxfile.BACKENDS == list(BACKENDS)
    assert "tests(backend='jax')" in noxfile.nox.options.sessions
    assert noxfile.EXTRAS["jax"] == "jax"
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert extras["jax"] == ["jax>=0.4.30"]
    assert "jax>=0.4.30" in extras["test"]


def test_resolving_jax_leaves_a_gpu_to_the_other_libraries(monkeypatch):
    """JAX's GPU client takes 75% of the device's memory when it starts, unless
    ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` (JAX's docs, "GPU memory allocation"), and any
    device lookup starts it, the CPU's too (``jax._src.xla_bridge.backends()`` starts every
    platform): ``resolve("jax")``, on the CPU by default, would have held most of a GPU that
    CuPy and PyTorch use in the same process (the test matrix, the bench). Resolving JAX sets
    it before the first lookup, unless it is set."""
    pytest.importorskip("jax")
    import jax.numpy as jnp

    from xpnet.backend import JAX_GPU_MEMORY

    variable, value = JAX_GPU_MEMORY
    assert (variable, value) == ("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    for spelling in ("jax", jnp):
        monkeypatch.delenv(variable, raising=False)
        resolve(spelling)
        assert os.environ[variable] == "false"
    monkeypatch.setenv(variable, "true")  # the user's choice stands
    resolve("jax")
    assert os.environ[variable] == "true"
