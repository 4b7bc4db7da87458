"""Every CUDA kernel the engines make, compiled for the GPU by NVRTC, without a GPU.

The engines' kernels are checked on the CPU by compiling their source with the host's C++
compiler (``_host_kernels``). That proves the arithmetic, not that NVRTC accepts the source
CuPy generates around it: a raw array there is CuPy's ``CArray``, not a pointer, and CUDA's
headers are not the C library's. Here the same runs also compile, for each kernel and each
signature it is called with, CuPy's own generated source with CuPy's compiler options for an
H100/H200 (``compute_90``).

Needs CuPy and NVRTC, no GPU: ``pip install cupy-cuda13x nvidia-cuda-nvrtc`` (CI installs them
for a second pass over the kernel tests); skips without them.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import xpnet
from _host_kernels import CXX, HostCupy, NvrtcCheck
from xpnet.backend import resolve
from xpnet.engine import fused, masks
from xpnet.engine.rules import compile_rule
from xpnet.nn.optimizers import SGD, Adagrad, Adam, RMSprop

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler for the host kernels")


@pytest.fixture
def nvrtc(nvrtc_check):
    if nvrtc_check is None:
        pytest.skip("turned off (XPNET_NVRTC=0)" if os.environ.get("XPNET_NVRTC") == "0" else
                    f"CuPy's NVRTC is not available ({NvrtcCheck.why_not}); pip install "
                    f"cupy-cuda13x nvidia-cuda-nvrtc (no GPU needed)")
    return nvrtc_check


@pytest.fixture
def host(nvrtc, tmp_path):
    return HostCupy(str(tmp_path), nvrtc=nvrtc)


def test_the_whole_step_kernels_compile_for_the_gpu(nvrtc, host):
    from test_engine_step import build, host_kernels

    X, y = xpnet.datasets.spiral(samples=40, classes=3, seed=1)
    before = nvrtc.compiled
    for dtype in ("float32", "float64"):
        for dropout in (0.0, 0.1):
            for softmax_layer in (True, False):
                model = build(host_kernels(host), dropout=dropout, dtype=dtype,
                              softmax_layer=softmax_layer, hidden=12)
                model.train(X, y, epochs=2)  # eager: scalars passed by value
                # a graph run: the update reads a step table, the mask position is on the
                # device
                model.train(X, y, epochs=110, log_every=None)
    from xpnet.engine import step

    split, step.SPLIT_FROM = step.SPLIT_FROM, 2  # the partial sums in two levels too
    try:
        build(host_kernels(host), hidden=12).train(X, y, epochs=2)
    finally:
        step.SPLIT_FROM = split
    names = set(nvrtc.sources)
    for part in ("forward", "backward", "reduce", "gather"):
        assert any(n.startswith(f"xpnet_step_{part}_2x12x3") for n in names), part
    assert "xpnet_step_reduce_2x12x3_Adam_update" in names
    # two dtypes x dropout or not x probabilities or logits x position passed or on device
    forwards = [s for n, v in nvrtc.sources.items() if n.startswith("xpnet_step_forward")
                for s in v]
    assert len(forwards) >= 16
    assert nvrtc.compiled - before >= 48


def test_many_models_kernels_compile_for_the_gpu(nvrtc, host):
    from test_engine_step import build, host_kernels
    from xpnet.many import ManyModels

    seeds = [3, 7]
    data = [xpnet.datasets.spiral(samples=20, classes=3, seed=s) for s in seeds]
    models = [build(host_kernels(host), dropout=0.1, hidden=8, seed=s) for s in seeds]
    many = ManyModels.from_models(models, data)
    many.train(epochs=3)
    many.train(epochs=110)
    assert any(n.startswith("xpnet_step_forward_2x8x3") for n in nvrtc.sources)


@pytest.mark.parametrize("optimizer", [SGD(momentum=0.9), SGD(0.1), Adagrad(), RMSprop(),
                                       Adam()], ids=repr)
def test_each_update_kernel_compiles_for_the_gpu(nvrtc, host, optimizer):
    rule = compile_rule(optimizer.rule())
    kernels = fused.CupyKernels(resolve("numpy"), module=host)
    p, g = np.zeros((3, 4), np.float32), np.ones((3, 4), np.float32)
    state = [np.zeros_like(p) for _ in rule.state]
    values = rule.scalar_values(optimizer.hyperparameters())
    kernels.update(rule, values, p, g, state)  # scalars by value
    kernels.update(rule, [np.full((3, 1), v) for v in values], p, g, state)  # per copy
    kernels.table = fused.ScalarTable(resolve("numpy"), [values] * 2, np.float32)
    kernels.update(rule, values, p, g, state)  # a graph's step table
    assert len(nvrtc.sources[f"xpnet_{rule.name}"]) >= 3


def test_the_mask_kernels_compile_for_the_gpu(nvrtc, host):
    device = masks.CupyMasks(host)
    out = np.zeros((2, 37), bool)
    device.keep_mask(0.9, 12345, 7, out)
    device.keep_mask(0.9, np.array([1, 2]), np.array([0, 0]), out)
    x = np.ones((2, 37), np.float32)
    device.scale_and_mask(x, 1 / 0.9, out, x)
    assert {"xpnet_philox_keep_mask", "xpnet_scale_and_mask"} <= set(nvrtc.sources)


def test_the_check_fails_on_what_only_the_host_compiler_accepts(host):
    # pointer arithmetic on a raw array: fine for g++ (a pointer), not for NVRTC (a CArray)
    kernel = host.ElementwiseKernel("raw float32 x", "float32 y", "const float* r = x + 1; "
                                    "y = r[i];", name="xpnet_pointer_arithmetic")
    with pytest.raises(AssertionError, match="NVRTC rejects xpnet_pointer_arithmetic"):
        kernel(np.arange(4, dtype=np.float32), np.zeros(3, np.float32))
