r"""Optimizers: SGD (with momentum), Adagrad, RMSprop, Adam.

One base class holds the book's learning-rate decay

.. math:: \eta_t = \eta / (1 + \mathrm{decay} \cdot t)

and the step counter ``iterations``; a subclass writes only the update of one parameter
array from its gradient and its state (``update``). State arrays live in
``layer.optimizer_state[name]``, next to the parameter they belong to, as in the book.

Call order per training step, as in the book::

    optimizer.pre_update_params()          # decay the learning rate
    for layer in trainable_layers:
        optimizer.update_params(layer)
    optimizer.post_update_params()         # iterations += 1
"""

from __future__ import annotations

from typing import Any, ClassVar

from array_api_compat import array_namespace

from . import trace as _trace
from .fast import RULES, UpdateRule

__all__ = ["SGD", "Adagrad", "Adam", "Optimizer", "RMSprop"]

#: Added to denominators so a parameter with a zero gradient history does not divide by 0.
EPSILON = 1e-7


class Optimizer:
    """Base class: learning-rate decay, the step counter and the per-array loop.

    Parameters
    ----------
    learning_rate : float
        The initial learning rate :math:`\\eta`.
    decay : float
        The decay of the learning rate per step (0 keeps it constant).
    """

    registry: ClassVar[dict[str, type[Optimizer]]] = {}
    #: names of the state arrays kept per parameter (e.g. ``("m", "v")`` for Adam)
    state_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        Optimizer.registry[cls.__name__] = cls

    def __init__(self, learning_rate: float, decay: float = 0.0):
        if not learning_rate > 0:
            msg = f"learning_rate must be > 0, got {learning_rate!r}."
            raise ValueError(msg)
        if not decay >= 0:
            msg = f"decay must be >= 0, got {decay!r}."
            raise ValueError(msg)
        self.learning_rate = float(learning_rate)
        self.current_learning_rate = float(learning_rate)
        self.decay = float(decay)
        self.iterations = 0
        self._param = ""  # the parameter being updated, as explain mode names it
        #: fused update kernels (:mod:`xpnet.fast`) lent by a model while it trains, or None
        self.kernels: Any = None

    def pre_update_params(self) -> None:
        """Decay the learning rate for the coming step: ``lr / (1 + decay * iterations)``."""
        if self.decay:
            self.current_learning_rate = self.learning_rate * (
                1.0 / (1.0 + self.decay * self.iterations)
            )
        if _trace.ACTIVE is not None:
            _trace.emit(type(self).__name__, "lr", self.current_learning_rate, "update",
                        step=self.iterations + 1, **self.get_config())

    def update_params(self, layer: Any) -> None:
        """Update every parameter array of ``layer`` from ``layer.grads``."""
        state = getattr(layer, "optimizer_state", None)
        if state is None:
            state = layer.optimizer_state = {}
        tracing = _trace.ACTIVE is not None
        kernels = getattr(self, "kernels", None)
        rule = None if kernels is None or tracing else self.kernel_rule()
        scalars = self.kernel_scalars() if rule is not None else ()  # the same for every array
        for name, p in layer.params.items():
            g = layer.grads[name]
            s = state.get(name)
            if s is None:
                xp = layer.xp
                s = state[name] = {
                    key: xp.zeros_like(p) for key in self.state_names
                }
            if rule is not None and kernels is not None and g.dtype == p.dtype and all(
                    a.dtype == p.dtype for a in s.values()):
                kernels.update(rule, scalars, p, g, [s[k] for k in rule.state])
                continue
            if tracing:
                self._param = f"{getattr(layer, 'name', type(layer).__name__)}.{name}"
                self._emit("g", g)
                self._emit("p_before", p)
            layer.params[name] = self.update(p, g, s)
            if tracing:
                self._emit("p_after", layer.params[name])

    def _emit(self, quantity: str, value: Any) -> None:
        """Report a per-parameter quantity of the current step to explain mode."""
        _trace.emit(type(self).__name__, quantity, value, "update", param=self._param,
                    step=self.iterations + 1)

    def post_update_params(self) -> None:
        """Count the step (bias corrections and decay use ``iterations``)."""
        self.iterations += 1

    def step(self, layers: Any) -> None:
        """One full update: pre_update, every layer's parameters, post_update."""
        self.pre_update_params()
        self.update_layers(layers)
        self.post_update_params()

    def update_layers(self, layers: Any) -> None:
        """Update every parameter array of every layer (the middle of :meth:`step`)."""
        for layer in layers:
            self.update_params(layer)

    def update(self, p: Any, g: Any, state: dict[str, Any]) -> Any:
        """Return the updated parameter ``p`` given its gradient ``g``; update ``state``."""
        raise NotImplementedError

    def kernel_rule(self) -> UpdateRule | None:
        """The fused kernel that does :meth:`update` in one pass (:mod:`xpnet.fast`), or
        None for none: then fast paths leave this optimizer to the generic code."""
        return None

    def kernel_scalars(self) -> tuple[float, ...]:
        """This step's scalars for :meth:`kernel_rule`, in its order."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "decay": self.decay}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _apply(p: Any, delta: Any) -> Any:
    """``p + delta`` with the result kept in ``p``'s dtype, in place where possible.

    The book's ``layer.weights += ...`` computes in the promoted dtype (float64 when a
    gradient is float64) and casts back to the parameter's float32; this does the same.
    """
    if delta.dtype == p.dtype:
        p += delta
        return p
    xp = array_namespace(p)
    return xp.astype(p + delta, p.dtype)


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional momentum.

    Without momentum: :math:`p \leftarrow p - \eta_t g`. With momentum :math:`\mu`:
    :math:`u \leftarrow \mu u - \eta_t g`, :math:`p \leftarrow p + u`.

    Examples
    --------
    >>> import numpy as np
    >>> opt = SGD(learning_rate=0.5, momentum=0.9)
    >>> p, state = np.array([1.0]), {"u": np.array([0.0])}
    >>> opt.update(p, np.array([2.0]), state).tolist(), state["u"].tolist()
    ([0.0], [-1.0])
    """

    state_names = ("u",)  # used only with momentum; a zero array per parameter otherwise

    def __init__(self, learning_rate: float = 1.0, decay: float = 0.0, momentum: float = 0.0):
        super().__init__(learning_rate, decay)
        if not 0 <= momentum < 1:
            msg = f"momentum must be in [0, 1), got {momentum!r}."
            raise ValueError(msg)
        self.momentum = float(momentum)

    def update(self, p: Any, g: Any, state: dict[str, Any]) -> Any:
        if self.momentum:
            u = state["u"] = self.momentum * state["u"] - self.current_learning_rate * g
        else:
            u = -self.current_learning_rate * g
        if _trace.ACTIVE is not None:
            self._emit("update", u)
        return _apply(p, u)

    def kernel_rule(self) -> UpdateRule | None:
        return RULES["sgd_momentum" if self.momentum else "sgd"]

    def kernel_scalars(self) -> tuple[float, ...]:
        lr = self.current_learning_rate
        return (self.momentum, lr) if self.momentum else (-lr,)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum}


