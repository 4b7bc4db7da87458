"""Explain mode: what Adam, softmax and a dense layer compute, step by step, from the values
the library computes (recorded by :mod:`xpnet.trace`), with the maths beside them.

``explain(topic, steps=3)`` trains a tiny network (or a preset) under a tracer and returns an
:class:`Explanation`: its events (the raw data) and renderers for text, Markdown and JSON
lines, short by default and complete with ``full=True``. ``xpnet explain TOPIC`` is the
command-line face of it; :func:`plot` draws a topic over a whole run.

One module per family: :mod:`.optimizers` (adam, sgd, rmsprop, adagrad), :mod:`.layers`
(softmax, dense, relu, dropout, loss), :mod:`.plots`; :mod:`.network` holds the tiny network.
"""

from __future__ import annotations

from typing import Any

from .. import presets, trace
from ..model import Model
from ..nn.activations import Softmax
from ..nn.layers import Dense
from ..nn.losses import CategoricalCrossentropy, softmax_crossentropy_backward
from ..random import SeedLike
from ..trace import Tracer
from .layers import (
    render_activation,
    render_dense,
    render_loss,
    render_softmax,
    softmax_backward_cost,
    softmax_backward_loop,
)
from .network import (
    BOOK_CLASSES,
    MAX_STEPS,
    OPTIMIZERS,
    TOPICS,
    check_steps,
    fit_preset,
    known_topic,
    tiny_model,
)
from .optimizers import render_adam, render_optimizer
from .plots import adam_plot, plot
from .render import Explanation

__all__ = ["BOOK_CLASSES", "MAX_STEPS", "OPTIMIZERS", "TOPICS", "Explanation", "adam_plot",
           "check_steps", "explain", "fit_preset", "plot", "softmax_backward_cost",
           "tiny_model"]

RENDERERS = {"adam": render_adam, "sgd": render_optimizer, "rmsprop": render_optimizer,
             "adagrad": render_optimizer, "softmax": render_softmax, "dense": render_dense,
             "relu": render_activation, "dropout": render_activation, "loss": render_loss}


def check_topic(topic: str, steps: int) -> None:
    """Raise a ValueError that names the topics, or the bad step count."""
    known_topic(topic)
    check_steps(steps)


def explain(topic: str, *, steps: int = 3, preset: str | None = None, backend: Any = "numpy",
            seed: SeedLike = 0) -> Explanation:
    """Train for ``steps`` steps under a tracer and explain ``topic`` from the events.

    Parameters
    ----------
    topic : str
        One of :data:`TOPICS`.
    steps : int
        Training steps (full-batch epochs) to record.
    preset : str, optional
        Explain on a book chapter's model (``ch15`` ...) instead of the tiny network; arrays
        are then summarised rather than printed.
    seed : int or "nnfs"
        ``"nnfs"`` is faithful mode: the values are then the book's own, bit for bit.
    """
    check_topic(topic, steps)
    if preset is not None:
        p = presets.get(preset)
        model, (X, y), _ = presets.build(p, backend=backend, seed=seed)
        replaced = fit_preset(topic, preset, model)
        full: bool | str = "auto"
    else:
        model, X, y = tiny_model(topic, backend, seed)
        full, replaced = True, None
    tracer = Tracer(full=full, max_size=4096)
    with tracer:
        # metrics every step: the loss topic shows the loss each step computes
        history = model.train(X, y, epochs=steps, log_every=1)
        if topic == "dense":  # the penalty training computed, before each step's update
            dense = [layer for layer in model.layers if isinstance(layer, Dense)][-1]
            for record in history.records:
                trace.emit(dense.name, "forward", step=record["epoch"],
                           reg_loss=record["reg_loss"])
        if topic == "softmax" and isinstance(model.layers[-1], Softmax):
            tracer.step = steps + 1  # an evaluation pass after the recorded training steps
            _softmax_backward_paths(model, X, y)
    config = {
        "steps": steps, "preset": preset, "backend": model.backend.name,
        "seed": seed if isinstance(seed, (int, str)) or seed is None else repr(seed),
        "optimizer": {"class": type(model.optimizer).__name__,
                      **(model.optimizer.get_config() if model.optimizer else {})},
        # the preset's own optimizer, where an optimizer topic swapped in another
        "preset_optimizer": replaced,
        "layers": [{"name": layer.name, "class": type(layer).__name__,
                    "config": layer.get_config()} for layer in model.layers],
    }
    ex = Explanation(topic, tracer.events, config)
    ex.summary, ex.sections = RENDERERS[topic](ex, model)
    return ex


def _softmax_backward_paths(model: Model, X: Any, y: Any) -> None:
    """Run, under the tracer, the three ways of getting the gradient at the logits: the
    book's loop, the vectorised product and the fused shortcut."""
    softmax = model.layers[-1]
    assert isinstance(softmax, Softmax)
    s = model.forward(X, training=False)
    ce = CategoricalCrossentropy()
    dy = ce.backward(s, y)
    softmax.backward(dy)  # Jacobian-vector product, vectorised
    trace.emit(softmax.name, "backward", dx_loop=softmax_backward_loop(model.ops, s, dy))
    softmax_crossentropy_backward(s, y)  # fused
