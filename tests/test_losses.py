"""Losses: values, gradients (numerical), the fused softmax + CE, target errors."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from _util import host, numerical_grad
from xpnet.nn.activations import ReLU, Softmax
from xpnet.nn.layers import Dense
from xpnet.nn.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossentropy,
)


def _probs(rng, n=6, k=3):
    e = np.exp(rng.standard_normal((n, k)))
    return e / e.sum(axis=1, keepdims=True)


def test_crossentropy_values_integer_and_one_hot(backend):
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4], [0.0, 0.0, 1.0]], dtype=np.float32)
    y = np.array([0, 1, 0])
    loss = CategoricalCrossentropy()
    by_label = host(loss.forward(backend.asarray(p), backend.asarray(y)))
    one_hot = np.eye(3, dtype=np.float32)[y]
    by_one_hot = host(loss.forward(backend.asarray(p), backend.asarray(one_hot)))
    expected = -np.log(np.clip([0.7, 0.5, 0.0], 1e-7, 1 - 1e-7))
    np.testing.assert_allclose(by_label, expected, rtol=1e-6)
    np.testing.assert_allclose(by_one_hot, expected, rtol=1e-6)
    assert float(loss.calculate(backend.asarray(p), backend.asarray(y))) == pytest.approx(
        expected.mean(), rel=1e-6)


@pytest.mark.parametrize("loss_cls", [CategoricalCrossentropy, BinaryCrossentropy,
                                      MeanSquaredError, MeanAbsoluteError])
def test_loss_gradients_match_numerical(loss_cls):
    rng = np.random.default_rng(2)
    if loss_cls is CategoricalCrossentropy:
        y_pred, y_true = _probs(rng), rng.integers(0, 3, 6)
    elif loss_cls is BinaryCrossentropy:
        y_pred, y_true = rng.uniform(0.1, 0.9, (6, 2)), rng.integers(0, 2, (6, 2)).astype(float)
    else:
        y_pred, y_true = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    loss = loss_cls()
    grad = loss.backward(y_pred, y_true)
    num = numerical_grad(lambda p: float(loss.calculate(p, y_true)), y_pred.copy())
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-8)


def test_mae_gradient_has_the_correct_sign():
    # the book's MAE backward returns sign(y - y_hat); the true gradient is sign(y_hat - y)
    grad = MeanAbsoluteError().backward(np.array([[2.0]]), np.array([[0.0]]))
    assert grad[0, 0] > 0


def test_fused_gradient_equals_softmax_backward_after_crossentropy_backward(backend):
    rng = np.random.default_rng(4)
    logits = backend.asarray(rng.standard_normal((5, 3)))
    y = backend.asarray(rng.integers(0, 3, 5))
    fused = SoftmaxCrossentropy()
    fused.forward(logits, y)
    g_fused = host(fused.backward(logits, y))
    sm, ce = Softmax(), CategoricalCrossentropy()
    s = sm.forward(logits)
    g_chain = host(sm.backward(ce.backward(s, y)))
    np.testing.assert_allclose(g_fused, g_chain, rtol=1e-10, atol=1e-12)


def test_crossentropy_rejects_float_labels_and_bad_shapes(np_backend):
    p = np.full((3, 2), 0.5, dtype=np.float32)
    loss = CategoricalCrossentropy()
    with pytest.raises(TypeError, match="integer class labels"):
        loss.forward(p, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels of shape \(2,\) for predictions of shape "
                                         r"\(3, 2\)"):
        loss.forward(p, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"one-hot targets of shape \(3, 2\)"):
        loss.forward(p, np.ones((3, 5)))


def test_label_range_check_names_the_fix():
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 2\].*from 0 to 3"):
        CategoricalCrossentropy().check_targets(np.array([0, 3, 1]), 3)


def test_binary_crossentropy_wants_column_targets():
    with pytest.raises(ValueError, match=r"Reshape the targets to a column"):
        BinaryCrossentropy().forward(np.full((4, 1), 0.5), np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="targets of 0 or 1"):
        BinaryCrossentropy().check_targets(np.array([[0], [2]]), 1)
    BinaryCrossentropy().check_targets(np.array([[0.9], [0.1]]), 1)  # soft labels are fine
    with pytest.raises(ValueError, match=r"targets of 0 or 1 \(or probabilities between"):
        BinaryCrossentropy().check_targets(np.array([[0.5], [-0.1]]), 1)


def test_losses_keep_dtype_and_backend(backend):
    xp = backend.xp
    p = backend.asarray(np.full((4, 1), 0.25, dtype=np.float32))
    y = backend.asarray(np.array([[0.0], [1.0], [1.0], [0.0]], dtype=np.float32))
    for loss in (BinaryCrossentropy(), MeanSquaredError(), MeanAbsoluteError()):
        g = loss.backward(p, y)
        assert g.dtype == xp.float32 and backend.is_array(g)
        assert loss.forward(p, y).dtype == xp.float32


def test_a_model_trains_with_softmax_crossentropy_as_with_a_softmax_layer():
    """The joint loss on logits: the gradient of a step (which calls backward without
    forward) and the accuracy (the class of the largest logit) are the Softmax layer's."""
    X, y = xpnet.datasets.spiral(samples=50, classes=3, seed=2)
    models = []
    for last, loss in ((Softmax(), CategoricalCrossentropy()), (None, SoftmaxCrossentropy())):
        m = xpnet.Model(seed=4, dtype="float64")
        for layer in (Dense(2, 8), ReLU(), Dense(8, 3), last):
            if layer is not None:
                m.add(layer)
        m.set(loss=loss, optimizer=xpnet.optimizers.Adam(learning_rate=0.05))
        models.append((m, m.train(X, y, epochs=20, log_every=5)))
    (a, ha), (b, hb) = models
    for ra, rb in zip(ha.records, hb.records, strict=True):
        assert ra["acc"] == rb["acc"] and ra["loss"] == pytest.approx(rb["loss"], rel=1e-12)
    for key, value in a.parameters().items():
        np.testing.assert_allclose(value, b.parameters()[key], rtol=1e-12, atol=1e-15)
    assert b.evaluate(X, y)["acc"] == a.evaluate(X, y)["acc"]
