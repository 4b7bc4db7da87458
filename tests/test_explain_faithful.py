"""Explain mode in faithful mode (``seed="nnfs"``): every value a page shows is, bit for bit,
what the book's own classes (:mod:`xpnet.bench.nnfs_book`) compute from the same inputs.

Each test takes the recorded events of ``explain(topic, seed="nnfs")``, feeds the book's
class the inputs the library's component received, and compares the outputs with ``==``.
The book's ``np.dot`` under ``nnfs.init()`` is float64 products cast to float32 (see
docs/book-side-by-side.md): :func:`book_dot` puts that in place around the book's calls.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

from xpnet.bench import nnfs_book as book
from xpnet.explain import explain
from xpnet.trace import Event

STEPS = 2


def nnfs_dot(a, b):  # the np.dot of nnfs.init()
    return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)


def book_dot():
    return mock.patch.object(np, "dot", nnfs_dot)


@pytest.fixture(autouse=True)
def _keep_numpys_global_stream():
    """The book draws from NumPy's global stream: leave it as the test found it."""
    state = np.random.get_state()  # noqa: NPY002
    yield
    np.random.set_state(state)  # noqa: NPY002


def book_stream() -> None:
    """NumPy's global stream where the tiny network's layers draw from it in faithful mode:
    seeded 0 by nnfs.init(), after the spiral data's draws (randn(3) per class)."""
    np.random.seed(0)  # noqa: NPY002  (the book's stream is the global one)
    for _ in range(3):
        np.random.randn(3)  # noqa: NPY002


def recorded(topic: str, steps: int = STEPS) -> tuple[dict, list[Event]]:
    ex = explain(topic, steps=steps, seed="nnfs")
    return ex.config, ex.events


def value(events: list[Event], component: str, quantity: str, step: int = 1,
          param: str = "", phase: str | None = None, wide: bool = False) -> np.ndarray:
    found = [e for e in events if e.component == component and e.quantity == quantity
             and e.step == step and e.param == param and (phase is None or e.phase == phase)]
    assert found, (component, quantity, step, param)
    # the tracer keeps float64 copies; the model computed in float32 (exactly representable),
    # except the learning rate and, as in the book, the dropout mask and what it multiplies
    wide = wide or quantity in ("lr", "mask")
    return np.asarray(found[0].value, dtype=np.float64 if wide else np.float32)


def same(ours, books) -> None:
    """Bit for bit: the same values (compared exactly, as float64)."""
    np.testing.assert_array_equal(np.asarray(ours, dtype=np.float64),
                                  np.asarray(books, dtype=np.float64), strict=True)


def test_dense_forward_backward_penalties_and_initial_weights_are_the_books():
    config, evs = recorded("dense")
    cfg = config["layers"][2]["config"]
    # the initial weights: the book's stream (nnfs.init() seeds NumPy with 0), after the
    # spiral's draws (randn(3) per class), scaled by the tiny network's init_scale
    book_stream()
    first = book.Layer_Dense(2, 4, init_scale=0.5)
    out = book.Layer_Dense(4, 3, cfg["weight_l1"], cfg["weight_l2"], cfg["bias_l1"],
                           cfg["bias_l2"], init_scale=cfg["init_scale"])
    # the book keeps float64 weights; the model stores them in its float32
    same(value(evs, "Dense[0]", "W"), first.weights.astype(np.float32))
    same(value(evs, "Dense[2]", "W"), out.weights.astype(np.float32))
    same(value(evs, "Dense[2]", "b"), out.biases)
    for t in range(1, STEPS + 1):
        out.weights, out.biases = value(evs, "Dense[2]", "W", t), value(evs, "Dense[2]", "b", t)
        with book_dot():
            out.forward(value(evs, "Dense[2]", "x", t))
            same(value(evs, "Dense[2]", "y", t), out.output)
            out.backward(value(evs, "Dense[2]", "dy", t))
        same(value(evs, "Dense[2]", "dW", t), out.dweights)
        same(value(evs, "Dense[2]", "db", t), out.dbiases)
        same(value(evs, "Dense[2]", "dx", t), out.dinputs)
        same(value(evs, "Dense[2]", "reg_loss", t), book.Loss().regularization_loss(out))


def test_relu_forward_and_backward_are_the_books():
    _, evs = recorded("relu")
    relu = book.Activation_ReLU()
    for t in range(1, STEPS + 1):
        relu.forward(value(evs, "ReLU[1]", "x", t))
        same(value(evs, "ReLU[1]", "y", t), relu.output)
        relu.backward(value(evs, "ReLU[1]", "dy", t))
        same(value(evs, "ReLU[1]", "dx", t), relu.dinputs)


