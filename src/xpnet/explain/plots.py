"""Explain mode over a whole run: one figure per topic (``xpnet explain TOPIC --plot``).

Adam's plot follows a chapter's model (preset ``ch15`` by default); the other topics follow
the tiny network of explain mode (or a preset) for ``steps`` steps, from the values the
library computed (recorded by :mod:`xpnet.trace`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import presets
from ..files import atomic_write_bytes
from ..random import SeedLike
from ..trace import Event, Tracer, by_step
from .network import check_steps, fit_preset, known_topic, tiny_model

__all__ = ["adam_plot", "plot"]


def image_format(path: str | os.PathLike[str]) -> str:
    """The image format ``path``'s suffix names (``png``, ``svg``, ``pdf``...), or a
    ValueError that lists those matplotlib writes."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in formats:
        msg = (f"cannot draw a plot into {str(path)!r}: its name should end in an image "
               f"format, one of {', '.join('.' + f for f in sorted(formats))}; e.g. "
               f"{str(Path(path).with_suffix('.png'))!r}.")
        raise ValueError(msg)
    return suffix


def write_figure(fig: Any, path: str | os.PathLike[str]) -> None:
    """Write ``fig`` into ``path`` in the format its suffix names, atomically (its folder
    is made if missing)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=image_format(path), dpi=100)
    atomic_write_bytes(Path(path), buffer.getvalue())


def _pyplot() -> Any:
    """pyplot on the file-only Agg backend, imported when a plot is drawn: it costs a third
    of a second, which every other explain command would pay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def adam_plot(path: str, *, preset: str = "ch15", steps: int = 2000, backend: Any = "numpy",
              seed: SeedLike = 0) -> dict[str, Any]:
    """Plot Adam over a whole run: the lr schedule, the spread of per-parameter effective
    step sizes lr_t / (sqrt(v_hat) + eps), and |m| and sqrt(v) over time. Returns the data."""
    image_format(path)
    plt = _pyplot()
    p = presets.get(preset)
    model, (X, y), _ = presets.build(p, backend=backend, seed=seed)
    tracer = Tracer(components=["Adam"], quantities={"lr", "m", "v_hat", "v"}, full=True,
                    max_size=10**6)
    with tracer:
        model.train(X, y, epochs=steps, log_every=None)
    eps = model.optimizer.epsilon  # type: ignore[union-attr]
    t = np.array(sorted({e.step for e in tracer.events}))
    lr = np.array([float(e.value) for e in tracer.select(quantity="lr")])  # type: ignore[arg-type]

    (_, v_hat), (_, m), (_, v) = (by_step(tracer.events, q) for q in ("v_hat", "m", "v"))
    eff = [lr[i] / (np.sqrt(v_hat[i]) + eps) for i in range(len(t))]
    q = np.array([np.percentile(e, [5, 50, 95]) for e in eff])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    _schedule_and_spread(axes, t, lr, q, "step-size multiplier lr_t / (sqrt(v_hat) + eps)")
    axes[1].set(ylabel="multiplier of m_hat (per parameter)")
    axes[2].plot(t, [np.median(np.abs(x)) for x in m], label="median |m|")
    axes[2].plot(t, [np.median(np.sqrt(x)) for x in v], label="median sqrt(v)")
    axes[2].set(title="moments", xlabel="step", ylabel="median over parameters",
                yscale="log")
    axes[2].legend()
    fig.suptitle(f"Adam on preset {preset} ({steps} steps)")
    fig.tight_layout()
    write_figure(fig, path)
    plt.close(fig)
    return {"steps": t.tolist(), "lr": lr.tolist(), "effective_step_percentiles": q.tolist()}


#: what each topic's figure records: (components, quantities), None for every component
_RECORD: dict[str, tuple[list[str] | None, set[str]]] = {
    "softmax": (None, {"y"}),
    "dense": (None, {"W"}),
    "relu": (None, {"y"}),
    "dropout": (None, {"mask"}),
    "loss": (["CategoricalCrossentropy"], {"data_loss", "sample_losses"}),
    "sgd": (["SGD"], {"lr", "g", "update"}),
    "rmsprop": (["RMSprop"], {"lr", "g", "update", "cache"}),
    "adagrad": (["Adagrad"], {"lr", "g", "update", "cache"}),
}


