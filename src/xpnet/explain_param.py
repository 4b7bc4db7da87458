"""One weight through a whole run: every value its optimizer computed for it, step by step.

``xpnet explain adam --param "Dense[0].W[0,0]" --steps 50`` prints one table, one row per
step, for that single weight: its gradient ``g``, Adam's ``m`` and ``v``, their bias-corrected
``m_hat`` and ``v_hat``, the decayed rate ``lr_t`` and the step taken. Every number is the
one the library computed (recorded by :mod:`xpnet.trace` during training), so the table
answers questions like "does Adam keep a cache of recent epochs?" (no: ``m`` and ``v`` are
exponential averages over every step) or "does Adam lower the learning rate near the
minimum?" (no: ``lr_t`` follows the decay schedule only; the step shrinks through
``m_hat / sqrt(v_hat)``) from the values themselves.

Two columns say what the numbers mean:

* ``momentum``: "yes" where the step goes against what the current gradient asks for (it
  moves the weight *with* ``g``, uphill for this step's loss), because ``m`` still points
  the way earlier gradients did ("g = 0" where the weight moves with no gradient at all:
  a unit whose ReLU is dead on every sample still has its weights pushed by ``m``);
* ``|step|/lr_t``: how much of the learning rate the step uses: 1 at the first step (Adam's
  first step is ``lr * sign(g)``, to within ``eps / |g|``), then
  ``|m_hat| / (sqrt(v_hat) + eps)``, well below 1 once the gradient's sign keeps changing.

>>> table = trace_param("Dense[0].W[0,0]", steps=3)
>>> [row["step"] for row in table.rows], round(table.rows[0]["ratio"], 4)
([1, 2, 3], 1.0)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import presets, validate
from .explain import OPTIMIZERS, check_steps, fit_preset, tiny_model
from .model import Model
from .random import SeedLike
from .trace import Event, Tracer

__all__ = ["ParamTrace", "param_table", "parse_param", "record_updates", "trace_param"]

_SPEC = re.compile(r"^\s*(?P<layer>\w+)\[(?P<at>[^\]]*)\]\.(?P<param>\w+)\[(?P<index>[^\]]*)\]\s*$")
#: the quantities shown, in order, where the optimizer reports them
_COLUMNS = ("g", "m", "v", "m_hat", "v_hat", "cache", "update")


@dataclass
class ParamTrace:
    """The values one optimizer computed for one weight, one row per step.

    Attributes
    ----------
    param : str
        ``"Dense[0].W[0,0]"``.
    optimizer : str
        The optimizer's class name.
    rows : list of dict
        ``step, lr, p_before, p_after, ratio, momentum`` and the optimizer's quantities
        (Adam: ``g, m, v, m_hat, v_hat, update``).
    """

    param: str
    optimizer: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """The optimizer's quantities present in the rows, in :data:`_COLUMNS` order."""
        return [c for c in _COLUMNS if self.rows and c in self.rows[0]]

    def summary(self) -> str:
        """Two sentences on the whole run: steps with the gradient, and the step/lr ratio."""
        n = len(self.rows)
        against = [r["step"] for r in self.rows if r["momentum"]]
        ratios = np.array([r["ratio"] for r in self.rows if math.isfinite(r["ratio"])])
        if against:
            shown = ", ".join(map(str, against[:10])) + (" ..." if len(against) > 10 else "")
            lines = [f"{len(against)} of {n} steps moved {self.param} against its current "
                     f"gradient g, carried by the momentum of earlier gradients "
                     f"(step{'s' if len(against) > 1 else ''} {shown})."]
        else:
            lines = [f"Every one of the {n} steps moved {self.param} the way its current "
                     "gradient g asks (or g was 0)."]
        still = [r for r in self.rows if "g" in r and r["g"] == 0]
        if still:
            moved = sum(r["p_after"] != r["p_before"] for r in still)
            after = ("momentum from earlier gradients still moved it on those steps, less "
                     "each step" if moved == len(still) else
                     "it did not move on them" if not moved else
                     f"momentum from earlier gradients still moved it on {moved} of them")
            lines.append(
                f"{len(still)} of {n} steps had g = 0 (the first at step {still[0]['step']}): "
                f"nothing reached {self.param}, as when the ReLU unit it feeds is off for every "
                "sample (a 'dead' unit gets no gradient until its input turns positive again); "
                f"{after}.")
        if ratios.size:
            lines.append(
                f"|step| / lr_t over the run: median {np.median(ratios):.3g}, min "
                f"{ratios.min():.3g}, max {ratios.max():.3g} (1 would be a full learning-rate "
                f"step; {_STEP_SIZE.get(self.optimizer, 'the optimizer scales it')}).")
        return "\n".join(lines)

    def text(self) -> str:
        """The table (one row per step) and the summary."""
        # RMSprop and Adagrad carry no momentum: a step never goes against g, no column
        carried = self.optimizer not in _NO_MOMENTUM
        head = ["step", "lr_t", *self.columns, "p after", "|step|/lr_t",
                *(["momentum"] if carried else [])]
        body = [[str(r["step"]), f"{r['lr']:.6g}",
                 *(f"{r[c]:.6g}" for c in self.columns), f"{r['p_after']:.6g}",
                 f"{r['ratio']:.3g}", *([_momentum(r)] if carried else [])] for r in self.rows]
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
        lines = ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True))
                 for row in [head, *body]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        title = f"{self.optimizer} on {self.param}, every value it computed, step by step"
        return "\n".join([title, "", *lines, "", self.summary()]) + "\n"


