"""Model: training on every backend, mini-batches, callbacks, bad input, divergence."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from _util import host
from xpnet.errors import BackendError, DivergenceError
from xpnet.nn.activations import Linear, ReLU, Sigmoid, Softmax
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    MeanSquaredError,
    softmax_crossentropy_backward,
)
from xpnet.nn.optimizers import SGD, Adam


def classifier(backend, seed=0, hidden=16, dropout=0.0, lr=0.02, **options):
    model = xpnet.Model(backend=backend, seed=seed, **options)
    model.add(Dense(2, hidden, weight_l2=5e-4, bias_l2=5e-4))
    model.add(ReLU())
    if dropout:
        model.add(Dropout(dropout))
    model.add(Dense(hidden, 3))
    model.add(Softmax())
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=lr, decay=1e-4))
    return model


def test_training_learns_the_spiral_on_every_backend(backend):
    X, y = xpnet.datasets.spiral(100, 3, seed=0, backend=backend)
    model = classifier(backend, hidden=64, dropout=0.1, lr=0.05)
    history = model.train(X, y, epochs=300, log_every=100, validation_data=(X, y))
    assert history["epoch"] == [100, 200, 300]
    assert history["loss"][-1] < history["loss"][0] < 1.1
    assert history["acc"][-1] > 0.55
    assert set(history.validation) == {"acc", "loss"}
    out = model.predict(X)
    assert out.dtype == backend.xp.float32 and backend.is_array(out)
    for p in model.parameters().values():
        assert p.dtype == backend.xp.float32 and backend.is_array(p)


def test_same_seed_same_start_on_every_backend(backend):
    ref = classifier("numpy")
    model = classifier(backend)
    for (name, p), q in zip(model.parameters().items(), ref.parameters().values(), strict=True):
        np.testing.assert_array_equal(host(p), q, err_msg=name)


def test_backends_agree_after_training(backend):
    X, y = xpnet.datasets.spiral(50, 3, seed=1, backend=backend)
    Xn, yn = xpnet.datasets.spiral(50, 3, seed=1)
    h = classifier(backend).train(X, y, epochs=50, log_every=50)
    hn = classifier("numpy").train(Xn, yn, epochs=50, log_every=50)
    assert h["loss"][-1] == pytest.approx(hn["loss"][-1], rel=1e-3)


def test_fused_path_equals_separate_softmax_and_crossentropy_gradients(np_backend):
    X, y = xpnet.datasets.spiral(20, 3, seed=0)
    model = classifier("numpy")
    out = model.forward(X, training=True)
    model.check_ready(training=True)
    model.backward(out, y)
    fused = {k: v.copy() for k, v in model.layers[2].grads.items()}
    # the unfused chain: CE backward then Softmax backward
    d = CategoricalCrossentropy().backward(out, y)
    d = model.layers[-1].backward(d)
    model.layers[2].backward(d)
    for k in fused:
        np.testing.assert_allclose(fused[k], model.layers[2].grads[k], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("joint", [True, False])
def test_keep_input_grads_keeps_the_last_backward_passs_gradient_at_each_input(joint):
    """xpnet.book's dinputs after train: the gradient at each layer's input (and at the
    loss's), None where nothing computed it; nothing is kept by default."""
    X, y = xpnet.datasets.spiral(20, 3, seed=0)
    model = classifier("numpy")
    if not joint:  # a loss without a joint gradient with the last layer
        model = xpnet.Model(seed=0)
        for layer in (Dense(2, 16), ReLU(), Dense(16, 3), Sigmoid()):
            model.add(layer)
        model.set(loss=MeanSquaredError(), optimizer=Adam())
        y = np.eye(3, dtype=np.float32)[y]
    model.train(X, y, epochs=1)
    assert model.input_grads == []
    model.keep_input_grads = True
    model.train(X, y, epochs=1)
    grads = model.input_grads
    assert len(grads) == 5 and grads[0] is None  # (the first layer's: nothing needs it)
    assert [tuple(g.shape) for g in grads[1:4]] == [(60, 16), (60, 16), (60, 3)]
    assert (grads[4] is None) == joint
    out = model.forward(X, training=True)
    model.backward(out, y)
    grads = model.input_grads
    if joint:
        assert grads[4] is None
        np.testing.assert_array_equal(grads[3], softmax_crossentropy_backward(out, y))
    else:
        np.testing.assert_array_equal(grads[4], model.loss.backward(out, y))
        np.testing.assert_array_equal(grads[3], model.layers[3].backward(grads[4]))
    for i in (2, 1):  # each is the backward pass of the one after it
        np.testing.assert_array_equal(grads[i], model.layers[i].backward(grads[i + 1]))


def test_minibatches_shuffle_and_callbacks():
    X, y = xpnet.datasets.spiral(60, 3, seed=2)
    model = classifier("numpy")
    seen = []

    def stop_at_20(model, epoch, logs):
        seen.append((epoch, logs["loss"]))
        return epoch >= 20

    history = model.train(X, y, epochs=100, batch_size=32, shuffle=True, log_every=10,
                          callbacks=[stop_at_20])
    assert [e for e, _ in seen] == [10, 20]
    assert history.stopped_early and len(history) == 2
    assert model.optimizer.iterations == 20 * 6  # ceil(180 / 32) steps per epoch


def test_batch_callbacks_see_each_batchs_metrics_as_a_run_on_that_batch_logs_them():
    """What the book's chapter 19 prints per step: a run on one batch logs it."""
    X, y = xpnet.datasets.spiral(30, 3, seed=2)
    seen = []
    model = classifier("numpy")
    model.train(X, y, epochs=2, batch_size=32, log_every=None,
                batch_callbacks=[lambda _model, step, logs: seen.append((step, logs))])
    assert [step for step, _ in seen] == [0, 1, 2] * 2  # ceil(90 / 32) batches an epoch
    alone = classifier("numpy")
    for epoch, (step, logs) in zip([1, 1, 1, 2, 2, 2], seen, strict=True):
        lo = 32 * step
        one = alone.train(X[lo:lo + 32], y[lo:lo + 32], epochs=1).records[0]
        assert logs == {**one, "epoch": epoch}
    with pytest.raises(TypeError, match=r"each batch_callback is called as "
                                        r"batch_callback\(model, step, logs\)"):
        model.train(X, y, batch_callbacks=[lambda model, logs: None])


def test_binary_and_regression_models_train():
    X, y = xpnet.datasets.spiral(100, 2, seed=0)
    binary = xpnet.Model(seed=0)
    for layer in (Dense(2, 32), ReLU(), Dense(32, 1), Sigmoid()):
        binary.add(layer)
    binary.set(loss=BinaryCrossentropy(), optimizer=Adam(learning_rate=0.01))
    hb = binary.train(X, y[:, None], epochs=200, log_every=200)
    assert hb["acc"][-1] > 0.6

    Xs, ys = xpnet.datasets.sine(200)
    reg = xpnet.Model(seed=0)
    for layer in (Dense(1, 32, init_scale=0.1), ReLU(), Dense(32, 1, init_scale=0.1), Linear()):
        reg.add(layer)
    reg.set(loss=MeanSquaredError(), optimizer=Adam(learning_rate=0.01))
    hr = reg.train(Xs, ys, epochs=300, log_every=100)
    assert hr["loss"][-1] < hr["loss"][0]


def test_divergence_stops_with_the_epoch():
    X, y = xpnet.datasets.sine(50)
    model = xpnet.Model(seed=0)
    for layer in (Dense(1, 8, init_scale=1.0), ReLU(), Dense(8, 1, init_scale=1.0), Linear()):
        model.add(layer)
    model.set(loss=MeanSquaredError(), optimizer=SGD(learning_rate=1e6))
    with pytest.raises(DivergenceError, match=r"training diverged at epoch (\d+)") as info:
        model.train(X, y, epochs=50)
    assert 1 <= info.value.epoch <= 50


@pytest.mark.parametrize(("make", "error", "pattern"), [
    (lambda X, y: (X[:, :1], y), ValueError, "has 1 features but the first layer"),
    (lambda X, y: (X[:, 0], y), ValueError, "non-empty 2-D array"),
    (lambda X, y: (X[:0], y[:0]), ValueError, "non-empty 2-D array"),
    (lambda X, y: (np.where(np.arange(X.shape[0])[:, None] == 3, np.nan, X).astype(np.float32),
                   y), ValueError, "NaN or infinite"),
    (lambda X, y: (X, y + 5), ValueError, r"class labels must lie in \[0, 2\]"),
    (lambda X, y: (X, y.astype(np.float32)), TypeError, "integer class labels"),
    (lambda X, y: (X, y[:-1]), ValueError, "they must match"),
    (lambda X, y: (X.astype(np.complex64), y), TypeError, "must hold real numbers"),
    (lambda X, y: (X.astype(str), y), TypeError, r"np.asarray\(X, dtype=np.float32\)"),
])
def test_bad_training_input_gets_a_clear_error(make, error, pattern):
    X, y = xpnet.datasets.spiral(10, 3, seed=0)
    model = classifier("numpy")
    with pytest.raises(error, match=pattern):
        model.train(*make(X, y), epochs=1)


def test_arrays_from_another_backend_are_refused():
    pytest.importorskip("array_api_strict")
    X, y = xpnet.datasets.spiral(10, 3, seed=0, backend="array_api_strict")
    model = classifier("numpy")
    with pytest.raises(BackendError, match=r"backend 'array_api_strict'.*Arrays of two backends"):
        model.train(X, y, epochs=1)


def test_model_needs_loss_and_optimizer():
    model = xpnet.Model()
    model.add(Dense(2, 2))
    X, y = xpnet.datasets.spiral(5, 2, seed=0)
    with pytest.raises(RuntimeError, match=r"model.set\(loss=..., optimizer=...\)"):
        model.train(X, y)