def plot(topic: str, path: str, *, steps: int = 2000, preset: str | None = None,
         backend: Any = "numpy", seed: SeedLike = 0) -> dict[str, Any]:
    """Draw ``topic`` over a run of ``steps`` steps into ``path`` and return the plotted data.

    adam: :func:`adam_plot` (preset ``ch15`` unless ``preset`` says otherwise). The others
    train the tiny network of explain mode (or ``preset``): softmax, each class's probability
    for three samples; dense, the output layer's weights and their spread; relu, the fraction
    of active units; dropout, the kept fraction against the keep probability; loss, the mean
    and spread of the sample losses; sgd, rmsprop and adagrad, lr_t, the spread of
    |update| / lr_t and median |g|.
    """
    known_topic(topic)
    image_format(path)  # before the run: a bad name would throw its minutes away
    steps = check_steps(steps)
    if topic == "adam":
        return adam_plot(path, preset=preset or "ch15", steps=steps, backend=backend,
                         seed=seed)
    if preset is not None:
        model, (X, y), _ = presets.build(presets.get(preset), backend=backend, seed=seed)
        fit_preset(topic, preset, model)
    else:
        model, X, y = tiny_model(topic, backend, seed)
    components, quantities = _RECORD[topic]
    names = {"relu": "ReLU", "dropout": "Dropout", "softmax": "Softmax", "dense": "Dense"}
    if components is None:  # the topic's layer: the last of its class
        components = [[layer.name for layer in model.layers
                       if type(layer).__name__ == names[topic]][-1]]
    tracer = Tracer(components=components, quantities=quantities, full=True, max_size=2**31)
    with tracer:  # the loss is computed only on logged steps
        model.train(X, y, epochs=steps, log_every=1 if topic == "loss" else None)
    plt = _pyplot()
    fig, data = _FIGURES[topic](plt, tracer.events, components[0])
    fig.suptitle(f"{topic} over {steps} steps of "
                 f"{'preset ' + preset if preset else 'the tiny network'} "
                 f"({components[0]})")
    fig.tight_layout()
    write_figure(fig, path)
    plt.close(fig)
    return data


def _first(events: list[Event], quantity: str) -> tuple[np.ndarray, np.ndarray]:
    """The steps and each step's first value of ``quantity`` (the training pass's)."""
    found: dict[int, np.ndarray] = {}
    for e in events:
        if e.quantity == quantity and e.step not in found:
            found[e.step] = np.asarray(e.value)
    steps = np.array(sorted(found))
    return steps, np.stack([found[s] for s in steps])


def _softmax(plt: Any, events: list[Event], name: str) -> tuple[Any, dict[str, Any]]:
    t, s = _first(events, "y")  # (steps, n, k)
    shown = list(range(min(3, s.shape[1])))
    fig, axes = plt.subplots(1, len(shown), figsize=(5 * len(shown), 3.6), squeeze=False)
    for ax, i in zip(axes[0], shown, strict=True):
        for c in range(s.shape[2]):
            ax.plot(t, s[:, i, c], label=f"class {c}")
        ax.set(title=f"sample {i}: softmax probabilities", xlabel="step", ylim=(0, 1))
        ax.legend()
    return fig, {"steps": t.tolist(), "samples": shown,
                 "probabilities": s[:, shown, :].tolist()}


