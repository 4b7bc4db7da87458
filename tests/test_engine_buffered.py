"""The buffered engine: training into reused buffers changes no value and bounds the memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import xpnet
import xpnet.backend
from xpnet.engine import buffered
from xpnet.nn.activations import Linear, ReLU, Softmax
from xpnet.nn.layers import Dense, Dropout
from xpnet.nn.losses import CategoricalCrossentropy, MeanSquaredError
from xpnet.nn.optimizers import Adam


def spiral_model(hidden=16, dropout=0.0, seed=0):
    model = xpnet.Model(backend="numpy", seed=seed)
    model.add(Dense(2, hidden, weight_l2=5e-4))
    model.add(ReLU())
    if dropout:
        model.add(Dropout(dropout))
    model.add(Dense(hidden, hidden))
    model.add(ReLU())
    model.add(Dense(hidden, 3))
    model.add(Softmax())
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam(learning_rate=0.02, decay=1e-3))
    return model


def regression_model():
    model = xpnet.Model(backend="numpy", seed=1)
    model.add(Dense(1, 16))
    model.add(ReLU())
    model.add(Dropout(0.1))
    model.add(Dense(16, 1))
    model.add(Linear())
    model.set(loss=MeanSquaredError(), optimizer=Adam(learning_rate=0.005))
    return model


def _openblas() -> bool:
    try:
        return "openblas" in np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:
        return False


#: Folding the bias into the first layer's product gives the bits of ``x @ W + b`` with
#: OpenBLAS (products accumulated in order, the bias last); other BLAS may round differently.
OPENBLAS = _openblas()


def assert_same(fast, plain, fh, ph, exact=True):
    if exact:
        assert fh.records == ph.records
        for name, value in fast.parameters().items():
            np.testing.assert_array_equal(value, plain.parameters()[name], err_msg=name)
    else:
        for name, value in fast.parameters().items():
            np.testing.assert_allclose(value, plain.parameters()[name], rtol=1e-4, atol=1e-6)


def test_folded_bias_product_equals_the_product_plus_the_bias():
    rng = np.random.default_rng(3)
    ops = buffered.BufferedOps(xpnet.backend.resolve("numpy"))
    for n, d, h in [(3000, 2, 64), (999, 1, 7), (64, 4, 512)]:
        x = rng.standard_normal((n, d)).astype(np.float32)
        W = (0.01 * rng.standard_normal((d, h))).astype(np.float32)
        b = rng.standard_normal((1, h)).astype(np.float32)
        folded = ops.affine(x, W, b)
        assert ops.affine(x, W, b) is folded  # into the same buffer
        if OPENBLAS:
            np.testing.assert_array_equal(folded, x @ W + b)
        else:
            np.testing.assert_allclose(folded, x @ W + b, rtol=1e-6, atol=1e-7)


def train_both(monkeypatch, make, X, y, **kwargs):
    """Train twice from the same seed: with buffered engines, then with the plain one."""
    fast = make()
    fast_history = fast.train(X, y, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(buffered, "views", lambda base, layers, *a, **k: [base] * len(layers))
        plain = make()
        plain_history = plain.train(X, y, **kwargs)
    return fast, fast_history, plain, plain_history


@pytest.mark.parametrize("dropout", [0.0, 0.2])
@pytest.mark.parametrize("batch_size", [None, 64])
def test_training_into_buffers_is_bit_identical(monkeypatch, dropout, batch_size):
    X, y = xpnet.datasets.spiral(50, 3, seed=0)  # 150 samples: batches of 64, 64 and 22
    fast, fh, plain, ph = train_both(
        monkeypatch, lambda: spiral_model(dropout=dropout), X, y, epochs=30,
        batch_size=batch_size, shuffle=batch_size is not None, log_every=10)
    assert_same(fast, plain, fh, ph, exact=OPENBLAS)


def test_training_into_buffers_without_folding_is_bit_identical(monkeypatch):
    monkeypatch.setattr(buffered, "FOLD_MAX_INPUTS", 0)
    X, y = xpnet.datasets.spiral(50, 3, seed=0)
    fast, fh, plain, ph = train_both(monkeypatch, lambda: spiral_model(dropout=0.2), X, y,
                                     epochs=30, log_every=10)
    assert_same(fast, plain, fh, ph)


def test_regression_with_a_non_fused_loss_is_bit_identical(monkeypatch):
    X, y = xpnet.datasets.sine(200)
    fast, fh, plain, ph = train_both(monkeypatch, regression_model, X, y, epochs=20,
                                     log_every=5)
    assert_same(fast, plain, fh, ph, exact=OPENBLAS)


def test_buffered_engines_are_lent_only_for_a_training_step():
    X, y = xpnet.datasets.spiral(20, 3, seed=0)
    model = spiral_model(dropout=0.1)
    assert model.engine == "buffered"
    kept = []

    def record(m, epoch, logs):
        # a callback sees the model's own (plain) engine, and what it predicts stays intact
        assert all(layer.ops is m.ops for layer in m.layers)
        hidden = m.layers[1].forward(m.layers[0].forward(X, False), False)
        kept.append((hidden, hidden.copy()))

    model.train(X, y, epochs=3, log_every=1, callbacks=[record])
    assert all(layer.ops is model.ops for layer in model.layers)
    for hidden, copy in kept:
        np.testing.assert_array_equal(hidden, copy)


def test_the_engine_says_which_arrays_a_layer_may_overwrite():
    model = spiral_model(dropout=0.1)
    views = buffered.views(model.ops, model.layers, model.loss)
    seen = {layer.name: (v.overwrite_input, v.overwrite_dy)
            for layer, v in zip(model.layers, views, strict=True)}
    # ReLU may overwrite the Dense output before it; Dropout may not overwrite the ReLU
    # output (ReLU keeps it for its backward pass); only ReLU and Dropout write over
    # anything (Dense keeps its input; Softmax's gradient is fresh anyway)
    assert seen == {
        "Dense[0]": (False, False), "ReLU[1]": (True, True), "Dropout[2]": (False, True),
        "Dense[3]": (False, False), "ReLU[4]": (True, True), "Dense[5]": (False, False),
        "Softmax[6]": (False, False),
    }

    class Custom(xpnet.losses.CategoricalCrossentropy):
        pass

    class Keeps(xpnet.layers.Layer):  # a user's layer: it may keep anything it is given
        def forward(self, x, training=True):
            self.x = x
            return self.ops.relu(x)

    # a loss of the user's may keep its gradient; a layer of the user's runs the plain
    # engine; a component that is not a layer shares nothing
    relu_last = [*model.layers[:2]]
    assert not buffered.views(model.ops, relu_last, Custom())[-1].overwrite_dy
    assert buffered.views(model.ops, relu_last, model.loss)[-1].overwrite_dy
    mixed = buffered.views(model.ops, [model.layers[0], Keeps(), model.layers[1]], model.loss)
    assert mixed[1] is model.ops and isinstance(mixed[2], buffered.BufferedOps)
    assert buffered.views(model.ops, [*model.layers, object()], model.loss) == [model.ops] * 8


@pytest.mark.parametrize(("dropout", "arrays"), [(0.0, 2.0), (0.1, 3.25)])
def test_peak_memory_stays_near_the_arrays_the_maths_needs(dropout, arrays):
    # one hidden layer, wide enough that the (n, hidden) arrays dominate everything else
    n_per_class, hidden = 1000, 256
    X, y = xpnet.datasets.spiral(n_per_class, 3, seed=0)
    model = xpnet.Model(backend="numpy", seed=0)
    model.add(Dense(2, hidden))
    model.add(ReLU())
    if dropout:
        model.add(Dropout(dropout))
    model.add(Dense(hidden, 3))
    model.add(Softmax())
    model.set(loss=CategoricalCrossentropy(), optimizer=Adam())
    model.train(X, y, epochs=1, log_every=None)  # optimizer state exists before tracing
    activation = X.shape[0] * hidden * 4
    tracemalloc.start()
    try:
        model.train(X, y, epochs=3, log_every=None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # needed: the hidden activation and one gradient of its size (plus, with dropout, the
    # dropout output and a one-byte mask); allocating afresh each step peaked at ~4.3x
    assert peak <= 1.25 * arrays * activation, peak / activation


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_large_arrays_run_in_row_blocks_with_the_same_bits(monkeypatch, dropout):
    # 1500 x 512 float32 hidden arrays (3 MB): past BLOCK_MIN_BYTES, so products, ReLU's
    # backward pass and dropout run block by block, and x^T @ dy as (dy^T @ x)^T
    X, y = xpnet.datasets.spiral(500, 3, seed=2)
    assert X.shape[0] * 512 * 4 > buffered.BLOCK_MIN_BYTES
    blocks = []
    original = buffered.BufferedOps._blocks
    monkeypatch.setattr(buffered.BufferedOps, "_blocks",
                        lambda self, *a: blocks.append(len(r := original(self, *a))) or r)
    fast, fh, plain, ph = train_both(monkeypatch, lambda: spiral_model(hidden=512,
                                     dropout=dropout), X, y, epochs=3, log_every=1)
    assert max(blocks) == 2  # 1500 rows: a block of 1024 and one of 476
    assert_same(fast, plain, fh, ph, exact=OPENBLAS)
