"""Explain mode: what Adam, softmax and a dense layer compute, step by step, from the values
the library computes (recorded by :mod:`xpnet.trace`), with the maths beside them.

``explain(topic, steps=3)`` trains a tiny network (or a preset) under a tracer and returns an
:class:`Explanation`: its events (the raw data) and renderers for text, Markdown and JSON
lines. ``xpnet explain TOPIC`` is the command-line face of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import datasets, presets
from .model import Model
from .nn.activations import ReLU, Softmax, softmax_jacobian
from .nn.layers import Dense, Dropout
from .nn.losses import CategoricalCrossentropy, softmax_crossentropy_backward
from .nn.optimizers import SGD, Adagrad, Adam, RMSprop
from .random import SeedLike, as_generator
from .trace import Event, Tracer, select

__all__ = ["TOPICS", "Explanation", "explain"]

OPTIMIZERS: dict[str, Callable[[], Any]] = {
    "adam": lambda: Adam(learning_rate=0.05, decay=5e-5),
    "sgd": lambda: SGD(learning_rate=0.5, decay=1e-3, momentum=0.9),
    "rmsprop": lambda: RMSprop(learning_rate=0.02, decay=1e-4, rho=0.9),
    "adagrad": lambda: Adagrad(learning_rate=0.5, decay=1e-4),
}
TOPICS = ("adam", "softmax", "dense", "sgd", "rmsprop", "adagrad", "relu", "dropout", "loss")


@dataclass
class Explanation:
    """The events of an explained run and how to show them."""

    topic: str
    events: list[Event]
    config: dict[str, Any]
    sections: list[tuple[str, str]] = field(default_factory=list)  # (heading, body)

    def json_lines(self) -> str:
        """One JSON object per line: the run's configuration, then every event."""
        head = json.dumps({"event": "config", "topic": self.topic, **self.config})
        return "\n".join([head, *(e.to_json() for e in self.events)])

    def text(self) -> str:
        parts = []
        for heading, body in self.sections:
            parts += [heading, "=" * len(heading), body, ""]
        return "\n".join(parts).rstrip() + "\n"

    def markdown(self) -> str:
        parts = [f"# `xpnet explain {self.topic}`", ""]
        for heading, body in self.sections:
            parts += [f"## {heading}", "", *_md_body(body), ""]
        return "\n".join(parts).rstrip() + "\n"


def _md_body(body: str) -> list[str]:
    """Each prose line becomes its own paragraph; indented lines (numbers, formulas) become
    fenced code blocks, with blank lines around both so Markdown keeps them apart."""
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            out.extend(["```text", *block, "```", ""])
            block.clear()

    for line in body.splitlines():
        if line.startswith("    "):
            block.append(line[4:])
            continue
        flush()
        if line.strip():
            out.extend([line, ""])
    flush()
    return out


def _fmt(value: Any, digits: int = 5) -> str:
    if value is None:
        return "(summary only)"
    arr = np.asarray(value)
    if arr.ndim == 0:
        return f"{float(arr):.{digits}g}"
    return np.array2string(arr, precision=digits, suppress_small=False, max_line_width=88,
                           threshold=64, floatmode="maxprec")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _show(e: Event | None) -> str:
    if e is None:
        return "    (not recorded)"
    if e.value is None:
        return _indent(f"shape {tuple(e.shape)}: min {e.min:.4g}, mean {e.mean:.4g}, "
                       f"max {e.max:.4g}, norm {e.norm:.4g}")
    return _indent(_fmt(e.value))


def _one(events: list[Event], **match: Any) -> Event | None:
    """The first event matching ``match``, or None."""
    found = select(events, **match)
    return found[0] if found else None


# -- the runs ------------------------------------------------------------------------------