def _dense(plt: Any, events: list[Event], name: str) -> tuple[Any, dict[str, Any]]:
    t, W = _first(events, "W")  # (steps, n_in, n_out)
    flat = W.reshape(len(t), -1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    axes[0].plot(t, flat, linewidth=1)
    axes[0].set(title=f"every weight of {name}.W", xlabel="step", ylabel="weight")
    axes[1].hist([flat[0], flat[-1]], bins=20, label=[f"step {t[0]}", f"step {t[-1]}"])
    axes[1].set(title="the weights' spread, first and last step", xlabel="weight",
                ylabel="count")
    axes[1].legend()
    return fig, {"steps": t.tolist(), "first": flat[0].tolist(), "last": flat[-1].tolist()}


def _fraction(quantity: str, what: str) -> Any:
    def draw(plt: Any, events: list[Event], name: str) -> tuple[Any, dict[str, Any]]:
        t, v = _first(events, quantity)
        frac = (v.reshape(len(t), -1) > 0).mean(axis=1)
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(t, frac)
        ax.set(title=f"fraction of units {what}, per step", xlabel="step", ylim=(0, 1.02),
               ylabel="fraction")
        return fig, {"steps": t.tolist(), "fraction": frac.tolist()}
    return draw


def _dropout(plt: Any, events: list[Event], name: str) -> tuple[Any, dict[str, Any]]:
    """The kept fraction per step against the keep probability ``1 - rate``, which it
    scatters around (each unit is kept with that probability, and scaled by its inverse)."""
    fig, data = _fraction("mask", "kept (mask > 0)")(plt, events, name)
    keep = next(e.info["keep"] for e in events if e.quantity == "mask")
    ax = fig.axes[0]
    ax.axhline(keep, color="black", linestyle="--", zorder=3,
               label=f"keep probability 1 - rate = {keep:.3g} (kept units scaled by "
                     f"1 / {keep:.3g})")
    ax.legend(loc="lower right")
    return fig, {**data, "keep": keep}


def _loss(plt: Any, events: list[Event], name: str) -> tuple[Any, dict[str, Any]]:
    t, loss = _first(events, "data_loss")
    _, samples = _first(events, "sample_losses")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(t, samples.min(axis=1), samples.max(axis=1), alpha=0.3,
                    label="sample losses, min to max")
    ax.plot(t, loss, label="data loss (mean)")
    ax.set(title="categorical cross-entropy", xlabel="step", ylabel="loss", yscale="log")
    ax.legend()
    return fig, {"steps": t.tolist(), "loss": loss.tolist()}


def _schedule_and_spread(axes: Any, t: Any, lr: Any, q: Any, title: str) -> None:
    """The first two panels of an optimizer's figure: the decayed learning rate, and the
    5-95% band and median over the parameters of a per-step quantity ``q`` (log scale)."""
    axes[0].plot(t, lr)
    axes[0].set(title="learning rate lr_t = lr / (1 + decay (t-1))", xlabel="step",
                ylabel="lr_t", ylim=(0, lr.max() * 1.05))
    axes[1].fill_between(t, q[:, 0], q[:, 2], alpha=0.3, label="5-95%")
    axes[1].plot(t, q[:, 1], label="median")
    axes[1].set(title=title, xlabel="step", yscale="log")
    axes[1].legend()


def _optimizer(plt: Any, events: list[Event], name: str) -> tuple[Any, dict[str, Any]]:
    t, lr = _first(events, "lr")
    _, updates = by_step(events, "update")
    _, grads = by_step(events, "g")
    ratio = [np.abs(u) / lr_t for u, lr_t in zip(updates, lr, strict=True)]
    q = np.array([np.percentile(r, [5, 50, 95]) for r in ratio])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    _schedule_and_spread(axes, t, lr, q, "|update| / lr_t per parameter")
    axes[2].plot(t, [np.median(np.abs(g)) for g in grads], label="median |g|")
    _, caches = by_step(events, "cache")
    if caches:
        axes[2].plot(t, [np.median(np.sqrt(c)) for c in caches], label="median sqrt(cache)")
    axes[2].set(title="gradients", xlabel="step", yscale="log")
    axes[2].legend()
    return fig, {"steps": t.tolist(), "lr": lr.tolist(), "update_percentiles": q.tolist()}


_FIGURES = {"softmax": _softmax, "dense": _dense, "relu": _fraction("y", "active (y > 0)"),
            "dropout": _dropout, "loss": _loss,
            "sgd": _optimizer, "rmsprop": _optimizer, "adagrad": _optimizer}