#: The optimizers whose step is the current gradient's, scaled: no momentum to show.
_NO_MOMENTUM = frozenset({"RMSprop", "Adagrad"})

#: What sets a step's size against the learning rate, per optimizer (the summary's ratio).
_STEP_SIZE = {
    "Adam": "Adam shrinks the step through m_hat / sqrt(v_hat), not through lr_t",
    "SGD": "SGD's step is lr_t times the gradient (or the momentum), so it is as large as "
           "that is",
    "Adagrad": "Adagrad divides the gradient by the root of every squared gradient so far",
    "RMSprop": "RMSprop divides the gradient by the root of a running mean of its squares",
}


def _momentum(row: dict[str, Any]) -> str:
    if row["momentum"]:
        return "yes"
    if row["g"] == 0 and row["p_after"] != row["p_before"]:
        return "g = 0"  # the weight still moves: m remembers earlier gradients
    return ""


def parse_param(spec: str) -> tuple[str, str, tuple[int, ...]]:
    """``"Dense[0].W[0,0]"`` -> ``("Dense[0]", "W", (0, 0))``.

    >>> parse_param("Dense[2].b[0, 1]")
    ('Dense[2]', 'b', (0, 1))
    """
    form = "LAYER[i].PARAM[row,col], e.g. 'Dense[0].W[0,0]' or 'Dense[2].b[0,1]'"
    if not isinstance(spec, str):
        msg = (f"the weight to follow is named by a string, LAYER[i].PARAM[row,col], got "
               f"{validate.describe(spec)}; e.g. trace_param('Dense[0].W[0,0]').")
        raise TypeError(msg)
    match = _SPEC.match(spec)
    at = match and _numbers(match["at"])
    index = match and _numbers(match["index"])
    if not match or at is None or index is None or len(at) != 1:
        msg = f"--param expects {form}, got {spec!r}."
        raise ValueError(msg)
    layer = f"{match['layer']}[{at[0]}]"
    if match["index"].count(",") != len(index) - 1:
        fixed = _spec(layer, match["param"], index)
        msg = f"--param {spec!r}: separate the indices with commas: {fixed!r} (row,col)."
        raise ValueError(msg)
    return layer, match["param"], index


def _spec(layer: str, param: str, index: tuple[int, ...]) -> str:
    return f"{layer}.{param}[{','.join(map(str, index))}]"


def _numbers(text: str) -> tuple[int, ...] | None:
    """The integers of ``text`` (separated by commas or spaces; negative ones too, which
    :func:`_check_param` explains), or None for anything else."""
    words = text.replace(",", " ").split()
    if not words or not all(re.fullmatch(r"-?\d+", w) for w in words):
        return None
    return tuple(int(w) for w in words)


def trace_param(spec: str, *, steps: int = 50, preset: str | None = None,
                backend: Any = "numpy", seed: SeedLike = 0,
                optimizer: str = "adam") -> ParamTrace:
    """Train for ``steps`` steps (the tiny network of ``xpnet explain``, or ``preset``) and
    return every value ``optimizer`` computed for the weight ``spec``."""
    steps = check_steps(steps)
    if optimizer not in OPTIMIZERS:
        msg = (f"optimizer must be one of {', '.join(OPTIMIZERS)} (the one --param follows), "
               f"got {optimizer!r}.")
        raise ValueError(msg)
    layer_name, param, index = parse_param(spec)
    if preset is not None:
        model, (X, y), _ = presets.build(presets.get(preset), backend=backend, seed=seed)
        fit_preset(optimizer, preset, model)  # the chapter's Adam gives way to the one asked
    else:
        model, X, y = tiny_model(optimizer, backend, seed)
    _check_param(model, layer_name, param, index)
    return param_table(spec, record_updates(model, X, y, steps))