class Adagrad(Optimizer):
    r"""Adagrad: :math:`c \leftarrow c + g^2`,
    :math:`p \leftarrow p - \eta_t g / (\sqrt c + \epsilon)`.

    Each parameter's step shrinks with the sum of all its past squared gradients
    (Duchi, Hazan & Singer, 2011).
    """

    state_names = ("cache",)

    def __init__(self, learning_rate: float = 1.0, decay: float = 0.0, epsilon: float = EPSILON):
        super().__init__(learning_rate, decay)
        self.epsilon = float(epsilon)

    def accumulate(self, cache: Any, g: Any) -> Any:
        """The new cache of squared gradients."""
        return cache + g * g

    def update(self, p: Any, g: Any, state: dict[str, Any]) -> Any:
        xp = array_namespace(p)
        cache = state["cache"] = self.accumulate(state["cache"], g)
        update = -self.current_learning_rate * g / (xp.sqrt(cache) + self.epsilon)
        if _trace.ACTIVE is not None:
            self._emit("cache", cache)
            self._emit("update", update)
        return _apply(p, update)

    def kernel_rule(self) -> UpdateRule | None:
        return RULES["adagrad"]

    def kernel_scalars(self) -> tuple[float, ...]:
        return (-self.current_learning_rate, self.epsilon)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