def tiny_model(topic: str, backend: Any, seed: SeedLike) -> tuple[Model, Any, Any]:
    """A network small enough to print: 6 spiral points (two per arm, off the centre, where
    every arm starts at the origin), 2 -> 4 -> 3."""
    rng = as_generator(seed)
    X, y = datasets.spiral(3, 3, seed=rng, backend=backend)
    model = Model(backend=backend, seed=rng)
    keep = model.backend.asarray(np.array([1, 2, 4, 5, 7, 8]), dtype=model.backend.xp.int64)
    xp = model.backend.xp
    X, y = xp.take(X, keep, axis=0), xp.take(y, keep, axis=0)
    l1, l2 = (1e-3, 5e-3) if topic == "dense" else (0.0, 0.0)
    model.add(Dense(2, 4, init_scale=0.5))
    model.add(ReLU())
    if topic == "dropout":
        model.add(Dropout(0.25))
    model.add(Dense(4, 3, init_scale=0.5, weight_l1=l1, weight_l2=l2, bias_l1=l1, bias_l2=l2))
    model.add(Softmax())
    optimizer = OPTIMIZERS.get(topic, OPTIMIZERS["adam"])()
    model.set(loss=CategoricalCrossentropy(), optimizer=optimizer)
    return model, X, y


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
    """
    if topic not in TOPICS:
        msg = f"unknown topic {topic!r}; topics are: {', '.join(TOPICS)}."
        raise ValueError(msg)
    if steps < 1:
        msg = f"steps must be at least 1, got {steps}."
        raise ValueError(msg)
    if preset is not None:
        p = presets.get(preset)
        model, (X, y), _ = presets.build(p, backend=backend, seed=seed)
        full: bool | str = "auto"
    else:
        model, X, y = tiny_model(topic, backend, seed)
        full = True
    tracer = Tracer(full=full, max_size=4096)
    with tracer:
        # metrics every step: the loss topic shows the loss each step computes
        model.train(X, y, epochs=steps, log_every=1)
        if topic == "softmax" and isinstance(model.layers[-1], Softmax):
            tracer.step = steps + 1  # an evaluation pass after the recorded training steps
            _softmax_backward_paths(model, X, y)
    config = {
        "steps": steps, "preset": preset, "backend": model.backend.name,
        "optimizer": {"class": type(model.optimizer).__name__,
                      **(model.optimizer.get_config() if model.optimizer else {})},
        "layers": [{"name": layer.name, "class": type(layer).__name__,
                    "config": layer.get_config()} for layer in model.layers],
    }
    ex = Explanation(topic, tracer.events, config)
    render = {"adam": _adam, "sgd": _optimizer, "rmsprop": _optimizer, "adagrad": _optimizer,
              "softmax": _softmax, "dense": _dense, "relu": _activation,
              "dropout": _activation, "loss": _loss}[topic]
    ex.sections = render(ex, model)
    return ex


def _softmax_backward_paths(model: Model, X: Any, y: Any) -> None:
    """Run, under the tracer, the three ways of getting the gradient at the logits."""
    softmax = model.layers[-1]
    assert isinstance(softmax, Softmax)
    s = model.forward(X, training=False)
    ce = CategoricalCrossentropy()
    softmax.backward(ce.backward(s, y))  # Jacobian-vector product, vectorised
    softmax_crossentropy_backward(s, y)  # fused


# -- renderers -----------------------------------------------------------------------------

def _adam(ex: Explanation, model: Model) -> list[tuple[str, str]]:
    cfg = ex.config["optimizer"]
    b1, b2, eps = cfg["beta_1"], cfg["beta_2"], cfg["epsilon"]
    lr0, decay = cfg["learning_rate"], cfg["decay"]
    sections = [("What Adam computes", (
        "For every parameter array p with gradient g, at step t = 1, 2, ... "
        f"(beta_1 = {b1}, beta_2 = {b2}, epsilon = {eps}, lr = {lr0}, decay = {decay}):\n"
        "    lr_t  = lr / (1 + decay * (t - 1))           the book's decay schedule\n"
        "    m     = beta_1 * m + (1 - beta_1) * g        moving average of g\n"
        "    v     = beta_2 * v + (1 - beta_2) * g**2     moving average of g**2\n"
        "    m_hat = m / (1 - beta_1**t)                  bias corrections: m and v start at 0\n"
        "    v_hat = v / (1 - beta_2**t)\n"
        "    p     = p - lr_t * m_hat / (sqrt(v_hat) + epsilon)\n"
        "Below, each quantity is the value the library computed."))]
    steps = sorted({e.step for e in select(ex.events, component="Adam")})
    params = list(dict.fromkeys(e.param for e in ex.events if e.param))
    for t in steps:
        lr = _one(ex.events, component="Adam", quantity="lr", step=t)
        lines = [f"lr_t = {lr0} / (1 + {decay} * {t - 1}) = {_fmt(lr.value if lr else None, 8)}"]
        for name in params:
            lines.append(f"\n{name}:")
            for q, label in (("g", "g (gradient)"), ("m", "m"), ("v", "v"),
                             ("m_hat", f"m_hat = m / {1 - b1**t:.6g}"),
                             ("v_hat", f"v_hat = v / {1 - b2**t:.6g}"),
                             ("update", "update = -lr_t * m_hat / (sqrt(v_hat) + eps)"),
                             ("p_before", "p before"), ("p_after", "p after = p + update")):
                lines.append(f"  {label}:")
                lines.append(_show(_one(ex.events, component="Adam", quantity=q,
                                        param=name, step=t)))
        sections.append((f"Step {t}", "\n".join(lines)))
    sections.append(("What the numbers show", _adam_summary(ex, b1, b2, eps, steps)))
    return sections


def _adam_summary(ex: Explanation, b1: float, b2: float, eps: float, steps: list[int]) -> str:
    t = steps[-1]
    lines = [
        f"m and v are exponential averages over all past steps, not a cache of a fixed number "
        f"of epochs: a gradient from k steps ago still weighs (1 - beta) * beta**k. Their "
        "time constants "
        f"are 1/(1 - beta_1) = {1 / (1 - b1):.0f} and 1/(1 - beta_2) = {1 / (1 - b2):.0f} steps.",
        f"After {t} step(s) the bias corrections divide m by {1 - b1**t:.4g} and v by "
        f"{1 - b2**t:.4g}; without them the first steps would be far too small.",
    ]
    if 1 in steps:
        lines.append(
            "At step 1, m_hat = g and v_hat = g**2 exactly, so every update is "
            "-lr * g / (|g| + eps), i.e. +-lr: the first step ignores the gradients' sizes "
            "and keeps only their signs (see the updates of step 1 above).")
    v_hat = select(ex.events, quantity="v_hat", step=t)
    lr = _one(ex.events, component="Adam", quantity="lr", step=t)
    if v_hat and lr is not None:
        sizes = np.concatenate([
            (float(lr.value) / (np.sqrt(np.asarray(e.value)) + eps)).ravel()  # type: ignore[arg-type]
            for e in v_hat if e.value is not None]) if all(
            e.value is not None for e in v_hat) else None
        if sizes is not None and sizes.size:
            lines.append(
                f"The step-size multiplier lr_t / (sqrt(v_hat) + eps), which multiplies m_hat "
                f"to give the update, ranges at step {t} from {sizes.min():.3g} to "
                f"{sizes.max():.3g} across the {sizes.size} parameters: Adam adapts each "
                "parameter's step through v_hat (parameters with small gradients get large "
                "multipliers), while the decay schedule only shrinks lr_t with the step "
                "count and knows nothing of where the minimum is.")
    return "\n\n".join(lines)


def _optimizer(ex: Explanation, model: Model) -> list[tuple[str, str]]:
    name = ex.config["optimizer"]["class"]
    formulas = {
        "SGD": "    u = momentum * u - lr_t * g\n    p = p + u",
        "RMSprop": "    cache = rho * cache + (1 - rho) * g**2\n"
                   "    p = p - lr_t * g / (sqrt(cache) + epsilon)",
        "Adagrad": "    cache = cache + g**2\n    p = p - lr_t * g / (sqrt(cache) + epsilon)",
    }[name]
    settings = ", ".join(f"{k} = {v}" for k, v in ex.config["optimizer"].items()
                         if k != "class")
    formulas = "    lr_t = lr / (1 + decay * (t - 1))\n" + formulas
    if name == "SGD":
        formulas += "\n(the update shown below is u, the momentum buffer)"
    sections = [(f"What {name} computes", f"Settings: {settings}.\n{formulas}")]
    for t in sorted({e.step for e in select(ex.events, component=name)}):
        lines = []
        lr = _one(ex.events, component=name, quantity="lr", step=t)
        lines.append(f"lr_t = {_fmt(lr.value if lr else None, 8)}")
        for param in dict.fromkeys(e.param for e in ex.events if e.param):
            lines.append(f"\n{param}:")
            for q in ("g", "cache", "update", "p_before", "p_after"):
                e = _one(ex.events, component=name, quantity=q, param=param, step=t)
                if e is not None:
                    lines += [f"  {q}:", _show(e)]
        sections.append((f"Step {t}", "\n".join(lines)))
    return sections


def _softmax(ex: Explanation, model: Model) -> list[tuple[str, str]]:
    name = model.layers[-1].name
    t = 1
    get = {q: _one(ex.events, component=name, quantity=q, step=t)
           for q in ("x", "max", "shifted", "exp", "sum", "y")}
    s_all = np.asarray(get["y"].value) if get["y"] and get["y"].value is not None else None
    sections = [("Forward, on a batch", "\n".join([
        "logits x (one row per sample):", _show(get["x"]),
        "row maxima, subtracted so that exp never overflows (exp(1000) is inf in any float; "
        "softmax(x) = softmax(x - c) for any c):", _show(get["max"]),
        "x - max (every entry <= 0, so exp is in (0, 1]):", _show(get["shifted"]),
        "exp(x - max):", _show(get["exp"]),
        "row sums:", _show(get["sum"]),
        "probabilities s = exp / sum (each row sums to 1):", _show(get["y"]),
    ]))]
    if s_all is not None:
        i = int(np.argmax(s_all.max(axis=1) - s_all.min(axis=1)))  # the most decided sample
        x_i = np.asarray(get["x"].value)[i] if get["x"] and get["x"].value is not None else None
        sections.append(("Forward, on one sample", "\n".join([
            f"sample {i}: x = {_fmt(x_i)}",
            f"  exp(x - max(x)) / sum = s = {_fmt(s_all[i])}",
            f"  predicted class argmax(s) = {int(np.argmax(s_all[i]))}",
        ])))
        # the backward paths recorded by _softmax_backward_paths (the last events)
        dy = select(ex.events, component=name, quantity="dy")
        dx = select(ex.events, component=name, quantity="dx")
        dot = select(ex.events, component=name, quantity="dot")
        fused = select(ex.events, component="SoftmaxCrossentropy", quantity="dx")
        if dy and dx and fused:
            dy_v, dx_v = np.asarray(dy[-1].value), np.asarray(dx[-1].value)
            fused_v = np.asarray(fused[-1].value)
            s_evals = select(ex.events, component="SoftmaxCrossentropy", quantity="s")
            s_eval = np.asarray(s_evals[-1].value)  # the evaluation pass, after training
            i = int(np.argmax(s_eval.max(axis=1) - s_eval.min(axis=1)))
            jacobians = softmax_jacobian(s_eval)  # the library's own, diag(s) - s s^T
            Js = jacobians[i]
            sections.append(("Backward: the Jacobian of one sample", "\n".join([
                f"(The backward passes use the network after its {ex.config['steps']} "
                "recorded step(s), evaluated without dropout.)",
                f"For sample {i}, s = {_fmt(s_eval[i])}. ds_a/dx_b = s_a * (delta_ab - s_b), "
                "i.e. J = diag(s) - s s^T:",
                _indent(_fmt(Js)),
                "each column sums to 0 (the probabilities always sum to 1).",
                f"Jacobian-vector product J @ dy[{i}]:",
                _indent(_fmt(Js @ dy_v[i])),
                f"the vectorised backward's row {i}, for comparison:",
                _indent(_fmt(dx_v[i])),
            ])))
            sections.append(("Backward: the vectorised form used in practice", "\n".join([
                "dx = s * (dy - sum(dy * s, axis=1)): no n x k x k Jacobians are built.",
                "dy (from cross-entropy's backward, -y / s / n):", _indent(_fmt(dy_v)),
                "sum(dy * s) per sample (always -1/n here: dy = -y/s/n is non-zero only at "
                "the true class, where dy * s = -1/n):", _show(dot[-1] if dot else None),
                "dx:", _indent(_fmt(dx_v)),
                f"largest |J @ dy - dx| over the batch: "
                f"{np.abs(np.einsum('nij,nj->ni', jacobians, dy_v) - dx_v).max():.3g}",
            ])))
            sections.append(("Backward: fused with cross-entropy", "\n".join([
                "Softmax followed by cross-entropy simplifies to (s - y_one_hot) / n:",
                _indent(_fmt(fused_v)),
                f"largest |fused - vectorised| = {np.abs(fused_v - dx_v).max():.3g}: the "
                "same gradient, in one subtraction instead of a division, a product and "
                "a row reduction (and without dividing by small probabilities).",
            ])))
    return sections


def _dense(ex: Explanation, model: Model) -> list[tuple[str, str]]:
    # the output layer: it has L1/L2 penalties here, and a previous layer to pass dx to
    # (the first layer skips dx: nothing uses the gradient with respect to the data)
    layer = [layer for layer in model.layers if isinstance(layer, Dense)][-1]
    name, t = layer.name, 1
    e = {q: _one(ex.events, component=name, quantity=q, step=t) for q in (
        "x", "W", "b", "y", "dy", "dW_data", "db_data", "dW_l1", "dW_l2", "db_l1", "db_l2",
        "dW", "db", "dx")}
    n = e["x"].shape[0] if e["x"] else "n"
    sections = [
        ("Initialisation", (
            f"W has shape (n_in, n_out) = ({layer.n_in}, {layer.n_out}): one column per neuron, "
            "so the forward pass is x @ W with no transpose. It starts as "
            f"{layer.init_scale} * randn(n_in, n_out) (small, random so that neurons differ); "
            f"b starts at zeros(1, {layer.n_out}).")),
        ("Forward: y = x @ W + b", "\n".join([
            f"x, shape ({n}, {layer.n_in}):", _show(e["x"]),
            f"W, shape ({layer.n_in}, {layer.n_out}):", _show(e["W"]),
            f"b, shape (1, {layer.n_out}) (broadcast over the rows):", _show(e["b"]),
            f"y = x @ W + b, shape ({n}, {layer.n_out}):", _show(e["y"]),
        ])),
        ("Backward", "\n".join([
            "dy = dL/dy arrives from the next layer:", _show(e["dy"]),
            "dW = x^T @ dy (each weight's gradient sums its input times the output's "
            "gradient over the batch):", _show(e["dW_data"]),
            "db = sum(dy, axis=0):", _show(e["db_data"]),
            "dx = dy @ W^T (passed on to the previous layer):", _show(e["dx"]),
        ])),
    ]
    reg = []
    for q, formula in (("dW_l1", f"weight_l1 * sign(W) = {layer.weight_l1} * sign(W)"),
                       ("dW_l2", f"2 * weight_l2 * W = 2 * {layer.weight_l2} * W"),
                       ("db_l1", f"bias_l1 * sign(b) = {layer.bias_l1} * sign(b)"),
                       ("db_l2", f"2 * bias_l2 * b = 2 * {layer.bias_l2} * b")):
        if e[q] is not None:
            reg += [f"{q} = {formula}:", _show(e[q])]
    if reg:
        reg += ["dW with its penalty terms:", _show(e["dW"]),
                "db with its penalty terms:", _show(e["db"])]
        sections.append(("Regularization: L1 and L2 terms added to dW and db", (
            "The penalty lambda_1 * sum|w| + lambda_2 * sum w^2 adds its own gradient "
            "(sign(0) is taken as +1, as in the book):\n" + "\n".join(reg))))
    return sections


def _activation(ex: Explanation, model: Model) -> list[tuple[str, str]]:
    kind = "ReLU" if ex.topic == "relu" else "Dropout"
    layer = next(layer for layer in model.layers if type(layer).__name__ == kind)
    t = 1
    rows = []
    for q in ("x", "mask", "y", "dy", "dx"):
        e = _one(ex.events, component=layer.name, quantity=q, step=t)
        if e is not None:
            rows += [f"{q}:", _show(e)]
    keep = getattr(layer, "keep", None)
    what = ("y = max(x, 0); dx = dy where x > 0, else 0 (the gradient at exactly 0 is "
            "taken as 0)" if kind == "ReLU" else
            f"While training, each unit is kept with probability keep = {keep} and scaled by "
            f"1/keep = {_fmt(1 / keep if keep else None)} (mask values 0 or 1/keep), so the "
            "expected activation is unchanged; dx = dy * mask. When not training, dropout "
            "is the identity.")
    return [(f"What {kind} computes", what), (f"Step {t}", "\n".join(rows))]


def _loss(ex: Explanation, model: Model) -> list[tuple[str, str]]:
    t = 1
    rows = []
    for q in ("y_pred", "sample_losses", "data_loss"):
        e = _one(ex.events, component="CategoricalCrossentropy", quantity=q, step=t)
        rows += [f"{q}:", _show(e)]
    for q in ("s", "y_one_hot", "dx"):
        e = _one(ex.events, component="SoftmaxCrossentropy", quantity=q, step=t)
        rows += [f"{q}:", _show(e)]
    return [("Categorical cross-entropy", (
        "loss_i = -log(clip(s_i[y_i], 1e-7, 1 - 1e-7)); the data loss is their mean; with a "
        "softmax output the gradient at the logits is (s - y_one_hot) / n.")),
        (f"Step {t}", "\n".join(rows))]


def adam_plot(path: str, *, preset: str = "ch15", steps: int = 2000, backend: Any = "numpy",
              seed: SeedLike = 0) -> dict[str, Any]:
    """Plot Adam over a whole run: the lr schedule, the spread of per-parameter effective
    step sizes lr_t / (sqrt(v_hat) + eps), and |m| and sqrt(v) over time. Returns the data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = presets.get(preset)
    model, (X, y), _ = presets.build(p, backend=backend, seed=seed)
    tracer = Tracer(components=["Adam"], quantities={"lr", "m", "v_hat", "v"}, full=True,
                    max_size=10**6)
    with tracer:
        model.train(X, y, epochs=steps, log_every=None)
    eps = model.optimizer.epsilon  # type: ignore[union-attr]
    t = np.array(sorted({e.step for e in tracer.events}))
    lr = np.array([float(e.value) for e in tracer.select(quantity="lr")])  # type: ignore[arg-type]

    def per_step(q: str) -> list[np.ndarray]:
        by_step: dict[int, list[np.ndarray]] = {}
        for e in tracer.select(quantity=q):
            by_step.setdefault(e.step, []).append(np.ravel(np.asarray(e.value)))
        return [np.concatenate(by_step[s]) for s in t]

    v_hat, m, v = per_step("v_hat"), per_step("m"), per_step("v")
    eff = [lr[i] / (np.sqrt(v_hat[i]) + eps) for i in range(len(t))]
    q = np.array([np.percentile(e, [5, 50, 95]) for e in eff])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].plot(t, lr)
    axes[0].set(title="learning rate lr_t = lr / (1 + decay (t-1))", xlabel="step",
                ylabel="lr_t", ylim=(0, lr.max() * 1.05))
    axes[1].fill_between(t, q[:, 0], q[:, 2], alpha=0.3, label="5-95%")
    axes[1].plot(t, q[:, 1], label="median")
    axes[1].set(title="step-size multiplier lr_t / (sqrt(v_hat) + eps)", xlabel="step",
                ylabel="multiplier of m_hat (per parameter)", yscale="log")
    axes[1].legend()
    axes[2].plot(t, [np.median(np.abs(x)) for x in m], label="median |m|")
    axes[2].plot(t, [np.median(np.sqrt(x)) for x in v], label="median sqrt(v)")
    axes[2].set(title="moments", xlabel="step", ylabel="median over parameters",
                yscale="log")
    axes[2].legend()
    fig.suptitle(f"Adam on preset {preset} ({steps} steps)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return {"steps": t.tolist(), "lr": lr.tolist(), "effective_step_percentiles": q.tolist()}
