"""PyTorch on a device other than its default, checked on a CPU-only machine.

Two stand-ins for a CUDA device, each modelling what PyTorch documents:

* ``with torch.device("meta"):`` makes ``meta`` PyTorch's default device inside the block
  (torch docs, "torch.device ... can be used as a context manager to change the default
  device tensors are allocated on"; ``torch.set_default_device``). A model that lives on the
  CPU then fails on any array xpnet makes without ``device=``, exactly as a model on
  ``cuda:0`` fails on an array made on the default CPU: PyTorch refuses elementwise
  operations between tensors of two devices ("Expected all tensors to be on the same
  device"; ``torch/_prims_common/__init__.py`` ``check_same_device``, 0-d CPU tensors
  excepted).
* a layer built on ``device="meta"`` holds its arrays on a device that is not PyTorch's
  default one, as a layer built on ``cuda`` does.

What only a GPU can show (the same paths computing on ``cuda:0``) runs in the GPU matrix,
``XPNET_TEST_BACKENDS=cupy,torch-cuda`` (benchmarks/gpu_session.sh).
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from xpnet.backend import _checked_device, resolve, same_device

torch = pytest.importorskip("torch")


@pytest.fixture
def cpu_torch():
    torch.set_num_threads(1)
    return resolve("torch", "cpu")


def test_faithful_softmax_backward_makes_its_identity_on_the_arrays_device(cpu_torch):
    """The faithful engine's softmax backward (the book's per-sample Jacobian) made its
    identity matrix on PyTorch's default device: a model on ``cuda`` in faithful mode
    (``seed="nnfs"``), ``xpnet explain softmax --seed nnfs`` on CUDA and ``xpnet.book``'s
    ``Activation_Softmax.backward`` there failed with a device mismatch."""
    from xpnet.engine.faithful import FaithfulOps

    xp = cpu_torch.xp
    ops = FaithfulOps(cpu_torch, "float32")
    s = xp.asarray([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]], dtype=xp.float32)
    dy = xp.asarray([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0]], dtype=xp.float32)
    expected = ops.softmax_backward(s, dy, None)
    with torch.device("meta"):
        got = ops.softmax_backward(s, dy, None)
    assert got.device == torch.device("cpu")
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("seed", [0, "nnfs"])
@pytest.mark.parametrize("preset", ["ch15", "ch16", "ch17"])
def test_training_makes_every_array_on_the_models_device(cpu_torch, preset, seed):
    """Training (full batch and mini-batches, host and counter-based dropout masks),
    evaluation and prediction create no array on PyTorch's default device: each passes
    the model's ``device=`` (docs/design.md, "Backends"), as a model on ``cuda`` needs."""
    from xpnet import presets

    for masks, batch_size in (("auto", None), ("counter" if seed == 0 else "auto", 64)):
        model, (X, y), _ = presets.build(preset, backend=cpu_torch, seed=seed,
                                         dropout_masks=masks)
        X, y = X[:200], y[:200]
        with torch.device("meta"):
            history = model.train(X, y, epochs=2, batch_size=batch_size, log_every=1,
                                  validation_data=(X, y))
            model.evaluate(X, y, batch_size=batch_size)
            out = model.predict(X)
        assert np.isfinite(history["loss"]).all()
        assert out.device == torch.device("cpu")


def test_explain_softmax_in_faithful_mode_and_the_books_softmax_on_another_device(cpu_torch):
    """The two public paths that reach the faithful softmax backward: ``explain("softmax",
    seed="nnfs")`` and ``xpnet.book``'s ``Activation_Softmax.backward``."""
    from xpnet import book
    from xpnet.explain import explain

    with torch.device("meta"):
        explain("softmax", backend=cpu_torch, seed="nnfs")
    saved = book._session  # (module-wide: the tests after this one expect it back)
    book.init(backend=cpu_torch)
    try:
        X, y = book.spiral_data(20, 3)
        dense = book.Layer_Dense(2, 3)
        softmax = book.Activation_Softmax()
        loss = book.Loss_CategoricalCrossentropy()
        with torch.device("meta"):
            dense.forward(X)
            softmax.forward(dense.output)
            loss.backward(softmax.output, y)
            softmax.backward(loss.dinputs)
            dense.backward(softmax.dinputs)
        assert dense.dweights.device == torch.device("cpu")
    finally:
        book._session = saved
        book.restore_numpy()