class RMSprop(Adagrad):
    r"""RMSprop: Adagrad with a leaky cache, :math:`c \leftarrow \rho c + (1-\rho) g^2`
    (Hinton, lecture 6e), so old gradients are forgotten and steps do not shrink forever.
    """

    def __init__(
        self, learning_rate: float = 0.001, decay: float = 0.0, epsilon: float = EPSILON,
        rho: float = 0.9,
    ):
        super().__init__(learning_rate, decay, epsilon)
        self.rho = float(rho)

    def accumulate(self, cache: Any, g: Any) -> Any:
        return self.rho * cache + (1 - self.rho) * (g * g)

    def kernel_rule(self) -> UpdateRule | None:
        return RULES["rmsprop"]

    def kernel_scalars(self) -> tuple[float, ...]:
        return (-self.current_learning_rate, self.epsilon, self.rho, 1 - self.rho)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho}


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), in the book's form.

    .. math::
        m &\leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \hat m &= m / (1-\beta_1^{t+1}), \qquad \hat v = v / (1-\beta_2^{t+1}) \\
        p &\leftarrow p - \eta_t \hat m / (\sqrt{\hat v} + \epsilon)

    with ``t = iterations`` (0 on the first step). ``m`` and ``v`` are exponential averages
    over all past steps with time constants of about :math:`1/(1-\beta_1) = 10` and
    :math:`1/(1-\beta_2) = 1000` steps.

    Examples
    --------
    >>> import numpy as np
    >>> opt = Adam(learning_rate=0.1)
    >>> state = {"m": np.zeros(1), "v": np.zeros(1)}
    >>> p = opt.update(np.array([1.0]), np.array([0.5]), state)
    >>> round(float(p[0]), 6)   # the first step moves by ~lr whatever the gradient's size
    0.9
    """

    state_names = ("m", "v")

    def __init__(
        self, learning_rate: float = 0.001, decay: float = 0.0, epsilon: float = EPSILON,
        beta_1: float = 0.9, beta_2: float = 0.999,
    ):
        super().__init__(learning_rate, decay)
        self.epsilon, self.beta_1, self.beta_2 = float(epsilon), float(beta_1), float(beta_2)

    def update(self, p: Any, g: Any, state: dict[str, Any]) -> Any:
        xp = array_namespace(p)
        b1, b2, t = self.beta_1, self.beta_2, self.iterations + 1
        m = state["m"] = b1 * state["m"] + (1 - b1) * g
        v = state["v"] = b2 * state["v"] + (1 - b2) * (g * g)
        # bias correction: m and v start at 0, so early averages are too small
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        update = -self.current_learning_rate * m_hat / (xp.sqrt(v_hat) + self.epsilon)
        if _trace.ACTIVE is not None:
            for quantity, value in (("m", m), ("v", v), ("m_hat", m_hat), ("v_hat", v_hat),
                                    ("update", update)):
                self._emit(quantity, value)
        return _apply(p, update)

    def kernel_rule(self) -> UpdateRule | None:
        return RULES["adam"]

    def kernel_scalars(self) -> tuple[float, ...]:
        b1, b2, t = self.beta_1, self.beta_2, self.iterations + 1
        return (-self.current_learning_rate, self.epsilon, b1, 1 - b1, b2, 1 - b2,
                1 - b1**t, 1 - b2**t)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(), "epsilon": self.epsilon,
            "beta_1": self.beta_1, "beta_2": self.beta_2,
        }