def record_updates(model: Model, X: Any, y: Any, steps: int) -> list[Event]:
    """Train ``model`` on ``(X, y)`` for ``steps`` steps and return every value its optimizer
    computed: each quantity of every parameter array at every step, in full."""
    with Tracer(components=[type(model.optimizer).__name__], full=True,
                max_size=2**31) as tracer:
        model.train(X, y, epochs=steps, log_every=None)
    return tracer.events


def param_table(spec: str, events: list[Event]) -> ParamTrace:
    """One weight's rows, from the events of :func:`record_updates` (every recorded step)."""
    layer_name, param, index = parse_param(spec)
    lrs = [e for e in events if e.quantity == "lr"]
    table = ParamTrace(spec.strip(), lrs[0].component if lrs else "")
    by_step: dict[int, dict[str, Any]] = {e.step: {} for e in lrs}
    for e in events:
        if e.param in ("", f"{layer_name}.{param}") and e.step in by_step:
            by_step[e.step][e.quantity] = e.value
    for step, at in sorted(by_step.items()):
        row: dict[str, Any] = {"step": step, "lr": float(at["lr"])}
        for quantity, value in at.items():
            if quantity != "lr" and value is not None:
                row[quantity] = float(np.asarray(value)[index])
        step_taken = row["p_after"] - row["p_before"]
        row["ratio"] = abs(step_taken) / row["lr"]
        # against the current gradient's wish: the step and g have the same sign
        row["momentum"] = bool(step_taken * row["g"] > 0)
        table.rows.append(row)
    return table


def _check_param(model: Model, layer_name: str, param: str, index: tuple[int, ...]) -> None:
    shapes = {f"{layer.name}.{k}": tuple(v.shape) for layer in model.layers
              for k, v in getattr(layer, "params", {}).items()}
    key = f"{layer_name}.{param}"
    listing = ", ".join(f"{k}{list(s)}" for k, s in shapes.items())
    fixed = _from_start(shapes, layer_name, param, index)
    if fixed is not None:
        msg = (f"--param {_spec(layer_name, param, index)!r} counts from the end, as NumPy "
               "does; --param numbers layers by their place in the model and entries from 0: "
               f"write {fixed!r}.")
        raise ValueError(msg)
    if key not in shapes:
        msg = f"this model has no parameter {key!r}; its parameters are {listing}."
        raise ValueError(msg)
    shape = shapes[key]
    if len(index) != len(shape):
        example = f"{key}[{', '.join('0' for _ in shape)}]"
        msg = (f"{key} has {len(shape)} axes (shape {list(shape)}), so its entries take "
               f"{len(shape)} indices, got {len(index)} ({list(index)}); e.g. {example}.")
        raise ValueError(msg)
    if any(not 0 <= i < n for i, n in zip(index, shape, strict=True)):
        msg = (f"index {list(index)} is outside {key}, whose shape is {list(shape)}; indices "
               f"run from 0 to {[n - 1 for n in shape]}.")
        raise ValueError(msg)


def _from_start(shapes: dict[str, tuple[int, ...]], layer_name: str, param: str,
                index: tuple[int, ...]) -> str | None:
    """The parameter named with negative numbers (counted from the end, as NumPy counts:
    ``Dense[-1]`` the last Dense layer), named from 0 instead; None without a negative
    number, or when it names nothing."""
    kind, at = layer_name.rsplit("[", 1)
    place = int(at.rstrip("]"))
    if place >= 0 and all(i >= 0 for i in index):
        return None
    if place < 0:
        alike = sorted({int(k.split(".")[0].rsplit("[", 1)[1].rstrip("]")) for k in shapes
                        if k.startswith(f"{kind}[")})
        if not -len(alike) <= place:
            return None
        place = alike[place]
    layer = f"{kind}[{place}]"
    shape = shapes.get(f"{layer}.{param}")
    if shape is None or len(shape) != len(index) or not all(
            -n <= i < n for i, n in zip(index, shape, strict=True)):
        return None
    return _spec(layer, param, tuple(i % n for i, n in zip(index, shape, strict=True)))
