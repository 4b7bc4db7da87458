"""Property tests (hypothesis) on every present backend: analytic gradients equal numerical
ones for random shapes, values and regularizer strengths; softmax and optimizer invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _util import host
from strategies import batch_sizes, features, logits_and_labels, matrices, seeds, shaped, strengths
from xpnet import gradcheck
from xpnet.nn.activations import Linear, ReLU, Sigmoid, Softmax
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossentropy,
)
from xpnet.nn.ops import Ops
from xpnet.nn.optimizers import SGD, Adagrad, Adam, RMSprop
from xpnet.random import Generator

# the backend fixture is a constant per test: safe to share across hypothesis examples
PROPERTY = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(n=batch_sizes, n_in=features, n_out=features, w1=strengths, w2=strengths, b1=strengths,
       b2=strengths, seed=seeds)
def test_dense_gradients(backend, n, n_in, n_out, w1, w2, b1, b2, seed):
    layer = Dense(n_in, n_out, weight_l1=w1, weight_l2=w2, bias_l1=b1, bias_l2=b2,
                  init_scale=0.5)
    x = np.random.default_rng(seed).standard_normal((n, n_in))
    report = gradcheck.check(layer, (backend.asarray(x),), backend=backend, seed=seed)
    assert report.passed, str(report)


@PROPERTY
@given(x=shaped(), cls=st.sampled_from([ReLU, Sigmoid, Linear, Softmax]), seed=seeds)
def test_activation_gradients(backend, x, cls, seed):
    report = gradcheck.check(cls(), (backend.asarray(x),), backend=backend, seed=seed)
    assert report.passed, str(report)


@PROPERTY
@given(x=shaped(), rate=st.floats(0.0, 0.9), seed=seeds)
def test_dropout_gradients_with_frozen_mask(backend, x, rate, seed):
    report = gradcheck.check(Dropout(rate), (backend.asarray(x),), backend=backend, seed=seed)
    assert report.passed, str(report)


@PROPERTY
@given(data=logits_and_labels(), seed=seeds)
def test_crossentropy_gradients(backend, data, seed):
    logits, labels = data
    y = backend.asarray(labels)
    assert gradcheck.check(SoftmaxCrossentropy(), (backend.asarray(logits), y),
                           backend=backend, seed=seed).passed
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True) * 0.9 + 0.1 / logits.shape[1]  # off the clip
    assert gradcheck.check(CategoricalCrossentropy(), (backend.asarray(probs), y),
                           backend=backend, seed=seed).passed


@PROPERTY
@given(n=batch_sizes, k=features, seed=seeds,
       cls=st.sampled_from([BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError]))
def test_other_loss_gradients(backend, n, k, seed, cls):
    rng = np.random.default_rng(seed)
    if cls is BinaryCrossentropy:
        y_pred, y_true = rng.uniform(0.05, 0.95, (n, k)), rng.integers(0, 2, (n, k)) * 1.0
    else:
        y_true = rng.standard_normal((n, k))
        y_pred = y_true + rng.uniform(0.05, 1, (n, k)) * rng.choice([-1, 1], (n, k))
    report = gradcheck.check(cls(), (backend.asarray(y_pred), backend.asarray(y_true)),
                             backend=backend, seed=seed)
    assert report.passed, str(report)


@PROPERTY
@given(n=batch_sizes, k=st.integers(2, 6), big=st.sampled_from([1e4, -1e4, 1e3]), seed=seeds)
def test_softmax_rows_sum_to_one_even_for_huge_logits(backend, n, k, big, seed):
    x = np.random.default_rng(seed).standard_normal((n, k)).astype(np.float32)
    x[:, 0] += big
    s = Softmax().forward(backend.asarray(x))
    h = host(s)
    assert np.all(np.isfinite(h))
    np.testing.assert_allclose(h.sum(axis=1), 1.0, rtol=1e-5)
    assert s.dtype == backend.xp.float32 and backend.is_array(s)


@PROPERTY
@given(data=logits_and_labels(), seed=seeds)
def test_fused_gradient_is_softmax_backward_after_crossentropy_backward(backend, data, seed):
    logits, labels = data
    z, y = backend.asarray(logits), backend.asarray(labels)
    fused = SoftmaxCrossentropy()
    fused.forward(z, y)
    sm = Softmax()
    s = sm.forward(z)
    chained = sm.backward(CategoricalCrossentropy().backward(s, y))
    np.testing.assert_allclose(host(fused.backward(z, y)), host(chained), rtol=1e-9, atol=1e-12)


@PROPERTY
@given(x=shaped(), seed=seeds)
def test_jacobian_equals_vectorised_softmax_backward(backend, x, seed):
    sm = Softmax()
    sm.forward(backend.asarray(x))
    dy = np.random.default_rng(seed).standard_normal(x.shape)
    J = host(sm.jacobian())
    np.testing.assert_allclose(np.einsum("nij,nj->ni", J, dy),
                               host(sm.backward(backend.asarray(dy))), rtol=1e-9, atol=1e-12)


@PROPERTY
@given(p=matrices(2, 3), g=matrices(2, 3), lr=st.floats(1e-4, 1.0), decay=st.floats(0, 0.1),
       steps=st.integers(1, 3))
def test_optimizer_steps_follow_the_formulas(backend, p, g, lr, decay, steps):
    for opt in (SGD(lr, decay, momentum=0.5), Adagrad(lr, decay), RMSprop(lr, decay),
                Adam(lr, decay)):
        layer = Dense(2, 3)
        layer.build(Ops(backend), Generator(0), "float64")
        layer.params = {"W": backend.asarray(p.copy())}
        layer.grads = {"W": backend.asarray(g)}
        expected, state = p.copy(), {"u": 0.0, "c": 0.0, "m": 0.0, "v": 0.0}
        for t in range(steps):
            lr_t = lr * (1.0 / (1.0 + decay * t))
            if isinstance(opt, SGD):
                state["u"] = 0.5 * state["u"] - lr_t * g
                expected = expected + state["u"]
            elif isinstance(opt, RMSprop):  # (an Adagrad with a leaky cache: test it first)
                state["c"] = 0.9 * state["c"] + 0.1 * g**2
                expected = expected - lr_t * g / (np.sqrt(state["c"]) + 1e-7)
            elif isinstance(opt, Adagrad):
                state["c"] = state["c"] + g**2
                expected = expected - lr_t * g / (np.sqrt(state["c"]) + 1e-7)
            else:
                state["m"] = 0.9 * state["m"] + 0.1 * g
                state["v"] = 0.999 * state["v"] + 0.001 * g**2
                m_hat = state["m"] / (1 - 0.9 ** (t + 1))
                v_hat = state["v"] / (1 - 0.999 ** (t + 1))
                expected = expected - lr_t * m_hat / (np.sqrt(v_hat) + 1e-7)
            opt.step([layer])
        np.testing.assert_allclose(host(layer.params["W"]), expected, rtol=1e-10, atol=1e-12,
                                   err_msg=type(opt).__name__)
        assert layer.params["W"].dtype == backend.xp.float64


@pytest.mark.parametrize("cls", [ReLU, Sigmoid, Linear, Softmax])
def test_outputs_keep_input_dtype_and_device(backend, cls):
    for dtype in (backend.xp.float32, backend.xp.float64):
        x = backend.asarray(np.linspace(-2, 2, 12).reshape(3, 4), dtype=dtype)
        act = cls()
        y = act.forward(x)
        dx = act.backward(backend.asarray(np.ones((3, 4)), dtype=dtype))
        assert y.dtype == dx.dtype == dtype
        assert backend.is_array(y) and backend.is_array(dx)
