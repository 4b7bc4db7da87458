"""ReLU, Softmax, Sigmoid, Linear: values, gradients, stability, the softmax Jacobian."""

from __future__ import annotations

import numpy as np
import pytest

from _util import host, numerical_grad
from xpnet.nn.activations import Linear, ReLU, Sigmoid, Softmax, softmax_jacobian


def test_relu_forward_backward(backend):
    x = backend.asarray(np.array([[-2.0, 0.0, 3.0]], dtype=np.float32))
    relu = ReLU()
    np.testing.assert_array_equal(host(relu.forward(x)), [[0.0, 0.0, 3.0]])
    dy = backend.asarray(np.array([[1.0, 2.0, 4.0]], dtype=np.float32))
    dx = relu.backward(dy)
    np.testing.assert_array_equal(host(dx), [[0.0, 0.0, 4.0]])
    assert dx.dtype == backend.xp.float32


def test_softmax_rows_sum_to_one_and_survive_huge_logits(backend):
    logits = np.array([[1000.0, -1000.0, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4 - 1, 0]],
                      dtype=np.float32)
    s = host(Softmax().forward(backend.asarray(logits)))
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(s[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(s[1], [1 / 3] * 3, rtol=1e-6)


def test_softmax_backward_equals_per_sample_jacobian(backend):
    rng = np.random.default_rng(0)
    x = backend.asarray(rng.standard_normal((7, 4)))
    dy = backend.asarray(rng.standard_normal((7, 4)))
    sm = Softmax()
    s = sm.forward(x)
    J = host(sm.jacobian())
    assert J.shape == (7, 4, 4)
    via_jacobian = np.einsum("nij,nj->ni", J, host(dy))
    np.testing.assert_allclose(host(sm.backward(dy)), via_jacobian, rtol=1e-12, atol=1e-14)
    # diag(s) - s s^T, written out for one sample
    s0 = host(s)[0]
    np.testing.assert_allclose(J[0], np.diag(s0) - np.outer(s0, s0), rtol=1e-12)


@pytest.mark.parametrize("cls", [ReLU, Softmax, Sigmoid, Linear])
def test_activation_gradients_match_numerical(cls):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3))
    x[np.abs(x) < 0.05] = 0.3  # keep away from ReLU's kink
    dy = rng.standard_normal((4, 3))
    act = cls()
    act.forward(x)
    dx = act.backward(dy)
    num = numerical_grad(lambda z: float(np.sum(cls().forward(z) * dy)), x.copy())
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-9)


def test_sigmoid_and_predictions(backend):
    sg = Sigmoid()
    out = sg.forward(backend.asarray(np.array([[0.0], [100.0], [-100.0]], dtype=np.float32)))
    np.testing.assert_allclose(host(out)[:, 0], [0.5, 1.0, 0.0], atol=1e-7)
    np.testing.assert_array_equal(host(sg.predictions(out))[:, 0], [0, 1, 0])
    probs = backend.asarray(np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], dtype=np.float32))
    np.testing.assert_array_equal(host(Softmax().predictions(probs)), [1, 0])


def test_softmax_jacobian_function_matches_outer_products():
    s = np.array([[0.2, 0.3, 0.5]])
    np.testing.assert_allclose(softmax_jacobian(s)[0], np.diag(s[0]) - np.outer(s[0], s[0]))