def test_dropout_mask_output_and_gradient_are_the_books():
    _, evs = recorded("dropout")
    # the book's layers drawn from the book's stream in the same order as the network's
    book_stream()
    book.Layer_Dense(2, 4, init_scale=0.5), book.Layer_Dense(4, 3, init_scale=0.5)
    dropout = book.Layer_Dropout(0.25)
    for t in range(1, STEPS + 1):
        dropout.forward(value(evs, "Dropout[2]", "x", t))
        same(value(evs, "Dropout[2]", "mask", t), dropout.binary_mask)
        same(value(evs, "Dropout[2]", "y", t, wide=True), dropout.output)
        dropout.backward(value(evs, "Dropout[2]", "dy", t))
        same(value(evs, "Dropout[2]", "dx", t, wide=True), dropout.dinputs)


def test_softmax_forward_loss_and_fused_backward_are_the_books():
    _, evs = recorded("softmax")
    softmax, loss = book.Activation_Softmax(), book.Loss_CategoricalCrossentropy()
    fused = book.Activation_Softmax_Loss_CategoricalCrossentropy()
    for t in range(1, STEPS + 1):
        softmax.forward(value(evs, "Softmax[3]", "x", t))
        same(value(evs, "Softmax[3]", "y", t), softmax.output)
        y_one_hot = value(evs, "SoftmaxCrossentropy", "y_one_hot", t)
        fused.backward(value(evs, "SoftmaxCrossentropy", "s", t), y_one_hot)
        same(value(evs, "SoftmaxCrossentropy", "dx", t), fused.dinputs)
    # the evaluation pass after training: the loss's backward, then the book's loop
    t = STEPS + 1
    s, y = value(evs, "Softmax[3]", "y", t), value(evs, "SoftmaxCrossentropy", "y_one_hot", t)
    loss.backward(s, y)
    same(value(evs, "Softmax[3]", "dy", t), loss.dinputs)
    softmax.output = s
    with book_dot():
        softmax.backward(loss.dinputs)
    same(value(evs, "Softmax[3]", "dx_loop", t), softmax.dinputs)
    # the vectorised form computes the same gradient in another order: equal to rounding
    np.testing.assert_allclose(value(evs, "Softmax[3]", "dx", t), softmax.dinputs,
                               rtol=0, atol=1e-6)


def test_cross_entropy_is_the_books():
    _, evs = recorded("loss")
    loss = book.Loss_CategoricalCrossentropy()
    for t in range(1, STEPS + 1):
        y_pred = value(evs, "CategoricalCrossentropy", "y_pred", t)
        labels = np.argmax(value(evs, "SoftmaxCrossentropy", "y_one_hot", t), axis=1)
        same(value(evs, "CategoricalCrossentropy", "sample_losses", t),
             loss.forward(y_pred, labels))
        same(value(evs, "CategoricalCrossentropy", "data_loss", t),
             loss.calculate(y_pred, labels))


BOOK_OPTIMIZERS = {
    "adam": (book.Optimizer_Adam, "Adam", {"m": "momentums", "v": "cache"}),
    "sgd": (book.Optimizer_SGD, "SGD", {"update": "momentums"}),
    "rmsprop": (book.Optimizer_RMSprop, "RMSprop", {"cache": "cache"}),
    "adagrad": (book.Optimizer_Adagrad, "Adagrad", {"cache": "cache"}),
}


class _Layer:
    """What the book's optimizers update: anything with weights, biases and their grads."""


@pytest.mark.parametrize("topic", BOOK_OPTIMIZERS)
def test_every_optimizer_update_is_the_books(topic):
    config, evs = recorded(topic, steps=4)
    cls, name, states = BOOK_OPTIMIZERS[topic]
    settings = {k: v for k, v in config["optimizer"].items() if k != "class"}
    optimizer = cls(**settings)
    layers = {}
    for dense in ("Dense[0]", "Dense[2]"):
        layer = layers[dense] = _Layer()
        layer.weights = value(evs, name, "p_before", 1, f"{dense}.W")
        layer.biases = value(evs, name, "p_before", 1, f"{dense}.b")
    for t in range(1, 5):
        optimizer.pre_update_params()
        same(value(evs, name, "lr", t), np.float64(optimizer.current_learning_rate))
        for dense, layer in layers.items():
            layer.dweights = value(evs, name, "g", t, f"{dense}.W")
            layer.dbiases = value(evs, name, "g", t, f"{dense}.b")
            optimizer.update_params(layer)
            same(value(evs, name, "p_after", t, f"{dense}.W"), layer.weights)
            same(value(evs, name, "p_after", t, f"{dense}.b"), layer.biases)
            for quantity, attr in states.items():
                same(value(evs, name, quantity, t, f"{dense}.W"),
                     getattr(layer, f"weight_{attr}"))
                same(value(evs, name, quantity, t, f"{dense}.b"),
                     getattr(layer, f"bias_{attr}"))
        optimizer.post_update_params()