def test_gradcheck_checks_a_component_on_the_device_that_holds_it():
    """``check(layer, backend="torch")`` for a layer built on PyTorch's GPU resolved
    ``"torch"`` to its default device, the CPU: the inputs and the perturbed copies went
    there while the layer's own arrays stayed on the GPU. A library's name now means the
    device the component holds its arrays on; a Backend on another device is refused."""
    from xpnet.gradcheck import _backend_for
    from xpnet.nn.layers import Dense
    from xpnet.nn.ops import Ops
    from xpnet.random import Generator

    meta = resolve("torch", "meta")
    layer = Dense(3, 4)
    layer.build(Ops(meta), Generator(0), "float64")
    assert same_device(_backend_for(layer, "torch").device, "meta")
    assert same_device(_backend_for(layer, None).device, "meta")
    assert _backend_for(layer, meta) is meta
    with pytest.raises(ValueError, match=r"holds arrays on device 'meta', but a backend on "
                                         r"'cpu' was asked for; leave backend out"):
        _backend_for(layer, resolve("torch", "cpu"))


def test_every_spelling_of_a_torch_device_is_the_device_its_arrays_report():
    """``Model(backend="torch", device=0)`` kept the ordinal 0 as the model's device, while
    its arrays report ``device(type='cuda', index=0)``: ``same_device(0, "cuda:0")`` is
    false, so the model refused its own arrays (``is_array``) and ``synchronize()``, which
    looks for a device of type ``cuda``, did nothing. PyTorch documents an ordinal as "the
    current accelerator" (``torch.device(0)`` is ``cuda:0`` on a CUDA build; the CPU build
    here raises, hence the stand-in, which models ``torch.device`` and a factory function
    whose tensor reports the device it was made on). The device kept is the one a probe
    array reports, for every spelling."""

    class Device:
        def __init__(self, spec, index=None):
            if isinstance(spec, Device):
                spec, index = spec.type, spec.index
            elif isinstance(spec, int):  # an ordinal: the current accelerator's
                spec, index = "cuda", spec
            kind, _, number = str(spec).partition(":")
            self.type = kind
            self.index = int(number) if number else index

        def __str__(self):
            return self.type if self.index is None else f"{self.type}:{self.index}"

        def __eq__(self, other):
            return isinstance(other, Device) and (self.type, self.index) == (
                other.type, other.index)

        __hash__ = None

    def zeros(shape, device):
        place = device if isinstance(device, Device) else Device(device)
        if place.type == "cuda" and place.index is None:
            place = Device("cuda", 0)  # the current device: a tensor names its index
        return types.SimpleNamespace(device=place)

    lib = types.SimpleNamespace(device=Device)
    xp = types.SimpleNamespace(zeros=zeros)
    for spelling in (0, "cuda", "cuda:0", Device("cuda"), Device("cuda", 0)):
        device = _checked_device("torch", lib, xp, spelling)
        assert device == Device("cuda", 0), spelling
        assert same_device(device, "cuda:0") and device.type == "cuda"
    assert _checked_device("torch", lib, xp, "cpu") == Device("cpu")


def test_torch_devices_on_this_machine_are_those_arrays_report():
    """On the real PyTorch: ``"cpu"``, ``"cpu:0"`` and ``torch.device("cpu")`` are one device,
    and a model's layers built under one spelling join a model built under another."""
    import xpnet
    from xpnet.nn.layers import Dense

    backends = [resolve("torch", d) for d in ("cpu", "cpu:0", torch.device("cpu"))]
    assert all(b == backends[0] for b in backends)
    assert backends[0].device == torch.zeros(1).device
    model = xpnet.Model(backend="torch", device="cpu:0")
    layer = Dense(2, 3)
    layer.build(xpnet.Model(backend="torch", device="cpu").ops, model.rng, "float32")
    model.add(layer)
