r"""Numerical gradient checking: does a component's ``backward`` match its ``forward``?

For a layer, the scalar checked is :math:`L = \sum_{ij} f(x)_{ij}\,dy_{ij} + R` with a random
``dy`` and the layer's regularization penalty :math:`R`, so ``backward(dy)`` must return
:math:`\partial L/\partial x` and store :math:`\partial L/\partial p` for every parameter
(penalty terms included). For a loss, :math:`L` is the data loss ``calculate(y_pred, y)`` and
``backward(y_pred, y)`` must return :math:`\partial L/\partial \hat y`.

Numerical derivatives are central differences computed in float64 (on a float64 copy of the
component) whatever the component's own dtype, on any backend. Each entry is compared with

.. math:: \mathrm{rel} = |a - n| / \max(|a| + |n|, \mathrm{tiny})

and passes when ``rel <= rtol`` or ``|a - n| <= atol``. Where the function has a kink (ReLU
at 0, L1 at 0, MAE where the prediction equals the target) the one-sided differences
disagree; the check point is then nudged away, and entries still on a kink are reported as
"non-differentiable here" rather than failed. Dropout is checked with its mask frozen.

Components may follow xpnet's layer protocol (``forward`` returns the output, ``backward``
returns ``dx``, ``params``/``grads`` dicts) or the book's style (``forward`` sets
``self.output``, ``backward`` sets ``self.dinputs``, ``self.dweights``, ``self.dbiases``).

>>> from xpnet.nn.layers import Dense
>>> report = check(Dense(3, 2, weight_l2=0.1))
>>> report.passed, [c.parameter for c in report.checks]
(True, ['x', 'W', 'b'])
"""

from __future__ import annotations

import copy
import json
import math
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import validate
from .backend import Backend, backend_of, resolve, same_device, to_numpy
from .errors import BackendError, UserCodeError
from .nn.activations import Linear, ReLU, Sigmoid, Softmax
from .nn.layers import Dense, Dropout
from .nn.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossentropy,
)
from .nn.ops import Ops
from .random import Generator
from .usercode import source_of, user_error

__all__ = ["TOLERANCES", "Check", "ComponentError", "Report", "builtin_components", "check",
           "check_many"]

#: Default (rtol, atol) by the dtype of the component's analytic gradient.
TOLERANCES = {"float64": (1e-6, 1e-9), "float32": (1e-3, 1e-5)}
#: Central-difference step (the function is evaluated in float64).
STEP = 1e-6
#: Guards the relative error against 0/0.
TINY = 1e-30
#: One-sided slopes differing by more than this (relative) mark a kink.
KINK = 1e-2
MODES = ("full", "directional", "sampled")


@dataclass
class Check:
    """The comparison for one component and one differentiated quantity."""

    component: str
    parameter: str
    passed: bool
    max_rel_error: float
    max_abs_error: float
    index: list[int] | None
    numeric: float
    analytic: float
    rtol: float
    atol: float
    checked: int
    non_differentiable: int = 0
    note: str = ""


