r"""Optimizers: SGD (with momentum), Adagrad, RMSprop, Adam.

One base class holds the book's learning-rate decay

.. math:: \eta_t = \eta / (1 + \mathrm{decay} \cdot t)

and the step counter ``iterations``. A subclass writes only its **update rule**: a method
``update(xp, p, g, *state, **hyperparameters)`` that returns the new parameter and state
arrays, in plain arithmetic on the arrays it is given. That one definition serves every
engine (:mod:`xpnet.engine`): the plain engine calls it; the fused engine compiles the very
same method into one GPU kernel per parameter array; many models at once call it with a
leading model axis and one learning rate per copy.

State arrays live in ``layer.optimizer_state[name]``, next to the parameter they belong to,
as in the book. Call order per training step, as in the book::

    optimizer.pre_update_params()          # decay the learning rate
    for layer in trainable_layers:
        optimizer.update_params(layer)
    optimizer.post_update_params()         # iterations += 1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from .. import trace, validate
from ..backend import backend_of
from .ops import Ops
from .registry import Registered

__all__ = ["EPSILON", "SGD", "Adagrad", "Adam", "Optimizer", "RMSprop", "Setting"]

#: Added to denominators so a parameter with a zero gradient history does not divide by 0.
EPSILON = 1e-7

_AVERAGE = "an average's share of the past; 1 would never let a new gradient in"
#: The range of each setting, checked whenever it is set (:class:`Setting`).
_CHECKS: dict[str, Callable[[str, Any], float]] = {
    "learning_rate": validate.positive_float,
    "decay": validate.non_negative_float,
    "epsilon": validate.positive_float,
    "momentum": partial(validate.probability, why=_AVERAGE),
    "rho": partial(validate.probability, why=_AVERAGE),
    "beta_1": partial(validate.probability,
                      why="at 1 the bias correction m / (1 - beta_1**t) divides by zero"),
    "beta_2": partial(validate.probability,
                      why="at 1 the bias correction v / (1 - beta_2**t) divides by zero"),
}


class Setting(validate.Checked):
    """An optimizer's setting (``learning_rate``, ``beta_1``...), checked against its range
    (:data:`_CHECKS`) whenever it is set: in the constructor, or later by a schedule of one's
    own (``model.optimizer.learning_rate = 0.01`` in a callback). Without decay the rate in
    use, ``current_learning_rate``, is the learning rate itself, so setting one sets both."""

    def __init__(self) -> None:
        super().__init__(None)

    def __set_name__(self, owner: type, name: str) -> None:
        super().__set_name__(owner, name)
        self.check, self.label = _CHECKS[name], name

    def __set__(self, obj: Any, value: Any) -> None:
        super().__set__(obj, value)
        if self.name == "learning_rate" and not obj.__dict__.get("decay"):
            obj.__dict__["current_learning_rate"] = obj.__dict__[self.name]


class Optimizer(Registered):
    """Base class: learning-rate decay, the step counter and the per-array loop.

    Parameters
    ----------
    learning_rate : float
        The initial learning rate :math:`\\eta`.
    decay : float
        The decay of the learning rate per step (0 keeps it constant).

    Attributes
    ----------
    state_names : tuple of str
        The state arrays kept per parameter, in the order ``update`` takes them (``("m",
        "v")`` for Adam).
    squares : tuple of str
        Those of ``state_names`` that sum squared gradients, never negative (``("v",)`` for
        Adam): a saved model's are checked when it is loaded.
    """

    state_names: tuple[str, ...] = ()
    squares: tuple[str, ...] = ()
    #: the model that trains with it (a weak reference), set by ``Model.set``
    _owner: Any = None
    learning_rate = Setting()
    decay = Setting()

    def __init__(self, learning_rate: float, decay: float = 0.0):
        self.learning_rate = learning_rate
        self.current_learning_rate = self.learning_rate
        self.decay = decay
        self.iterations = 0
        self.param = ""  # the parameter being updated, as explain mode names it

    # -- the book's three calls -----------------------------------------------------------
    def pre_update_params(self) -> None:
        """Decay the learning rate for the coming step: ``lr / (1 + decay * iterations)``."""
        if self.decay:
            self.current_learning_rate = self.learning_rate * (
                1.0 / (1.0 + self.decay * self.iterations)
            )
        if trace.ACTIVE is not None:  # the configuration is built only for a tracer
            trace.emit(type(self).__name__, "update", step=self.iterations + 1,
                       info=self.get_config(), lr=self.current_learning_rate)

    def update_params(self, layer: Any) -> None:
        """Update every parameter array of ``layer`` from ``layer.grads``, with the engine
        the layer computes with (``layer.ops``; the plain one for a component without)."""
        if not (isinstance(getattr(layer, "params", None), dict)
                and isinstance(getattr(layer, "grads", None), dict)):
            raise self._not_a_layer(layer)
        if not layer.params:  # (an unbuilt Dense, an activation: nothing would change)
            raise self._no_params(layer)
        ops = getattr(layer, "ops", None)
        for name, p in layer.params.items():
            ops = ops or Ops(backend_of(p))
            g = layer.grads.get(name)
            if g is None:
                msg = (f"{type(self).__name__}.update_params: "
                       f"{getattr(layer, 'name', type(layer).__name__)} has no gradient for "
                       f"{name!r} yet; call its backward before the optimizer step.")
                raise RuntimeError(msg)
            if getattr(g, "shape", None) != p.shape:  # (NumPy would broadcast a row)
                raise self._gradient_mismatch(layer, name, g, p)
            state = self.state_of(layer, name, p)
            self.param = f"{getattr(layer, 'name', type(layer).__name__)}.{name}"
            self.emit(g=g, p_before=p)
            layer.params[name] = ops.update(self, p, g, state)
            self.emit(p_after=layer.params[name])

    def _gradient_mismatch(self, layer: Any, name: str, g: Any, p: Any) -> Exception:
        got = (f"has shape {tuple(g.shape)}" if hasattr(g, "shape") else
               f"is {validate.describe(g)}")
        msg = (f"{type(self).__name__}.update_params: the gradient of "
               f"{getattr(layer, 'name', type(layer).__name__)}'s {name!r} {got}, but the "
               f"parameter has shape {tuple(p.shape)}: a layer's backward sets grads[{name!r}] "
               "to an array of its parameter's shape (dL/dp for each value).")
        return (ValueError if hasattr(g, "shape") else TypeError)(msg)

    def _not_a_layer(self, layer: Any) -> TypeError:
        hint = ("use optimizer.step(layers) for several" if isinstance(layer, (list, tuple))
                else "a layer of xpnet.book takes the book's optimizers (Optimizer_Adam, ...)"
                if hasattr(layer, "xpnet") else "e.g. a Dense")
        return TypeError(f"{type(self).__name__}.update_params expects one layer with params "
                         f"and grads, got {validate.describe(layer)}; {hint}.")

    def _no_params(self, layer: Any) -> ValueError:
        name = type(layer).__name__
        if getattr(layer, "built", True) is False:
            why = (f"{name} has no parameters (yet): a Dense's are created by its first "
                   "forward pass (or when a Model builds it), and an activation or a Dropout "
                   "has none. Pass layers with parameters, after their forward and backward "
                   "passes (a Model's are model.trainable_layers)")
        else:
            why = (f"{name} has no parameters to update (an activation or a Dropout learns "
                   "nothing). Pass only the layers with parameters, e.g. the Dense layers "
                   "(a Model's are model.trainable_layers)")
        return ValueError(f"{type(self).__name__}.update_params: {why}.")

    def state_of(self, layer: Any, name: str, p: Any) -> dict[str, Any]:
        """The state arrays of ``layer``'s parameter ``name`` (``{state name: array}``),
        zeros like ``p`` the first time: ``layer.optimizer_state[name]``. A state this
        optimizer keeps and the layer lacks (another optimizer trained it before) starts
        at zeros, as the book's optimizers create what they miss."""
        states = getattr(layer, "optimizer_state", None)
        if states is None:
            states = layer.optimizer_state = {}
        state: dict[str, Any] | None = states.get(name)
        if state is None:
            state = states[name] = {}
        missing = [k for k in self.state_names if k not in state]
        if missing:
            xp = backend_of(p).xp
            state.update({k: xp.zeros_like(p) for k in missing})
        return state

    def post_update_params(self) -> None:
        """Count the step (bias corrections and decay use ``iterations``)."""
        self.iterations += 1

    def step(self, layers: Any) -> None:
        """One full update: pre_update, every layer's parameters, post_update."""
        if hasattr(layers, "forward") or not isinstance(layers, Iterable):
            msg = (f"{type(self).__name__}.step expects a list of layers, got "
                   f"{validate.describe(layers)}; e.g. optimizer.step([dense1, dense2]) (or "
                   "optimizer.update_params(layer) for one).")
            raise TypeError(msg)
        self.pre_update_params()
        self.update_layers(layers)
        self.post_update_params()

    def update_layers(self, layers: Any) -> None:
        """Update every parameter array of every layer (the middle of :meth:`step`)."""
        for layer in layers:
            self.update_params(layer)

    # -- what a subclass writes -----------------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        """The keyword arguments of this step's update rule (the decayed rate ``lr``...)."""
        return {"lr": self.current_learning_rate}

    def update(self, xp: Any, p: Any, g: Any, *state: Any, **hyperparameters: Any) -> Any:
        """The update rule: the new ``p`` and state arrays from ``p``, its gradient ``g`` and
        its state (in :attr:`state_names` order), as a tuple ``(p, *state)``.

        Write it in plain arithmetic (``+ - * /``, ``xp.sqrt``, names), one assignment per
        line, so that the fused engine can compile it (:mod:`xpnet.engine.rules`).
        """
        raise NotImplementedError

    def rule(self) -> Callable[..., Any]:
        """The update rule this optimizer runs (``update``, unless a setting picks another)."""
        return self.update

    def emit(self, **values: Any) -> None:
        """Report per-parameter quantities of the current step to explain mode."""
        trace.emit(type(self).__name__, "update", param=self.param, step=self.iterations + 1,
                   **values)

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "decay": self.decay}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional momentum.

    Without momentum: :math:`p \leftarrow p - \eta_t g`. With momentum :math:`\mu`:
    :math:`u \leftarrow \mu u - \eta_t g`, :math:`p \leftarrow p + u`.

    Examples
    --------
    >>> import numpy as np, array_api_compat.numpy as xp
    >>> opt = SGD(learning_rate=0.5, momentum=0.9)
    >>> p, u = opt.momentum_update(xp, np.array([1.0]), np.array([2.0]), np.array([0.0]),
    ...                            lr=0.5, momentum=0.9)
    >>> p.tolist(), u.tolist()
    ([0.0], [-1.0])
    """

    momentum = Setting()

    def __init__(self, learning_rate: float = 1.0, decay: float = 0.0, momentum: float = 0.0):
        super().__init__(learning_rate, decay)
        self.momentum = momentum

    @property
    def state_names(self) -> tuple[str, ...]:  # type: ignore[override]
        """``("u",)`` with momentum, else none (set later, momentum changes the rule)."""
        return ("u",) if self.momentum else ()

    def hyperparameters(self) -> dict[str, Any]:
        lr = self.current_learning_rate
        return {"lr": lr, "momentum": self.momentum} if self.momentum else {"lr": lr}

    def update(self, xp: Any, p: Any, g: Any, *, lr: float) -> Any:
        step = -lr * g
        self.emit(update=step)
        return (p + step,)

    def momentum_update(self, xp: Any, p: Any, g: Any, u: Any, *, lr: float,
                        momentum: float) -> Any:
        u = momentum * u - lr * g  # the step, with a share of the previous one
        self.emit(update=u)
        return p + u, u

    def rule(self) -> Callable[..., Any]:
        return self.momentum_update if self.momentum else self.update

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum}


class Adagrad(Optimizer):
    r"""Adagrad: :math:`c \leftarrow c + g^2`,
    :math:`p \leftarrow p - \eta_t g / (\sqrt c + \epsilon)`.

    Each parameter's step shrinks with the sum of all its past squared gradients
    (Duchi, Hazan & Singer, 2011).
    """

    epsilon = Setting()
    state_names = squares = ("cache",)

    def __init__(self, learning_rate: float = 1.0, decay: float = 0.0, epsilon: float = EPSILON):
        super().__init__(learning_rate, decay)
        self.epsilon = epsilon

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.current_learning_rate, "epsilon": self.epsilon}

    def update(self, xp: Any, p: Any, g: Any, cache: Any, *, lr: float,
               epsilon: float) -> Any:
        cache = cache + g * g
        step = -lr * g / (xp.sqrt(cache) + epsilon)
        self.emit(cache=cache, update=step)
        return p + step, cache

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


class RMSprop(Adagrad):
    r"""RMSprop: Adagrad with a leaky cache, :math:`c \leftarrow \rho c + (1-\rho) g^2`
    (Hinton, lecture 6e), so old gradients are forgotten and steps do not shrink forever.
    """

    rho = Setting()

    def __init__(
        self, learning_rate: float = 0.001, decay: float = 0.0, epsilon: float = EPSILON,
        rho: float = 0.9,
    ):
        super().__init__(learning_rate, decay, epsilon)
        self.rho = rho

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "rho": self.rho}

    def update(self, xp: Any, p: Any, g: Any, cache: Any, *, lr: float,  # type: ignore[override]
               epsilon: float, rho: float) -> Any:
        cache = rho * cache + (1 - rho) * (g * g)
        step = -lr * g / (xp.sqrt(cache) + epsilon)
        self.emit(cache=cache, update=step)
        return p + step, cache

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho}


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), in the book's form.

    .. math::
        m &\leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \hat m &= m / (1-\beta_1^{t}), \qquad \hat v = v / (1-\beta_2^{t}) \\
        p &\leftarrow p - \eta_t \hat m / (\sqrt{\hat v} + \epsilon)

    with ``t = iterations + 1`` (1 on the first step). ``m`` and ``v`` are exponential
    averages over all past steps with time constants of about :math:`1/(1-\beta_1) = 10` and
    :math:`1/(1-\beta_2) = 1000` steps.

    Examples
    --------
    >>> import numpy as np, array_api_compat.numpy as xp
    >>> opt = Adam(learning_rate=0.1)
    >>> p, m, v = opt.update(xp, np.array([1.0]), np.array([0.5]), np.zeros(1), np.zeros(1),
    ...                      **opt.hyperparameters())
    >>> round(float(p[0]), 6)   # the first step moves by ~lr whatever the gradient's size
    0.9
    """

    epsilon = Setting()
    beta_1 = Setting()
    beta_2 = Setting()
    state_names, squares = ("m", "v"), ("v",)

    def __init__(
        self, learning_rate: float = 0.001, decay: float = 0.0, epsilon: float = EPSILON,
        beta_1: float = 0.9, beta_2: float = 0.999,
    ):
        super().__init__(learning_rate, decay)
        self.epsilon, self.beta_1, self.beta_2 = epsilon, beta_1, beta_2

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.current_learning_rate, "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "t": self.iterations + 1}

    def update(self, xp: Any, p: Any, g: Any, m: Any, v: Any, *, lr: float, beta_1: float,
               beta_2: float, epsilon: float, t: int) -> Any:
        m = beta_1 * m + (1 - beta_1) * g  # moving average of g
        v = beta_2 * v + (1 - beta_2) * (g * g)  # moving average of g**2
        m_hat = m / (1 - beta_1**t)  # bias correction: m and v start at 0
        v_hat = v / (1 - beta_2**t)
        step = -lr * m_hat / (xp.sqrt(v_hat) + epsilon)
        self.emit(m=m, v=v, m_hat=m_hat, v_hat=v_hat, update=step)
        return p + step, m, v

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(), "epsilon": self.epsilon,
            "beta_1": self.beta_1, "beta_2": self.beta_2,
        }
