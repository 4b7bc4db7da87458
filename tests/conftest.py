"""Shared fixtures: an ``xp`` backend fixture over every installed backend.

``XPNET_TEST_BACKENDS=numpy,torch`` restricts the matrix (nox sets one per session);
backends that are not installed, or CuPy without a GPU, are skipped, never failed.
``torch-cuda`` is PyTorch on its CUDA device (skipped where torch has no CUDA): on a GPU,
``XPNET_TEST_BACKENDS=cupy,torch-cuda`` is the GPU matrix.
"""

from __future__ import annotations

import os

import pytest

from xpnet.backend import BACKENDS, resolve
from xpnet.errors import BackendError

# JAX's GPU client, started by any JAX device lookup (test_bench's jax.devices("gpu")
# too), would take 75% of the GPU that the CuPy and PyTorch tests of this process need
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

# the book's scripts are oracles run in subprocesses, not test modules
collect_ignore_glob = ["book/*"]


#: The matrix: every backend, and PyTorch on CUDA.
MATRIX = [*BACKENDS, "torch-cuda"]


def _selected() -> list[str]:
    wanted = os.environ.get("XPNET_TEST_BACKENDS")
    return [b.strip() for b in wanted.split(",")] if wanted else list(MATRIX)


def _backend_or_skip(name: str):
    device = None
    if name == "torch-cuda":
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip(f"torch {torch.__version__} cannot use CUDA here")
        name, device = "torch", "cuda"
    try:
        backend = resolve(name, device)
    except BackendError as exc:
        pytest.skip(f"backend {name!r} unavailable: {exc}")
    if name == "torch":
        import torch

        # two intra-op threads on this shared 2-core machine made small ops ~30x slower
        torch.set_num_threads(1)
    return backend


@pytest.fixture(autouse=True)
def _numpy_as_it_was():
    """xpnet.book.init() changes np.dot, np.zeros, np.eye and np.random.randn as
    nnfs.init() does: every test starts and ends with NumPy's own."""
    from xpnet import book

    book.restore_numpy()
    yield
    book.restore_numpy()


@pytest.fixture(params=_selected())
def backend(request):
    """A :class:`xpnet.backend.Backend` for each selected backend."""
    return _backend_or_skip(request.param)


@pytest.fixture
def xp(backend):
    return backend.xp


@pytest.fixture
def np_backend():
    return resolve("numpy")


@pytest.fixture(scope="session")
def nvrtc_check():
    """An :class:`_host_kernels.NvrtcCheck` where CuPy and NVRTC are installed, else None;
    with ``XPNET_REQUIRE_NVRTC=1`` (CI's kernel pass) its absence fails the tests instead;
    ``XPNET_NVRTC=0`` turns it off (a GPU session, which runs the kernels themselves)."""
    from _host_kernels import NvrtcCheck

    if os.environ.get("XPNET_NVRTC") == "0":
        return None
    check = NvrtcCheck.available()
    if check is None and os.environ.get("XPNET_REQUIRE_NVRTC") == "1":
        pytest.fail(f"XPNET_REQUIRE_NVRTC=1, but NVRTC cannot compile CuPy's kernels here "
                    f"({NvrtcCheck.why_not}); pip install cupy-cuda13x nvidia-cuda-nvrtc")
    return check


@pytest.fixture(scope="module")
def host_cupy(tmp_path_factory, nvrtc_check):
    """A stand-in for CuPy whose kernels are compiled for the host (``_host_kernels``); where
    CuPy and NVRTC are installed, each kernel's CuPy source is also compiled for the GPU."""
    from _host_kernels import CXX, HostCupy

    if CXX is None:
        pytest.skip("no C++ compiler to compile the CUDA kernel's source for the host")
    return HostCupy(str(tmp_path_factory.mktemp("kernel")), nvrtc=nvrtc_check)


@pytest.fixture
def cupy_backend():
    """The CuPy backend, or a skip without CuPy or a GPU."""
    wanted = os.environ.get("XPNET_TEST_BACKENDS")
    if wanted and "cupy" not in wanted.split(","):
        pytest.skip("cupy is not among XPNET_TEST_BACKENDS")
    pytest.importorskip("cupy")
    return _backend_or_skip("cupy")