@dataclass
class Report:
    """All checks of a run, printable as a table and serialisable as JSON."""

    checks: list[Check] = field(default_factory=list)
    backend: str = "numpy"
    dtype: str = "float64"
    mode: str = "full"

    @property
    def passed(self) -> bool:
        """Every gradient compared agreed, and there was at least one (nothing compared is
        no evidence of a correct backward pass)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def extend(self, other: Report) -> None:
        self.checks.extend(other.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "dtype": self.dtype, "mode": self.mode,
                "passed": self.passed, "checks": [asdict(c) for c in self.checks]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __str__(self) -> str:
        head = ("component", "param", "max rel err", "worst index", "numeric", "analytic",
                "result")
        rows = [head]
        notes = []
        for c in self.checks:
            result = "ok" if c.passed else "FAIL"
            if c.non_differentiable and c.index is not None:  # (directional: the note says)
                result += f" ({c.non_differentiable} non-differentiable here)"
            if not c.passed and c.note:
                notes.append(f"{c.component}.{c.parameter}: {c.note}")
                result += f" (note {len(notes)})"
            rows.append((
                c.component, c.parameter, _number(c.max_rel_error, ".2e"),
                "" if c.index is None else str(tuple(c.index)),
                _number(c.numeric, ".6g"), _number(c.analytic, ".6g"), result,
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines += [textwrap.fill(f"note {i}: {note}", width=100, subsequent_indent="    ",
                                break_long_words=False, break_on_hyphens=False)
                  for i, note in enumerate(notes, 1)]
        if self.checks:
            lines.append(textwrap.fill(self.how(), width=100, break_long_words=False,
                                       break_on_hyphens=False))
        n_fail = len(self.failures)
        count = f"{len(self.checks)} gradient{'' if len(self.checks) == 1 else 's'}"
        summary = (f"{count} checked on {self.backend} ({self.dtype}, "
                   f"{self.mode}): " + ("nothing was compared, so nothing passed"
                                        if not self.checks else
                                        "all passed" if not n_fail else f"{n_fail} FAILED: "
                   + ", ".join(f"{c.component}.{c.parameter}" for c in self.failures)))
        return "\n".join([*lines, summary])

    def how(self) -> str:
        """What was compared, and with which tolerances and why, in a few sentences."""
        what = {"full": "each entry a of every gradient from backward",
                "sampled": "random entries a of every gradient from backward",
                "directional": "every gradient from backward along one random unit direction "
                               "u (a = sum(gradient*u))"}[self.mode]
        used = sorted({(c.rtol, c.atol) for c in self.checks if math.isfinite(c.rtol)},
                      reverse=True)
        why = {TOLERANCES["float64"]: "float64 gradients: the central difference is good to "
                                      "about 1e-8",
               TOLERANCES["float32"]: "float32 gradients: float32 keeps about 7 significant "
                                      "digits, and rounding adds up through forward and "
                                      "backward"}
        tolerances = "; ".join(f"rtol {r:g}, atol {a:g} ({why.get((r, a), 'as given')})"
                               for r, a in used)
        return (f"How: {what} against n, a float64 central difference (L(p+h)-L(p-h))/2h, "
                f"h = {STEP:g}, of the loss (for a loss) or of sum(forward(x)*dy) + penalty (for "
                "a layer; dy fixed and random). Passes when |a-n|/(|a|+|n|) <= rtol or "
                f"|a-n| <= atol: {tolerances or 'nothing was compared'}.")


def _number(value: float, spec: str) -> str:
    """A table cell: the number, or "-" where a check could not compute one."""
    return format(value, spec) if math.isfinite(value) else "-"


# -- adapting components -------------------------------------------------------------------

def is_loss(component: Any) -> bool:
    """Losses take ``(y_pred, y_true)``: xpnet's Loss classes, or anything with
    ``calculate`` (the book's losses)."""
    return isinstance(component, Loss) or hasattr(component, "calculate")


def _params(layer: Any) -> dict[str, Any]:
    params = getattr(layer, "params", None)
    if isinstance(params, dict):
        return params
    # the book's style: weights and biases attributes
    return {k: getattr(layer, k) for k in ("weights", "biases") if hasattr(layer, k)}


def _backend_for(component: Any, backend: Any) -> Backend:
    """Where ``component`` is checked: ``backend``, or where its parameters live; a backend
    asked for that is not theirs is refused (their arrays cannot move)."""
    held = [p for p in _params(component).values() if hasattr(p, "shape")]
    own = backend_of(held[0]) if held else None
    if backend is None:
        return own if own is not None else resolve("numpy")
    b = resolve(backend)
    if own is not None and own.name != b.name:
        msg = (f"the {type(component).__name__} to check holds {own.name} arrays, but "
               f"backend={b.name!r} was asked for; leave backend out to check it where it "
               f"is, or build the component on {b.name}.")
        raise ValueError(msg)
    if own is not None and not same_device(own.device, b.device):
        if not isinstance(backend, Backend):
            # a library's name: its default device (PyTorch's CPU) is not where a component
            # built on its GPU holds its arrays, and the inputs and perturbed copies must be
            return own
        here, there = str(own.device), str(b.device)
        msg = (f"the {type(component).__name__} to check holds arrays on device {here!r}, "
               f"but a backend on {there!r} was asked for; leave backend out to check it "
               f"where it is, or build the component on {there!r}.")
        raise ValueError(msg)
    return b


def _set_param(layer: Any, name: str, value: Any) -> None:
    if isinstance(getattr(layer, "params", None), dict):
        layer.params[name] = value
    else:
        setattr(layer, name, value)


def _grads(layer: Any) -> dict[str, Any]:
    grads = getattr(layer, "grads", None)
    if isinstance(grads, dict) and grads:
        return grads
    return {k: getattr(layer, "d" + k) for k in ("weights", "biases") if hasattr(layer, "d" + k)}


class ComponentError(ValueError):
    """A component gave gradcheck something it cannot check (a forward or backward that
    returned nothing, or arrays of the wrong shape): the message says what and the fix."""


def _forward(layer: Any, x: Any) -> Any:
    try:
        out = layer.forward(x, True)
    except TypeError:
        out = layer.forward(x)  # the book's early chapters: forward(inputs)
    out = getattr(layer, "output", None) if out is None else out
    name = type(layer).__name__
    if out is None:
        msg = (f"{name}.forward returned None and set no .output: return the layer's output "
               "(or set self.output, as the book's layers do).")
        raise ComponentError(msg)
    if not hasattr(out, "shape"):
        msg = (f"{name}.forward returned {validate.describe(out)}; return an array of the "
               "input's backend (e.g. xp.asarray(...)), not a Python list or number.")
        raise ComponentError(msg)
    return out


def _backward(layer: Any, dy: Any, x: Any) -> Any:
    out = layer.backward(dy)
    dx = getattr(layer, "dinputs", None) if out is None else out
    name = type(layer).__name__
    if dx is None:
        msg = (f"{name}.backward returned None and set no .dinputs: it must return the "
               f"gradient with respect to its input (dx, of the input's shape "
               f"{tuple(x.shape)}), e.g. 'return dx' at its end (a book-style layer sets "
               "self.dinputs instead).")
        raise ComponentError(msg)
    if tuple(getattr(dx, "shape", ())) != tuple(x.shape):
        msg = (f"{name}.backward returned a gradient of shape "
               f"{tuple(getattr(dx, 'shape', ()))} for an input of shape {tuple(x.shape)}: "
               "dx must have the input's shape (a transposed product?).")
        raise ComponentError(msg)
    return dx


def _penalty(layer: Any, xp: Any) -> Any:
    if hasattr(layer, "regularization_loss"):
        return layer.regularization_loss()
    # the book's attribute names (Loss.regularization_loss(layer) in chapters 14-17)
    total: Any = 0
    for p, base in (("weights", "weight"), ("biases", "bias")):
        if not hasattr(layer, p):
            continue
        w = getattr(layer, p)
        l1 = getattr(layer, f"{base}_regularizer_l1", 0)
        l2 = getattr(layer, f"{base}_regularizer_l2", 0)
        if l1 > 0:
            total = total + l1 * xp.sum(xp.abs(w))
        if l2 > 0:
            total = total + l2 * xp.sum(w * w)
    return total


def _name(component: Any) -> str:
    return type(component).__name__


# -- the core comparison -------------------------------------------------------------------

@dataclass
class _Target:
    """One differentiated array: its analytic gradient and how to perturb its float64 copy."""

    name: str
    analytic: np.ndarray  # host float64 copy of the analytic gradient
    owner: Any  # a dict holding the float64 input, or the float64 copy of the component
    key: str
    dtype: str = "float64"  # of the analytic gradient: picks the default tolerances

    def get(self) -> Any:
        """The float64 array on the device that the objective reads."""
        if isinstance(self.owner, dict):
            return self.owner[self.key]
        return _params(self.owner)[self.key]

    def set(self, value: Any) -> None:
        if isinstance(self.owner, dict):
            self.owner[self.key] = value
        else:
            _set_param(self.owner, self.key, value)


def _perturbed(b: Backend, target: _Target, host: np.ndarray, index: tuple[int, ...],
               delta: float, f: Callable[[], float]) -> float:
    """``f()`` with entry ``index`` of the target moved by ``delta``.

    The entry is moved in ``host`` (the caller's float64 NumPy copy of the target) and a
    new device array replaces the target while ``f`` runs: the component's own arrays are
    never written into, which JAX's immutable arrays (and read-only NumPy ones) forbid.
    The device array gets a copy of ``host``: on the CPU, NumPy, PyTorch and
    array-api-strict would share its memory, and the next entry's move would change it.
    """
    arr = target.get()
    old = host[index]
    host[index] = old + delta
    try:
        target.set(b.asarray(host.copy(), dtype=arr.dtype))
        return f()
    finally:
        host[index] = old
        target.set(arr)


def _compare(component: str, target: _Target, numeric: np.ndarray, analytic: np.ndarray,
             rtol: float | None, atol: float | None, kinks: np.ndarray,
             indices: list[tuple[int, ...]] | None, batch: int) -> Check:
    default_rtol, default_atol = TOLERANCES[target.dtype]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    diff = np.abs(analytic - numeric)
    rel = diff / np.maximum(np.abs(analytic) + np.abs(numeric), TINY)
    ok = (rel <= rtol) | (diff <= atol)
    ok |= kinks
    score = np.where(kinks, 0.0, np.minimum(rel / rtol, diff / max(atol, TINY)))
    worst = int(np.argmax(score)) if score.size else 0
    index = list(indices[worst]) if indices is not None else None
    valid = ~kinks
    n_kinks = int(kinks.sum())
    note = "non-differentiable here" if n_kinks else ""
    passed = bool(ok.all())
    if not passed and indices is not None:
        note = _diagnose(numeric[valid], analytic[valid], ~ok[valid],
                         [i for i, v in zip(indices, valid, strict=True) if v],
                         target.analytic.shape, batch, isinstance(target.owner, dict))
    if kinks.size and not valid.any():
        passed = False  # nothing was compared: that is no evidence of a correct gradient
        note = ("no entry could be checked: every one sits on a kink" if indices is not None
                else "the random direction touches an entry on a kink, so its numeric slope "
                "cannot be trusted; check this point in mode='full', which moves entries off "
                "kinks")
    return Check(
        component=component, parameter=target.name, passed=passed,
        max_rel_error=float(rel[valid].max()) if valid.any() else 0.0,
        max_abs_error=float(diff[valid].max()) if valid.any() else 0.0,
        index=index, numeric=float(numeric.reshape(-1)[worst]) if numeric.size else 0.0,
        analytic=float(analytic.reshape(-1)[worst]) if analytic.size else 0.0,
        rtol=rtol, atol=atol, checked=int(valid.sum()), non_differentiable=n_kinks, note=note,
    )


def _diagnose(numeric: np.ndarray, analytic: np.ndarray, wrong: np.ndarray,
              indices: list[tuple[int, ...]], shape: tuple[int, ...], batch: int,
              per_sample: bool = False) -> str:
    """A failed gradient in words: how many entries are wrong and, where the analytic values
    follow a pattern, the pattern (the wrong sign, a constant factor such as the number of
    samples, or of a loss's outputs per sample, a transposed gradient, no gradient at all),
    which usually names the slip. ``per_sample``: the gradient of an input (rows are
    samples), not of a parameter."""
    head = f"{int(wrong.sum())} of {wrong.size} entries wrong"
    scale = float(np.abs(numeric).max()) if numeric.size else 0.0

    def close(a: np.ndarray, n: np.ndarray) -> bool:
        return bool(np.allclose(a, n, rtol=1e-3, atol=1e-3 * scale))

    if scale == 0.0:
        return head + "; the numeric gradient is 0 everywhere: backward should return zeros"
    if not np.any(analytic):
        return head + ("; backward gave 0 for every entry of this gradient: is it computed "
                       "at all (an array created with zeros and never filled)?")
    if close(analytic, -numeric):
        return head + "; analytic = -numeric at every entry: the sign is wrong"
    size = math.prod(shape)
    if len(shape) == 2 and shape[0] == shape[1] > 1 and len(indices) == size:
        a, n = analytic.reshape(shape), numeric.reshape(shape)  # full mode: C order
        if close(a, n.T):
            return head + ("; analytic = numeric transposed: a product taken in the wrong "
                           "order (for W of shape (n_in, n_out) the gradient is x.T @ dy, "
                           "of W's shape)")
    c = float(np.dot(analytic, numeric) / np.dot(numeric, numeric))
    if close(analytic, c * numeric) and not math.isclose(c, 1.0, rel_tol=1e-3):
        if math.isclose(c, 1 / batch, rel_tol=1e-3):
            return head + (f"; analytic = numeric / {batch} at every entry, and {batch} is "
                           "the number of samples: a division by the batch size that does "
                           "not belong here")
        if math.isclose(c, batch, rel_tol=1e-3):
            return head + (f"; analytic = {batch} x numeric at every entry, and {batch} is "
                           "the number of samples: a division by the batch size is missing")
        outputs = shape[1] if per_sample and len(shape) == 2 and shape[0] == batch else 1
        if outputs > 1 and math.isclose(c, outputs, rel_tol=1e-3):
            return head + (f"; analytic = {outputs} x numeric at every entry, and {outputs} is "
                           "the number of outputs per sample: a division by the outputs is "
                           "missing (a loss averaged over each sample's outputs)")
        if outputs > 1 and math.isclose(c, outputs * batch, rel_tol=1e-3):
            return head + (f"; analytic = {outputs * batch} x numeric at every entry, and "
                           f"{outputs * batch} is {batch} samples x {outputs} outputs: the "
                           "divisions by the outputs and by the samples are both missing")
        return head + f"; analytic = {c:.4g} x numeric at every entry: a constant factor is off"
    bad = [i for i, w in zip(indices, wrong, strict=True) if w]
    if len(bad) == len(indices):
        return head + "; no simple pattern (the sign, a constant factor, a transpose) fits them"
    shown = ", ".join(str(i) for i in bad[:4]) + (" ..." if len(bad) > 4 else "")
    return head + f" ({shown}); the other entries agree"


def _numeric(b: Backend, target: _Target, f: Callable[[], float], mode: str, samples: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                list[tuple[int, ...]] | None]:
    """Numeric gradient entries, the matching analytic entries, kink flags, and the entries'
    indices (None for a directional check, which has one entry: the direction)."""
    shape = target.analytic.shape
    f0 = f()
    if mode == "directional":
        u = rng.standard_normal(shape)
        u /= np.linalg.norm(u) or 1.0
        base = target.get()
        du = b.asarray(u * STEP, dtype=base.dtype)
        try:  # new arrays in place of the target: it is never written into
            target.set(base + du)
            fp = f()
            target.set(base - du)
            fm = f()
        finally:
            target.set(base)
        numeric = np.array([(fp - fm) / (2 * STEP)])
        kink = _is_kink(fp, fm, f0)
        analytic = np.array([float(np.sum(target.analytic * u))])
        return numeric, analytic, np.array([kink]), None
    size = int(np.prod(shape))
    if mode == "sampled" and samples < size:
        flat = rng.choice(size, size=samples, replace=False)
    else:
        flat = np.arange(size)
    indices = [tuple(int(i) for i in np.unravel_index(k, shape)) for k in flat]
    numeric = np.empty(len(indices))
    kinks = np.zeros(len(indices), dtype=bool)
    host = to_numpy(target.get()).astype(np.float64)  # a copy, ours to write into
    for j, index in enumerate(indices):
        fp = _perturbed(b, target, host, index, STEP, f)
        fm = _perturbed(b, target, host, index, -STEP, f)
        numeric[j] = (fp - fm) / (2 * STEP)
        kinks[j] = _is_kink(fp, fm, f0)
    analytic = np.array([target.analytic[i] for i in indices])
    return numeric, analytic, kinks, indices


def _is_kink(fp: float, fm: float, f0: float) -> bool:
    right, left = (fp - f0) / STEP, (f0 - fm) / STEP
    return abs(right - left) > KINK * (abs(right) + abs(left)) + 1e-6


# -- checking a layer or a loss --------------------------------------------------------------

def _given_inputs(inputs: Any, b: Backend, dtype: str) -> tuple[Any, ...]:
    """``inputs`` as a tuple of arrays of the checked backend: a layer's ``(x,)``, a loss's
    ``(y_pred, y_true)``; nested lists become arrays (floats in ``dtype``)."""
    if not isinstance(inputs, (tuple, list)) or hasattr(inputs, "shape"):
        msg = (f"inputs must be a tuple of arrays, (x,) for a layer or (y_pred, y_true) for a "
               f"loss, got {validate.describe(inputs)}; e.g. inputs=(x,).")
        raise TypeError(msg)
    args = []
    for i, a in enumerate(inputs):
        if isinstance(a, (list, tuple)):  # a nested list: the array it writes out
            host = np.asarray(a)
            a = host.astype(dtype) if host.dtype.kind == "f" else host
        if hasattr(a, "shape"):
            _check_input(i, to_numpy(a))
        args.append(b.asarray(a) if isinstance(a, np.ndarray) else a)
    return tuple(args)


def _check_input(i: int, host: np.ndarray) -> None:
    """Refuse an input with no values (NumPy's 'zero-size array to reduction operation');
    NaN and inf are reported as such, in a failed check's note."""
    if not host.size:
        msg = (f"inputs[{i}] has shape {host.shape}, no values to check a gradient at: pass "
               "at least one sample, e.g. inputs=(np.ones((2, 3)),).")
        raise ValueError(msg)


def _float64_copy(component: Any, b: Backend) -> Any:
    c64 = copy.deepcopy(component)
    for name, p in _params(c64).items():
        _set_param(c64, name, b.xp.astype(p, b.xp.float64))
    if isinstance(getattr(c64, "ops", None), Ops):
        # plain float64 arithmetic: the book's float32 casts would blur it (the same masks)
        c64.ops = Ops(b, masks=c64.ops.masks)
    return c64


def _non_finite(arrays: dict[str, Any]) -> str | None:
    """The name of the first array holding NaN or infinity (None when all are finite)."""
    for name, a in arrays.items():
        host = to_numpy(a)
        if host.dtype.kind in "fc" and not np.all(np.isfinite(host)):
            return name
    return None


def _failed(label: str, parameter: str, note: str) -> Check:
    """A check that could not run, with the reason."""
    return Check(component=label, parameter=parameter, passed=False, max_rel_error=math.inf,
                 max_abs_error=math.inf, index=None, numeric=math.nan, analytic=math.nan,
                 rtol=math.nan, atol=math.nan, checked=0, note=note)


def _rng_state(component: Any) -> Callable[[], None]:
    """A function that rewinds the component's random stream (freezes dropout masks)."""
    rng = getattr(component, "rng", None)
    if rng is None or not hasattr(rng, "get_state"):
        return lambda: None
    state = rng.get_state()
    return lambda: rng.set_state(state)


def _check_layer(layer: Any, x: Any, b: Backend, mode: str, samples: int,
                 seed: int, rtol: float | None, atol: float | None, label: str) -> list[Check]:
    xp = b.xp
    rng = np.random.default_rng(seed)
    rewind = _rng_state(layer)
    x_given = to_numpy(x).copy()  # to tell whether forward writes into its input
    problem = _non_finite({"the input x": x, **{f"the parameter {n}": p
                                                for n, p in _params(layer).items()}})
    out = _forward(layer, x) if problem is None else x
    problem = problem or _non_finite({"the forward output": out})
    if problem is not None:
        return [_failed(label, "forward", f"{problem} holds NaN or infinite values, so no "
                        "gradient can be checked here; check with finite inputs and "
                        "parameters.")]
    dy_host = rng.standard_normal(tuple(out.shape))
    for _attempt in range(3):
        rewind()
        c64 = _float64_copy(layer, b)
        rewind64 = _rng_state(c64)
        x_before = to_numpy(x).copy()
        rewind()
        y = _forward(layer, x)
        dy = b.asarray(dy_host.copy(), dtype=y.dtype)
        dy_before = to_numpy(dy).copy()
        dx = _backward(layer, dy, x)
        x64 = b.asarray(x_before.astype(np.float64), dtype=xp.float64)
        dy64 = b.asarray(dy_host, dtype=xp.float64)
        state = {"x": x64}

        def f(c64: Any = c64, rewind64: Callable[[], None] = rewind64,
              state: dict[str, Any] = state, dy64: Any = dy64) -> float:
            rewind64()
            out64 = _forward(c64, state["x"])
            return float(xp.sum(out64 * dy64) + _penalty(c64, xp))

        f0 = f()
        if not math.isfinite(f0):
            return [_failed(label, "forward", "the float64 forward pass gives NaN or "
                            "infinite values for finite inputs and parameters (an overflow?); "
                            "check at a smaller scale.")]
        if f0 != f():
            return [_failed(label, "forward", "the forward pass gives different results for "
                            "the same input: it keeps state between calls (a counter, a "
                            "running value) or draws random numbers from a stream gradcheck "
                            "cannot rewind (a global one?). Make forward depend on its input "
                            "and parameters only, and draw random numbers from an `rng` "
                            "attribute (an xpnet.random.Generator), so that gradcheck can "
                            "freeze its draws.")]
        grads = _grads(layer)
        _check_grad_shapes(label, grads, _params(layer), _batch(x))
        first = {"x": to_numpy(dx).astype(np.float64),
                 **{n: to_numpy(grads[n]).astype(np.float64) for n in _params(layer)}}
        dtypes = {"x": _dtype_name(xp, dx),
                  **{n: _dtype_name(xp, grads[n]) for n in _params(layer)}}
        side_effects = _written(label, "forward", {"x": (x_given, x)}) + _written(
            label, "backward", {"dy": (dy_before, dy)})
        # the same forward and backward again: a layer that keeps state between calls
        # (gradients added into, not set) gives other gradients the second time
        rewind()
        _forward(layer, b.asarray(x_before.copy(), dtype=x.dtype))
        dx_again = _backward(layer, b.asarray(dy_before.copy(), dtype=dy.dtype), x)
        grads = _grads(layer)
        again = {"x": to_numpy(dx_again).astype(np.float64),
                 **{n: to_numpy(grads[n]).astype(np.float64) for n in _params(layer)
                    if n in grads}}
        side_effects += _repeat_differs(label, first, again)
        targets = [_Target(name, first[name], state if name == "x" else c64, name,
                           dtypes[name]) for name in first]
        checks, kinked = [], []
        for t in targets:
            numeric, analytic, kinks, idx = _numeric(b, t, f, mode, samples, rng)
            checks.append(_compare(label, t, numeric, analytic, rtol, atol, kinks, idx,
                                   _batch(x)))
            if kinks.any() and idx is not None:
                kinked.append((t.name, [i for i, k in zip(idx, kinks, strict=True) if k]))
        if not kinked:
            return checks + side_effects
        # move the check point off the kinks and try again
        for name, bad in kinked:
            if name == "x":
                host_x = to_numpy(x).copy()
                for i in bad:
                    host_x[i] += 10 * STEP * (1 if host_x[i] >= 0 else -1) + 1e-3
                x = b.asarray(host_x, dtype=x.dtype)
                x_given = host_x.copy()
            else:
                p = _params(layer)[name]
                host_p = to_numpy(p).copy()
                for i in bad:
                    host_p[i] += 1e-3 if host_p[i] >= 0 else -1e-3
                _set_param(layer, name, b.asarray(host_p, dtype=p.dtype))
    return checks + side_effects


def _batch(a: Any) -> int:
    """The number of samples (rows) of an input: the factor a misplaced mean introduces."""
    return int(a.shape[0]) if len(a.shape) else 1


def _check_grad_shapes(label: str, grads: dict[str, Any], params: dict[str, Any],
                       batch: int) -> None:
    """Every parameter has a gradient of its own shape, else a ComponentError saying which
    and, for the usual slips, why."""
    for name, p in params.items():
        if name not in grads:
            msg = (f"{label}.backward did not set the gradient of parameter {name!r}: "
                   f"set it in backward (grads[{name!r}], or the book's dweights and "
                   "dbiases).")
            raise ComponentError(msg)
        got, want = tuple(getattr(grads[name], "shape", ())), tuple(p.shape)
        if got == want:
            continue
        if len(want) == 2 and want[0] == 1 and got == (batch, 1):
            why = (f" It has one entry per sample ({batch} samples): summed over the wrong "
                   "axis? A bias gradient sums dy over the samples: "
                   "sum(dy, axis=0, keepdims=True).")
        elif len(want) == 2 and got == want[::-1]:
            why = (" It is the transpose of that shape: a product taken in the wrong order "
                   "(for W of shape (n_in, n_out) the gradient is x.T @ dy).")
        elif math.prod(got) == math.prod(want):
            why = (" It has the right number of entries in another shape: a sum without "
                   "keepdims=True (db = sum(dy, axis=0, keepdims=True))?")
        else:
            why = ""
        msg = (f"{label}.backward set a gradient of shape {got} for parameter {name!r} of "
               f"shape {want}: each gradient must have its parameter's shape.{why}")
        raise ComponentError(msg)


def _written(label: str, method: str, arrays: dict[str, tuple[np.ndarray, Any]]) -> list[Check]:
    """A failed check for each array that ``method`` changed although it was only given it
    (``arrays`` maps a name to its values before the call and the array after it)."""
    checks = []
    for name, (before, array) in arrays.items():
        after = to_numpy(array)
        changed = ~((after == before) | (np.isnan(after) & np.isnan(before)))
        if not changed.any():
            continue
        at = tuple(int(i) for i in np.argwhere(changed)[0])
        fix = {"x": "compute a new array (y = xp.maximum(x, 0), not x[x < 0] = 0)",
               "dy": "write into a copy (dx = dy.copy(), then dx[x <= 0] = 0, as the book's "
                     "ReLU does with dvalues.copy()), or compute a new array "
                     "(dx = dy * (x > 0))",
               "y_pred": "write into a copy (dx = y_pred.copy(), as the book's losses do "
                         "with dvalues.copy())"}[name]
        checks.append(_failed(label, f"{name} (written into)", (
            f"{method} wrote into the {name} it was given ({int(changed.sum())} of "
            f"{changed.size} entries changed, e.g. at {at}: {before[at]:.6g} became "
            f"{after[at]:.6g}); the array belongs to the caller, which may still use it. "
            f"The gradients above are checked from the values before the call. Fix: {fix}.")))
    return checks


def _repeat_differs(label: str, first: dict[str, np.ndarray],
                    again: dict[str, np.ndarray]) -> list[Check]:
    """A failed check for each gradient that a second, identical forward and backward
    changed: the component keeps state between calls."""
    checks = []
    for name, a in first.items():
        a2 = again.get(name)
        scale = float(np.abs(a).max()) or 1.0
        if a2 is not None and np.allclose(a2, a, rtol=1e-6, atol=1e-6 * scale):
            continue
        what = "dx" if name == "x" else f"the gradient of {name!r}"
        ratio = ""
        if a2 is not None and np.any(a):
            c = float(np.dot(a2.ravel(), a.ravel()) / np.dot(a.ravel(), a.ravel()))
            ratio = f" (the second about {c:.3g} x the first)"
        checks.append(_failed(label, f"{name} (2nd call)", (
            f"the same forward and backward, called twice on the same x and dy, gave two "
            f"different values of {what}{ratio}: backward keeps state between calls, e.g. "
            "adds into a gradient (self.dweights += ...) instead of setting it, while a model "
            "calls it once per step. Compute each gradient afresh in every backward call. "
            "The rows above check the first call.")))
    return checks


def _check_loss(loss: Any, y_pred: Any, y_true: Any, b: Backend, mode: str, samples: int,
                seed: int, rtol: float | None, atol: float | None, label: str) -> list[Check]:
    xp = b.xp
    rng = np.random.default_rng(seed)
    before = to_numpy(y_pred).copy()  # to tell whether the loss writes into y_pred
    problem = _non_finite({"y_pred": y_pred, "y_true": y_true})
    if problem is None and not math.isfinite(float(loss.calculate(y_pred, y_true))):
        problem = "the loss of these inputs"
    if problem is not None:
        return [_failed(label, "y_pred", f"{problem} holds NaN or infinite values, so no "
                        "gradient can be checked here; check with finite inputs.")]
    for _attempt in range(3):
        loss.calculate(y_pred, y_true)  # fused losses cache the softmax here
        g = _backward_loss(loss, y_pred, y_true)
        side_effects = _written(label, "calculate or backward", {"y_pred": (before, y_pred)})
        p64 = b.asarray(before.astype(np.float64), dtype=xp.float64)
        t64 = y_true
        if xp.isdtype(y_true.dtype, "real floating"):
            t64 = xp.astype(y_true, xp.float64)
        loss64 = copy.deepcopy(loss)
        state = {"p": p64}

        def f(loss64: Any = loss64, state: dict[str, Any] = state, t64: Any = t64) -> float:
            return float(loss64.calculate(state["p"], t64))

        target = _Target("y_pred", to_numpy(g).astype(np.float64), state, "p",
                         _dtype_name(xp, g))
        numeric, analytic, kinks, idx = _numeric(b, target, f, mode, samples, rng)
        result = _compare(label, target, numeric, analytic, rtol, atol, kinks, idx,
                          _batch(y_pred))
        if not kinks.any() or idx is None:
            return [result, *side_effects]
        host = before.copy()
        for i, kink in zip(idx, kinks, strict=True):
            if kink:
                host[i] += 1e-3
        y_pred = b.asarray(host.copy(), dtype=y_pred.dtype)  # not sharing memory with host
        before = host
    return [result, *side_effects]


def _dtype_name(xp: Any, a: Any) -> str:
    return "float64" if a.dtype == xp.float64 else "float32"


def _backward_loss(loss: Any, y_pred: Any, y_true: Any) -> Any:
    out = loss.backward(y_pred, y_true)
    return loss.dinputs if out is None else out


# -- inputs for the built-in components -------------------------------------------------------

def _softmax_rows(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    e = np.exp(rng.standard_normal((n, k)))
    return e / e.sum(axis=1, keepdims=True)


def default_inputs(component: Any, b: Backend, dtype: str, seed: int = 0,
                   batch: int = 4, features: int = 5) -> tuple[Any, ...]:
    """Inputs of the right shape for ``component``, away from kinks where it is known.

    Layers get ``(x,)`` with ``n_in`` (or ``features``) columns; losses get
    ``(y_pred, y_true)`` matching what the loss expects.
    """
    rng = np.random.default_rng(seed + 1)
    dt = getattr(b.xp, dtype)
    if is_loss(component):
        k = 3
        kind = _loss_kind(component)
        if kind == "categorical":
            return (b.asarray(_softmax_rows(rng, batch, k) * 0.9 + 0.1 / k, dtype=dt),
                    b.asarray(rng.integers(0, k, batch), dtype=b.xp.int64))
        if kind == "logits":
            return (b.asarray(rng.standard_normal((batch, k)), dtype=dt),
                    b.asarray(rng.integers(0, k, batch), dtype=b.xp.int64))
        if kind == "binary":
            return (b.asarray(rng.uniform(0.1, 0.9, (batch, 2)), dtype=dt),
                    b.asarray(rng.integers(0, 2, (batch, 2)), dtype=dt))
        # regression losses: predictions at least 0.1 from the targets (MAE's kink)
        y_true = rng.standard_normal((batch, 2))
        offset = rng.uniform(0.1, 1.0, (batch, 2)) * rng.choice([-1, 1], (batch, 2))
        return b.asarray(y_true + offset, dtype=dt), b.asarray(y_true, dtype=dt)
    n_in = getattr(component, "n_in", None)
    if n_in is None:  # e.g. the book's Layer_Dense: its weights are (n_in, n_out)
        weights = _params(component).get("W", _params(component).get("weights"))
        n_in = weights.shape[0] if weights is not None else features
    x = rng.standard_normal((batch, n_in))
    x += np.sign(x) * 0.1  # away from 0, where ReLU-like activations have their kink
    return (b.asarray(x, dtype=dt),)


def _loss_kind(loss: Any) -> str:
    """What inputs ``loss`` expects: ``categorical`` (probabilities and class indices),
    ``logits`` (raw scores and class indices), ``binary`` (probabilities and 0/1 targets) or
    ``regression``. xpnet's losses by class; a user's (the book's ``Loss_BinaryCrossentropy``,
    ``Loss_CategoricalCrossentropy``, ...) by the words of its class's name, or of a class it
    derives from."""
    for cls, kind in ((SoftmaxCrossentropy, "logits"), (CategoricalCrossentropy, "categorical"),
                      (BinaryCrossentropy, "binary")):
        if isinstance(loss, cls):
            return kind
    name = " ".join(c.__name__ for c in type(loss).__mro__).lower().replace("_", "")
    if "binary" in name:
        return "binary"
    if "categorical" in name or "crossentropy" in name:
        return "categorical"
    return "regression"


def _generated(loss: Any) -> str:
    """What gradcheck gave a user's loss, and how to give it other inputs."""
    given = {"categorical": "probabilities y_pred of shape (4, 3) and class indices y_true "
                            "of shape (4,)",
             "logits": "scores y_pred of shape (4, 3) and class indices y_true of shape (4,)",
             "binary": "probabilities y_pred and 0/1 targets y_true of shape (4, 2)",
             "regression": "float y_pred and y_true of shape (4, 2)"}[_loss_kind(loss)]
    return (f"That line may be right and the inputs wrong for this loss: gradcheck generated "
            f"{given}, chosen by the name of the class or of a class it derives from "
            "('Binary' in it: 0/1 targets; 'Categorical' or 'CrossEntropy': class indices; "
            "other names: regression targets). To give it inputs of your own, check it from "
            f"Python: gradcheck.check({type(loss).__name__}(), (y_pred, y_true)).")


def builtin_components() -> dict[str, Callable[[], Any]]:
    """Every built-in layer, activation and loss, with and without regularization."""
    return {
        "Dense": lambda: Dense(3, 4),
        "Dense[L1+L2]": lambda: Dense(3, 4, weight_l1=0.01, weight_l2=0.02, bias_l1=0.03,
                                      bias_l2=0.04),
        "Dropout": lambda: Dropout(0.3),
        "ReLU": ReLU,
        "Softmax": Softmax,
        "Sigmoid": Sigmoid,
        "Linear": Linear,
        "CategoricalCrossentropy": CategoricalCrossentropy,
        "BinaryCrossentropy": BinaryCrossentropy,
        "MeanSquaredError": MeanSquaredError,
        "MeanAbsoluteError": MeanAbsoluteError,
        "SoftmaxCrossentropy": SoftmaxCrossentropy,
    }


# -- public entry points -------------------------------------------------------------------

def check(
    component: Any,
    inputs: Iterable[Any] | None = None,
    *,
    backend: Any = None,
    dtype: str = "float64",
    mode: str = "full",
    samples: int = 10,
    seed: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
    name: str | None = None,
) -> Report:
    """Check every gradient of one component.

    Parameters
    ----------
    component : layer or loss
        An xpnet layer/loss or one written in the book's style. An unbuilt xpnet layer is
        built on ``backend`` in ``dtype``.
    inputs : tuple, optional
        ``(x,)`` for a layer, ``(y_pred, y_true)`` for a loss; generated when omitted.
    backend : str or Backend, optional
        Where the component and its inputs live: by default where a built component's
        parameters are (a layer of a model on PyTorch is checked on PyTorch), else NumPy. A
        library's name for a built component means the device its parameters are on (a
        layer on PyTorch's GPU is checked there); a Backend on another device is refused.
    dtype : "float64" or "float32"
        The component's dtype (the numerical derivative always runs in float64).
    mode : "full", "directional" or "sampled"
        Every entry; one random unit direction per array (cheap for big arrays); or
        ``samples`` random entries.
    rtol, atol : float, optional
        Tolerances; :data:`TOLERANCES` by the dtype of each analytic gradient when omitted.

    Returns
    -------
    Report
    """
    if mode not in MODES:
        msg = f"mode must be one of {MODES}, got {mode!r}."
        raise ValueError(msg)
    if dtype not in TOLERANCES:
        msg = f"dtype must be one of {tuple(TOLERANCES)}, got {dtype!r}."
        raise ValueError(msg)
    if hasattr(component, "layers") and hasattr(component, "train"):
        msg = ("check takes one layer or loss, got a whole model: check its layers one by "
               "one, e.g. check(model.layers[0]), or run xpnet gradcheck for every built-in "
               "component.")
        raise TypeError(msg)
    validate.layer_like("check", component, call="check({}(...))",
                        example="check(Dense(3, 4))", expects="a layer or loss")
    samples = validate.positive_int("samples", samples)
    for tolerance, value in (("rtol", rtol), ("atol", atol)):
        if value is not None:
            validate.non_negative_float(tolerance, value)
    b = _backend_for(component, backend)
    label = name or _name(component)
    if hasattr(component, "build") and not getattr(component, "built", True):
        component.build(Ops(b), Generator(seed), dtype)
    args = _given_inputs(inputs, b, dtype) if inputs is not None else \
        default_inputs(component, b, dtype, seed)
    if is_loss(component):
        if len(args) != 2:
            msg = f"a loss is checked on inputs (y_pred, y_true); got {len(args)} arrays."
            raise ValueError(msg)
        checks = _check_loss(component, args[0], args[1], b, mode, samples, seed, rtol, atol,
                             label)
    else:
        if len(args) != 1:
            msg = f"a layer is checked on inputs (x,); got {len(args)} arrays: pass inputs=(x,)."
            raise ValueError(msg)
        # move L1's kinks at 0 (biases start at zero) off the check point
        for pname, p in _params(component).items():
            host = to_numpy(p)
            if not np.any(host == 0):
                continue
            moved = np.where(host == 0, np.random.default_rng(seed).uniform(0.01, 0.1,
                                                                           host.shape), host)
            _set_param(component, pname, b.asarray(moved, dtype=p.dtype))
        checks = _check_layer(component, args[0], b, mode, samples, seed, rtol, atol, label)
    return Report(checks=checks, backend=b.name, dtype=dtype, mode=mode)


def check_many(components: dict[str, Callable[[], Any]] | None = None, **kwargs: Any) -> Report:
    """Check several components (every built-in by default) into one report.

    Raises
    ------
    UserCodeError
        When a user's component raises while being checked (the message points at the
        line of the user's file).
    """
    components = builtin_components() if components is None else components
    if not isinstance(components, dict) or not components or not all(
            callable(make) for make in components.values()):
        msg = (f"check_many takes a non-empty dict of label: function making a component, got "
               f"{validate.describe(components)}; e.g. check_many({{'Dense': lambda: "
               "Dense(3, 4)}).")
        raise TypeError(msg)
    report: Report | None = None
    for label, make in components.items():
        component = make()
        try:
            r = check(component, name=label, **kwargs)
        except BackendError:
            raise  # the backend asked for is missing or refuses the data: its own message
        except ComponentError as exc:
            source = source_of(component)
            if source is None:
                raise  # xpnet's own component: a bug, with its traceback
            raise UserCodeError(f"checking {label}: {exc}", "check") from exc
        except Exception as exc:
            source = source_of(component)
            if source is None:
                raise  # xpnet's own component: a bug, with its traceback
            error = user_error(exc, source, f"checking {label}", "check")
            if is_loss(component) and "inputs" not in kwargs:
                error = UserCodeError(f"{error} {_generated(component)}", error.phase)
            raise error from exc
        if report is None:
            report = r
        else:
            report.extend(r)
    assert report is not None
    return report

