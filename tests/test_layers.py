"""Dense and Dropout: values against NumPy formulas, gradients, dtypes, devices, errors."""

from __future__ import annotations

import numpy as np
import pytest

from _util import host, numerical_grad
from xpnet.engine.faithful import FaithfulOps
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.ops import Ops
from xpnet.random import Generator


def _dense(backend, n_in=3, n_out=4, dtype="float32", **reg):
    layer = Dense(n_in, n_out, **reg)
    layer.build(Ops(backend), Generator(1), dtype)
    return layer


def test_dense_init_is_book_scale_and_identical_on_every_backend(backend):
    layer = _dense(backend)
    W, b = host(layer.W), host(layer.b)
    expected = 0.01 * Generator(1).randn(3, 4)
    np.testing.assert_array_equal(W, expected)
    np.testing.assert_array_equal(b, np.zeros((1, 4), dtype=np.float32))
    assert layer.W.dtype == backend.xp.float32


def test_dense_forward_backward_values(backend):
    xp = backend.xp
    layer = _dense(backend)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    dy = rng.standard_normal((5, 4)).astype(np.float32)
    y = layer.forward(backend.asarray(x))
    W = host(layer.W)
    np.testing.assert_allclose(host(y), x @ W, rtol=1e-6, atol=1e-7)
    dx = layer.backward(backend.asarray(dy))
    np.testing.assert_allclose(host(layer.grads["W"]), x.T @ dy, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(layer.grads["b"]), dy.sum(0, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(host(dx), dy @ W.T, rtol=1e-5, atol=1e-7)
    assert y.dtype == dx.dtype == xp.float32
    assert backend.is_array(y) and backend.is_array(dx)


@pytest.mark.parametrize("reg", [
    {"weight_l1": 0.1}, {"weight_l2": 0.2}, {"bias_l1": 0.3}, {"bias_l2": 0.4},
    {"weight_l1": 0.1, "weight_l2": 0.2, "bias_l1": 0.3, "bias_l2": 0.4},
])
def test_dense_gradients_match_numerical_including_regularization(np_backend, reg):
    layer = _dense(np_backend, dtype="float64", **reg)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 3))
    dy = rng.standard_normal((6, 4))
    # move biases away from 0, where L1 has its kink
    layer.params["b"] = rng.standard_normal((1, 4)) * 0.1 + 0.05

    def objective(_):
        return float(np.sum(layer.forward(x) * dy) + layer.regularization_loss())

    layer.forward(x)
    dx = layer.backward(dy)
    for name in ("W", "b"):
        num = numerical_grad(objective, layer.params[name])
        np.testing.assert_allclose(layer.grads[name], num, rtol=1e-6, atol=1e-8)
    num_x = numerical_grad(lambda _: float(np.sum(layer.forward(x) * dy)), x)
    np.testing.assert_allclose(dx, num_x, rtol=1e-6, atol=1e-8)


def test_dense_regularization_loss_formula(np_backend):
    layer = _dense(np_backend, dtype="float64", weight_l1=0.1, weight_l2=0.2, bias_l1=0.3,
                   bias_l2=0.4)
    layer.params["b"] = np.array([[1.0, -2.0, 0.5, 0.0]])
    W, b = layer.W, layer.b
    expected = (0.1 * np.abs(W).sum() + 0.2 * (W**2).sum()
                + 0.3 * np.abs(b).sum() + 0.4 * (b**2).sum())
    assert float(layer.regularization_loss()) == pytest.approx(expected, rel=1e-12)
    assert _dense(np_backend).regularization_loss() == 0


def test_dense_skips_input_gradient_when_not_needed(np_backend):
    layer = _dense(np_backend)
    layer.need_input_grad = False
    layer.forward(np.ones((2, 3), dtype=np.float32))
    assert layer.backward(np.ones((2, 4), dtype=np.float32)) is None
    assert layer.grads["W"].shape == (3, 4)


@pytest.mark.parametrize("shape", [(5,), (5, 2), (2, 3, 3)])
def test_dense_rejects_wrong_input_shape(np_backend, shape):
    layer = _dense(np_backend)
    with pytest.raises(ValueError, match=r"Dense\(3, 4\) expected inputs of shape \(n_samples, 3"):
        layer.forward(np.ones(shape, dtype=np.float32))


@pytest.mark.parametrize(("bad", "error"), [
    ({"n_in": 0}, ValueError), ({"n_out": 2.5}, TypeError), ({"weight_l2": -1.0}, ValueError),
])
def test_dense_rejects_bad_arguments(bad, error):
    args = {"n_in": 2, "n_out": 3}
    args.update(bad)
    with pytest.raises(error, match="Dense"):
        Dense(**args)


def test_standalone_dense_builds_from_first_input():
    layer = Dense(2, 3, seed=5)
    y = layer.forward(np.ones((4, 2)))
    assert layer.W.dtype == np.float64 and y.dtype == np.float64
    np.testing.assert_array_equal(layer.W, (0.01 * Generator(5).randn(2, 3)).astype(np.float64))


def test_dropout_mask_scales_kept_units_and_is_identity_in_eval(backend):
    xp = backend.xp
    drop = Dropout(0.25)
    drop.build(Ops(backend), Generator(0))
    x = backend.asarray(np.ones((200, 50), dtype=np.float32))
    y = host(drop.forward(x, training=True))
    values = set(np.unique(y).tolist())
    assert values <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    dx = host(drop.backward(backend.asarray(np.full((200, 50), 2.0, dtype=np.float32))))
    np.testing.assert_array_equal(dx, 2.0 * y)
    assert drop.forward(x, training=True).dtype == xp.float32
    assert drop.forward(x, training=False) is x


def test_dropout_faithful_mask_is_books_float64_binomial(np_backend):
    drop = Dropout(0.1)
    drop.build(FaithfulOps(np_backend), Generator("nnfs"))
    x = np.ones((4, 5), dtype=np.float32)
    y = drop.forward(x)
    expected = np.random.RandomState(0).binomial(1, 0.9, size=(4, 5)) / 0.9
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, expected)


def test_dropout_rejects_bad_rate():
    with pytest.raises(ValueError, match=r"Dropout rate must be in \[0, 1\)"):
        Dropout(1.0)
