"""Optimizers: first steps against hand-computed formulas; the book's decay schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from _util import host
from xpnet.nn.optimizers import SGD, Adagrad, Adam, RMSprop


class _Param:
    """The minimum an optimizer needs: params, grads and the namespace."""

    def __init__(self, backend, p, g):
        self.backend = backend
        self.xp = backend.xp
        self.params = {"w": backend.asarray(np.array(p, dtype=np.float32))}
        self.grads = {"w": backend.asarray(np.array(g, dtype=np.float32))}


def test_decay_schedule_matches_the_book():
    opt = Adam(learning_rate=0.05, decay=5e-5)
    lrs = []
    for _ in range(3):
        opt.pre_update_params()
        lrs.append(opt.current_learning_rate)
        opt.post_update_params()
    assert lrs == [0.05 * (1.0 / (1.0 + 5e-5 * t)) for t in range(3)]
    opt.iterations = 99
    opt.pre_update_params()
    assert repr(opt.current_learning_rate) == "0.04975371909050202"  # reference line 2


def test_adam_two_steps_by_hand(backend):
    layer = _Param(backend, [1.0, -2.0], [0.5, -0.1])
    opt = Adam(learning_rate=0.1, decay=0.0)
    p, m, v = np.array([1.0, -2.0]), 0.0, 0.0
    for _ in range(2):
        g = np.array([0.5, -0.1])
        t = opt.iterations + 1
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        p = p - 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-7)
        opt.step([layer])
    np.testing.assert_allclose(host(layer.params["w"]), p, rtol=1e-6)
    np.testing.assert_allclose(host(layer.optimizer_state["w"]["m"]), m, rtol=1e-6)
    np.testing.assert_allclose(host(layer.optimizer_state["w"]["v"]), v, rtol=1e-6)
    assert layer.params["w"].dtype == backend.xp.float32


def test_sgd_with_and_without_momentum(backend):
    plain = _Param(backend, [1.0], [2.0])
    SGD(learning_rate=0.5).step([plain])
    assert host(plain.params["w"]).tolist() == [0.0]
    mom = _Param(backend, [1.0], [2.0])
    opt = SGD(learning_rate=0.5, momentum=0.9)
    opt.step([mom])
    opt.step([mom])  # u = 0.9 * -1 - 1 = -1.9
    np.testing.assert_allclose(host(mom.params["w"]), [1.0 - 1.0 - 1.9], rtol=1e-6)
    opt.momentum = 0.0  # set later: plain SGD from here on, the velocity kept aside
    opt.step([mom])
    np.testing.assert_allclose(host(mom.params["w"]), [-1.9 - 1.0], rtol=1e-6)
    opt.momentum = 0.5  # and back: the kept velocity goes on
    opt.step([mom])  # u = 0.5 * -1.9 - 1 = -1.95
    np.testing.assert_allclose(host(mom.params["w"]), [-2.9 - 1.95], rtol=1e-6)


def test_adagrad_and_rmsprop_first_step(backend):
    a = _Param(backend, [1.0], [2.0])
    Adagrad(learning_rate=0.1).step([a])
    np.testing.assert_allclose(host(a.params["w"]), [1.0 - 0.1 * 2 / (2 + 1e-7)], rtol=1e-6)
    r = _Param(backend, [1.0], [2.0])
    RMSprop(learning_rate=0.01, rho=0.9).step([r])
    cache = 0.1 * 4.0
    np.testing.assert_allclose(host(r.params["w"]), [1.0 - 0.01 * 2 / (math.sqrt(cache) + 1e-7)],
                               rtol=1e-6)


def test_float64_gradients_update_float32_parameters_like_the_book(np_backend):
    layer = _Param(np_backend, [1.0], [0.0])
    layer.grads["w"] = np.array([0.3], dtype=np.float64)
    Adam(learning_rate=0.01).step([layer])
    assert layer.params["w"].dtype == np.float32
    assert layer.optimizer_state["w"]["m"].dtype == np.float64


@pytest.mark.parametrize("kwargs", [{"learning_rate": 0.0}, {"learning_rate": 0.1, "decay": -1}])
def test_optimizer_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError, match="must be"):
        Adam(**kwargs)


def test_a_learning_rate_set_after_construction_is_checked_and_used():
    """A schedule of one's own sets optimizer.learning_rate: without decay it used to be
    ignored (the current rate kept the old value), and a negative one ran gradient ascent."""
    import xpnet
    from xpnet.nn import CategoricalCrossentropy, Dense, ReLU, Softmax

    X, y = xpnet.datasets.spiral(samples=20, classes=3, seed=0)

    def model(decay):
        m = xpnet.Model(seed=0)
        for layer in (Dense(2, 8), ReLU(), Dense(8, 3), Softmax()):
            m.add(layer)
        m.set(loss=CategoricalCrossentropy(), optimizer=Adam(0.01, decay=decay))
        return m

    m = model(0.0)
    m.optimizer.learning_rate = 0.5
    assert m.train(X, y, epochs=2).records[-1]["lr"] == 0.5
    for decay in (0.0, 1e-3):
        for bad, kind, said in ((-0.5, ValueError, "must be > 0, got -0.5"),
                                ("0.1", TypeError, "must be a number, got the string '0.1'")):
            def schedule(model_, epoch, logs, bad=bad):
                if epoch == 1:
                    model_.optimizer.learning_rate = bad

            with pytest.raises(kind, match=rf"learning_rate {said}"):
                model(decay).train(X, y, epochs=3, callbacks=[schedule])
    opt = Adam(0.01, decay=1e-3)
    for name, bad in (("decay", -1), ("beta_1", 1.0), ("epsilon", 0)):
        with pytest.raises(ValueError, match=rf"{name} must be"):
            setattr(opt, name, bad)  # refused where it is set, not steps later
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        SGD(0.1).momentum = -3
