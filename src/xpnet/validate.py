"""Checks of user input at the public boundary: one helper per idiom.

Constructors and entry points (``Dense(...)``, ``Adam(...)``, ``Model(...)``,
``model.train(...)``, the datasets) call these once; the maths never does. Each helper
returns the value in its plain form (an ``int``, a ``float``, a dtype name) or raises
``TypeError`` (the wrong kind of value) or ``ValueError`` (the right kind, out of range)
whose message says what was expected, what arrived (with its type) and how to fix it.

No bool where a number goes (``True`` is not 1 epoch), no silent truncation (``1.5`` is
not a batch size), no string where a number goes (``'0.1'`` is not a learning rate).

>>> positive_int("epochs", 10)
10
>>> probability("rate", 0.5)
0.5
>>> finite_float("lr", "0.1")
Traceback (most recent call last):
...
TypeError: lr must be a number, got the string '0.1'; pass the number 0.1 (without quotes).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np

__all__ = [
    "EMPTY_MEAN",
    "FLOAT_DTYPES",
    "Checked",
    "component_missing",
    "describe",
    "did_you_mean",
    "finite_float",
    "flag",
    "floating",
    "gradient_shape",
    "in_range",
    "integer",
    "is_bool",
    "layer_like",
    "missing_methods",
    "non_empty",
    "non_negative_float",
    "non_negative_int",
    "one_of",
    "positive_float",
    "positive_int",
    "probability",
    "real_float_dtype",
]

#: The floating dtypes a model computes in (float16 is too coarse for the book's updates).
FLOAT_DTYPES = ("float32", "float64")


def describe(value: Any) -> str:
    """``value`` as an error message shows it: its repr and its type.

    >>> describe(True), describe("4"), describe(1.5), describe(5)
    ('True (a bool)', "the string '4'", '1.5 (a float)', '5 (an int)')
    """
    if isinstance(value, str):
        return f"the string {value!r}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (np.generic, type)):
        return f"an object of type {type(value).__name__} with shape {tuple(shape)}"
    name = type(value).__name__
    return f"{text} ({'an' if name[0].lower() in 'aeiou' else 'a'} {name})"


def did_you_mean(name: str, choices: Collection[str]) -> str:
    """The near miss of ``name`` among ``choices`` as a sentence to end a message with, or "".

    >>> did_you_mean("lrr", ["lr", "l1", "l2", "decay"])
    " Did you mean 'lr'?"
    """
    lowered = {choice.lower(): choice for choice in choices}  # ('CH15' is 'ch15')
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""


class Checked:
    """A setting checked whenever it is set, in the constructor or any time after (a layer's
    ``rate``, an L2 strength, an optimizer's ``learning_rate``): ``check(label, value)``
    returns the plain value or raises, ``label`` being ``"Owner name"``.

    It has no ``__get__``: a read finds the value in the instance's ``__dict__`` at C speed,
    every step.

    >>> class Layer:
    ...     rate = Checked(probability)
    ...     def __init__(self, rate):
    ...         self.rate = rate
    >>> Layer(0.5).rate
    0.5
    >>> Layer(0.5).rate = 1.5
    Traceback (most recent call last):
    ...
    ValueError: Layer rate must be in [0, 1), got 1.5.
    """

    def __init__(self, check: Any) -> None:
        self.check = check

    if TYPE_CHECKING:  # what a read gives, for type checkers only (at run time: the dict's)
        def __get__(self, obj: Any, objtype: type | None = None) -> Any: ...

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.label = name, f"{owner.__name__} {name}"

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = self.check(self.label, value)


def missing_methods(value: Any, names: tuple[str, ...] = ("forward", "backward")) -> list[str]:
    """The methods of ``names`` that ``value`` (an object or a class) lacks or has as non-callables.

    >>> missing_methods(object())
    ['forward', 'backward']
    """
    return [name for name in names if not callable(getattr(value, name, None))]


def component_missing(value: Any) -> list[str]:
    """The methods ``value`` (an object or a class) lacks as a layer (``forward`` and
    ``backward``) or a loss, whose ``calculate`` serves for ``forward``.

    >>> component_missing(type("Loss", (), {"calculate": len, "backward": len}))
    []
    """
    if not missing_methods(value, ("calculate",)):
        return missing_methods(value, ("backward",))
    return missing_methods(value)


#: The families a part of another kind than a layer belongs to, by the name of a class in its
#: ancestry: xpnet's ``Loss``... and the book's ``Loss_CategoricalCrossentropy``...
_OTHER_PARTS = (("Loss", "loss"), ("Optimizer", "optimizer"), ("Accuracy", "accuracy"))


def _other_part(value: Any) -> str | None:
    """``"loss"``, ``"optimizer"`` or ``"accuracy"`` when ``value``'s class descends from one
    of those families (by name, so the book's and a student's book-style classes count)."""
    for cls in type(value).__mro__:
        for family, kind in _OTHER_PARTS:
            if cls.__name__ == family or cls.__name__.startswith(family + "_"):
                return kind
    return None


def layer_like(where: str, value: Any, *, call: str, example: str,
               expects: str = "a layer") -> None:
    """The one check of every place that takes a layer (or a loss) object: an instance, not its
    class, with callable ``forward`` and ``backward``. Where a layer goes, a loss, an optimizer or
    an accuracy is named as what it is. ``call`` shows the fix for a class, with ``{}`` for its
    name; ``example`` a right call.

    >>> layer_like("add", dict, call="add({}(...))", example="add(Dense(2, 64))")
    Traceback (most recent call last):
    ...
    TypeError: add expects a layer instance, got the class dict; call it: add(dict(...)).
    """
    if isinstance(value, type):
        msg = (f"{where} expects {expects} instance, got the class {value.__name__}; call it: "
               f"{call.format(value.__name__)}.")
        raise TypeError(msg)
    kind = _other_part(value) if expects == "a layer" else None
    if kind is not None:
        msg = (f"{type(value).__name__}() is {'an' if kind[0] in 'aeiou' else 'a'} {kind}, not "
               f"a layer: give it to model.set({kind}=...), and add layers only.")
        raise TypeError(msg)
    missing = component_missing(value) if "loss" in expects else missing_methods(value)
    if missing:
        msg = (f"{where} expects {expects} with forward and backward methods, got "
               f"{describe(value)}, which has no {' and no '.join(missing)} method; e.g. "
               f"{example}.")
        raise TypeError(msg)


#: How :func:`non_empty`'s error ends for a mean over the samples (``{}``: what takes it)
EMPTY_MEAN = ("{} is a mean over the samples, and of none it would be NaN: pass at least one "
              "sample (a Model refuses empty data the same way).")


def non_empty(what: str, array: Any, form: str, *, ndim: int | None = None,
              fix: str = "") -> None:
    """Refuse an array with nothing in it (a mean over none is NaN, with only NumPy's
    warning) or, given ``ndim``, with another number of axes; ``form`` names the shape
    expected and ``fix`` ends the message.

    >>> non_empty("y_pred", np.zeros((0, 3)), "array (n_samples, n_outputs)")
    Traceback (most recent call last):
    ...
    ValueError: y_pred must be a non-empty array (n_samples, n_outputs), got shape (0, 3).
    """
    shape = tuple(array.shape)
    if 0 in shape or (ndim is not None and len(shape) != ndim):
        msg = f"{what} must be a non-empty {form}, got shape {shape}.{' ' + fix if fix else ''}"
        raise ValueError(msg)


def floating(who: str, a: Any, xp: Any, *, what: str = "inputs",
             fix: str = "x.astype(np.float32) (Model.train, evaluate and predict convert "
                        "their data themselves)") -> None:
    """Refuse an array ``a`` (of namespace ``xp``) whose dtype is not one of
    :data:`FLOAT_DTYPES`: integers would come out float64 (or stay integers through an
    activation), float16 and complex numbers would be computed in as they are.

    >>> floating("Dense", np.ones(2, dtype=np.int64), np)
    Traceback (most recent call last):
    ...
    TypeError: Dense takes floating-point inputs (float32 or float64), got an array of dtype \
int64; convert it first, e.g. x.astype(np.float32) (Model.train, evaluate and predict \
convert their data themselves).
    """
    if not any(a.dtype == getattr(xp, name) for name in FLOAT_DTYPES):
        msg = (f"{who} takes floating-point {what} (float32 or float64), got an array of dtype "
               f"{a.dtype}; convert it first, e.g. {fix}.")
        raise TypeError(msg)


def gradient_shape(owner: Any, dy: Any, shape: tuple[int, ...], like: Any) -> None:
    """Refuse a ``dy`` given to ``owner.backward`` that is not an array of ``shape``, the
    shape of ``owner``'s last output, and of the backend of ``like`` (an array of that pass):
    NumPy would broadcast a ``(1, k)`` row or a ``(k,)`` vector into the whole batch's
    gradient without a word, or fail naming core dimensions; PyTorch would refuse a NumPy
    array naming its own arguments.

    >>> gradient_shape(object(), np.ones((1, 3)), (4, 3), np.ones((4, 3)))
    Traceback (most recent call last):
    ...
    ValueError: object.backward expected dy of shape (4, 3), the gradient of each output of \
its last forward pass, got shape (1, 3).
    """
    if getattr(dy, "shape", None) == shape and type(dy) is type(like):
        return
    who = type(owner).__name__
    if isinstance(getattr(owner, "n_in", None), int) and isinstance(
            getattr(owner, "n_out", None), int):  # Dense(2, 3)
        who += f"({owner.n_in}, {owner.n_out})"
    expected = f"{who}.backward expected dy of shape {tuple(shape)}, the gradient of each " \
        "output of its last forward pass"
    if not hasattr(dy, "shape"):
        msg = (f"{expected}, got {describe(dy)}; pass an array of the backend of its forward's "
               "input, e.g. np.asarray(dy, dtype=np.float32) on NumPy.")
        raise TypeError(msg)
    if dy.shape != shape:
        msg = f"{expected}, got shape {tuple(dy.shape)}."
        raise ValueError(msg)
    ops = getattr(owner, "ops", None)  # another type: another backend's array?
    if ops is not None:
        ops.backend.check(dy, f"the dy given to {who}.backward",
                          owner=f"this {type(owner).__name__} layer")


def _string_fix(value: str, example: str) -> str:
    """The fix for a number passed as a string: the number itself when it parses."""
    try:
        float(value)
    except ValueError:
        return f"pass a number, e.g. {example}" if example else "pass a number"
    return f"pass the number {value.strip()} (without quotes)"


def is_bool(value: Any) -> bool:
    """A Python or NumPy bool (not an integer that merely converts to one)."""
    return isinstance(value, (bool, np.bool_))


def integer(name: str, value: Any, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """``value`` as a Python ``int`` in ``[minimum, maximum]`` (either bound optional).

    NumPy integers are accepted; bools, floats (even ``2.0``) and strings are not.

    >>> integer("start_epoch", np.int64(3), minimum=0)
    3
    """
    example = _int_example(name, minimum, maximum)
    if isinstance(value, str):
        msg = f"{name} must be an integer, got {describe(value)}; {_string_fix(value, example)}."
        raise TypeError(msg)
    if is_bool(value) or not isinstance(value, numbers.Integral):
        fix = f"pass a whole number, e.g. {example}" if example else "pass a whole number"
        if isinstance(value, numbers.Real) and not is_bool(value) and math.isfinite(value):
            whole = float(value)
            fix = (f"pass the whole number {int(whole)}" if whole.is_integer() else
                   f"pass a whole number such as {math.floor(whole)} or {math.ceil(whole)} "
                   "(it is not rounded for you)")
        msg = f"{name} must be an integer, got {describe(value)}; {fix}."
        raise TypeError(msg)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        elif minimum is None:
            expected = f"an integer <= {maximum}"
        else:
            expected = f"an integer from {minimum} to {maximum}"
        fix = f"; pass e.g. {example}" if example else ""
        msg = f"{name} must be {expected}, got {value}{fix}."
        raise ValueError(msg)
    return value


def _int_example(name: str, minimum: int | None, maximum: int | None) -> str:
    """``keyword=value`` to suggest for the integer parameter called ``name`` (its last word,
    as for :func:`_example`): 10, or the bound nearest to it; empty where the name is no
    keyword (``"an epoch in log_every"``, ``"seeds[1]"``).

    >>> _int_example("Dense n_in", 1, None), _int_example("threads", 1, 4)
    ('n_in=10', 'threads=4')
    >>> _int_example("seeds[1]", 0, None)
    ''
    """
    words = name.split()
    if not 1 <= len(words) <= 2 or not words[-1].isidentifier():
        return ""
    value = 10 if minimum is None else max(minimum, 10)
    return f"{words[-1]}={value if maximum is None else min(value, maximum)}"


def positive_int(name: str, value: Any) -> int:
    """An integer ``>= 1`` (a count, a size).

    >>> positive_int("batch_size", 32)
    32
    """
    return integer(name, value, minimum=1)


def non_negative_int(name: str, value: Any) -> int:
    """An integer ``>= 0`` (a count that may be zero)."""
    return integer(name, value, minimum=0)


#: A sensible value to show in an error, by keyword (0.1 otherwise)
_EXAMPLES = {"epsilon": 1e-7, "init_scale": 0.01, "divisor": 250.0}


def _example(name: str) -> str:
    """``keyword=value`` to suggest for the parameter called ``name`` in messages (its last
    word: "Dense init_scale" is passed as ``init_scale=``).

    >>> _example("Dense init_scale"), _example("epsilon"), _example("lr")
    ('init_scale=0.01', 'epsilon=1e-07', 'lr=0.1')
    """
    keyword = name.split()[-1] if name.split() else name
    return f"{keyword}={_EXAMPLES.get(keyword, 0.1):g}"


def finite_float(name: str, value: Any) -> float:
    """A finite real number as a Python ``float`` (ints and NumPy scalars accepted).

    >>> finite_float("init_scale", 1)
    1.0
    """
    if isinstance(value, str):
        msg = (f"{name} must be a number, got {describe(value)}; "
               f"{_string_fix(value, _example(name))}.")
        raise TypeError(msg)
    if is_bool(value) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a real number, got {describe(value)}; pass e.g. {_example(name)}."
        raise TypeError(msg)
    number = float(value)
    if not math.isfinite(number):
        msg = f"{name} must be a finite number, got {number}; pass e.g. {_example(name)}."
        raise ValueError(msg)
    return number


def in_range(name: str, value: Any, lo: float, hi: float, *, include_lo: bool = True,
             include_hi: bool = False, why: str = "") -> float:
    """A finite number in the interval from ``lo`` to ``hi`` (``[lo, hi)`` by default);
    ``why`` says what goes wrong outside it.

    >>> in_range("beta_1", 0.9, 0.0, 1.0)
    0.9
    """
    number = finite_float(name, value)
    above = number >= lo if include_lo else number > lo
    below = number <= hi if include_hi else number < hi
    if not (above and below):
        interval = f"{'[' if include_lo else '('}{lo:g}, {hi:g}{']' if include_hi else ')'}"
        # ``why`` says what goes wrong at the top of the range: said only above it
        said = f" ({why})" if why and above else ""
        msg = f"{name} must be in {interval}, got {number:g}{said}."
        raise ValueError(msg)
    return number


def probability(name: str, value: Any, *, why: str = "") -> float:
    """A number in ``[0, 1)``: a dropout rate, a momentum, a decay factor like Adam's betas."""
    return in_range(name, value, 0.0, 1.0, why=why)


def positive_float(name: str, value: Any) -> float:
    """A finite number ``> 0`` (a learning rate, a scale, an epsilon)."""
    number = finite_float(name, value)
    if not number > 0:
        msg = f"{name} must be > 0, got {number:g}; pass e.g. {_example(name)}."
        raise ValueError(msg)
    return number


def non_negative_float(name: str, value: Any) -> float:
    """A finite number ``>= 0`` (a penalty strength, a decay; 0 switches it off)."""
    number = finite_float(name, value)
    if not number >= 0:
        msg = f"{name} must be >= 0 (0 switches it off), got {number:g}."
        raise ValueError(msg)
    return number


def flag(name: str, value: Any, *, auto: bool = False) -> Any:
    """``True`` or ``False`` (NumPy's bool too), nothing that merely converts to one; with
    ``auto``, the string ``"auto"`` too (returned as it is).

    >>> flag("shuffle", np.True_), flag("fast", "auto", auto=True)
    (True, 'auto')
    """
    if auto and isinstance(value, str) and value == "auto":
        return value
    if not is_bool(value):
        choices = "True, False or 'auto'" if auto else "True or False"
        msg = f"{name} must be {choices}, got {describe(value)}."
        raise TypeError(msg)
    return bool(value)


def one_of(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``.

    >>> one_of("mode", "full", ("full", "sampled"))
    'full'
    """
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        msg = f"{name} must be one of {options}, got {describe(value)}."
        raise ValueError(msg)
    return value


def real_float_dtype(name: str, value: Any) -> str:
    """The name of a floating dtype a model computes in, ``"float32"`` or ``"float64"``,
    from that name or a NumPy dtype (``np.float32``, ``np.dtype("float64")``).

    >>> real_float_dtype("dtype", np.float64)
    'float64'
    """
    try:  # np.dtype(None) is float64: None is no dtype here
        dtype = None if value is None else np.dtype(value.lower() if isinstance(value, str)
                                                    else value)
    except TypeError:
        dtype = None
    if dtype is None or dtype.name not in FLOAT_DTYPES:
        msg = (f"{name} must be 'float32' (the default) or 'float64', got {describe(value)}. "
               "Parameters are floating point; integer data is converted when it arrives.")
        raise (TypeError if dtype is None and not isinstance(value, str) else ValueError)(msg)
    return dtype.name
