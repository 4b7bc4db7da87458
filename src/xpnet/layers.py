"""Layers: the :class:`Layer` protocol, :class:`Dense` and :class:`Dropout`.

A layer pairs ``forward`` and ``backward``. ``forward(x, training)`` returns the output
and keeps exactly what ``backward`` needs; ``backward(dy)`` returns the input gradient
``dx`` and stores parameter gradients in ``grads`` (same keys as ``params``).

The protocol is all a component needs to be trained by :class:`xpnet.Model` and checked by
``xpnet gradcheck``: a class with ``forward``/``backward``, optional ``params``/``grads``
dicts, and optional ``build(backend, rng, precision)`` to allocate its state.
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import precision as _precision
from . import trace as _trace
from .backend import Backend, backend_of
from .random import Generator, SeedLike, as_generator
from .workspace import Workspace

__all__ = ["Dense", "Dropout", "Layer"]

#: The book's weight initialisation scale: ``W = 0.01 * randn(n_in, n_out)``.
DEFAULT_INIT_SCALE = 0.01


class Layer:
    """Base class of every layer and activation.

    Attributes
    ----------
    params : dict[str, array]
        Trainable arrays by name (empty for activations).
    grads : dict[str, array]
        Gradients of the loss with respect to ``params``, set by ``backward``.
    need_input_grad : bool
        When False, ``backward`` may skip computing ``dx`` (the model sets this on its
        first layer, whose input gradient nobody uses) and return None.
    workspace : Workspace or None
        Buffers to write training outputs into, reused from step to step; the model sets it
        while it trains (see :mod:`xpnet.workspace`). None means: allocate.
    overwrite_input, overwrite_dy : bool
        Set by the model while it trains: the layer may write its output over its input
        (the layer before has :attr:`scratch_output`), or its input gradient over ``dy``
        (the layer after has :attr:`scratch_dx`).
    """

    #: registry of layer classes by name, for saving and loading models
    registry: ClassVar[dict[str, type[Layer]]] = {}
    #: The training output is an array this layer neither keeps nor gets from elsewhere, so
    #: the next layer may overwrite it. False (the safe answer) unless a layer declares it.
    scratch_output: ClassVar[bool] = False
    #: Likewise for the input gradient ``backward`` returns.
    scratch_dx: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        Layer.registry[cls.__name__] = cls

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.grads: dict[str, Any] = {}
        self.need_input_grad = True
        self.workspace: Workspace | None = None
        self.overwrite_input = False
        self.overwrite_dy = False
        self.backend: Backend | None = None
        self.precision = _precision.DEFAULT
        #: how explain mode names this layer (a Model sets "Dense[0]", "ReLU[1]", ...)
        self.name = type(self).__name__

    @property
    def xp(self) -> Any:
        if self.backend is None:
            msg = (f"{type(self).__name__} is not built yet: add it to a Model or call forward "
                   "first.")
            raise RuntimeError(msg)
        return self.backend.xp

    def build(
        self, backend: Backend, rng: Generator, precision: _precision.Precision
    ) -> None:
        """Bind the layer to a backend and precision policy, allocating any state."""
        self.backend = backend
        self.precision = precision

    @property
    def built(self) -> bool:
        return self.backend is not None

    def _build_from(self, x: Any, seed: SeedLike) -> None:
        """Build a layer used on its own from its first input (backend and float dtype)."""
        if self.backend is None:
            backend = backend_of(x)
            dtype = "float64" if x.dtype == backend.xp.float64 else "float32"
            self.build(backend, as_generator(seed), self.precision.with_dtype(dtype))

    def _workspace(self, training: bool = True) -> Workspace | None:
        """The workspace to write into now, if any: only while training with a namespace
        that takes ``out=``, and never while explain mode records (it must see each
        step's arrays before the next step overwrites them)."""
        ws = self.workspace
        if ws is None or ws.native is None or not training or _trace.ACTIVE is not None:
            return None
        return ws

    def forward(self, x: Any, training: bool = True) -> Any:
        raise NotImplementedError

    def backward(self, dy: Any) -> Any:
        raise NotImplementedError

    def regularization_loss(self) -> Any:
        """This layer's regularization penalty (the integer 0 when it has none)."""
        return 0

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable, for saving the architecture."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    r"""Fully connected layer :math:`y = x W + b`.

    Weights are shaped ``(n_in, n_out)`` so that the forward pass needs no transpose;
    they start as ``init_scale * randn(n_in, n_out)`` and the biases as zeros ``(1, n_out)``.
    Optional L1/L2 penalties :math:`\lambda_1 \sum |w| + \lambda_2 \sum w^2` on weights
    and biases add :math:`\lambda_1\,\mathrm{sign}(w)` and :math:`2 \lambda_2 w` to the
    gradients (the book's sign: +1 at exactly 0).

    Parameters
    ----------
    n_in, n_out : int
        Numbers of input features and of neurons.
    weight_l1, weight_l2, bias_l1, bias_l2 : float
        Regularization strengths (0 disables a term).
    init_scale : float
        Standard deviation of the initial weights.
    seed : int, "nnfs" or Generator, optional
        Only for a layer used on its own: the stream that draws its weights when it is
        first built. Inside a :class:`~xpnet.Model` the model's stream is used.

    Examples
    --------
    >>> import numpy as np
    >>> layer = Dense(2, 3, seed=0)
    >>> y = layer.forward(np.ones((4, 2), dtype=np.float32))
    >>> y.shape, layer.params["W"].shape, layer.params["b"].shape
    ((4, 3), (2, 3), (1, 3))
    >>> dx = layer.backward(np.ones((4, 3), dtype=np.float32))
    >>> dx.shape, layer.grads["W"].shape
    ((4, 2), (2, 3))
    """

    scratch_output = True
    scratch_dx = True

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        weight_l1: float = 0.0,
        weight_l2: float = 0.0,
        bias_l1: float = 0.0,
        bias_l2: float = 0.0,
        init_scale: float = DEFAULT_INIT_SCALE,
        seed: SeedLike = None,
    ):
        super().__init__()
        for name, count in (("n_in", n_in), ("n_out", n_out)):
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                msg = f"Dense {name} must be a positive integer, got {count!r}."
                raise ValueError(msg)
        for name, value in (
            ("weight_l1", weight_l1), ("weight_l2", weight_l2),
            ("bias_l1", bias_l1), ("bias_l2", bias_l2),
        ):
            if not value >= 0:
                msg = f"Dense {name} must be >= 0, got {value!r}."
                raise ValueError(msg)
        self.n_in, self.n_out = n_in, n_out
        self.weight_l1, self.weight_l2 = float(weight_l1), float(weight_l2)
        self.bias_l1, self.bias_l2 = float(bias_l1), float(bias_l2)
        self.init_scale = float(init_scale)
        self.seed = seed

    def get_config(self) -> dict[str, Any]:
        return {
            "n_in": self.n_in, "n_out": self.n_out,
            "weight_l1": self.weight_l1, "weight_l2": self.weight_l2,
            "bias_l1": self.bias_l1, "bias_l2": self.bias_l2,
            "init_scale": self.init_scale,
        }

    def build(self, backend: Backend, rng: Generator, precision: _precision.Precision) -> None:
        super().build(backend, rng, precision)
        # Drawn on the host, so every backend starts from identical weights; the scale is
        # applied in float32 exactly as the book's `0.01 * np.random.randn(...)` does.
        W = self.init_scale * rng.randn(self.n_in, self.n_out)
        xp = backend.xp
        dtype = getattr(xp, precision.dtype)
        self.params = {
            "W": backend.asarray(W, dtype=dtype),
            "b": xp.zeros((1, self.n_out), dtype=dtype, device=backend.device),
        }

    @property
    def W(self) -> Any:
        return self.params["W"]

    @property
    def b(self) -> Any:
        return self.params["b"]

    def forward(self, x: Any, training: bool = True) -> Any:
        self._build_from(x, self.seed)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            msg = (
                f"Dense({self.n_in}, {self.n_out}) expected inputs of shape (n_samples, "
                f"{self.n_in}), got shape {tuple(x.shape)}. Reshape the data (a single "
                f"sample is x[None, :]) or build the layer with n_in={_features(x)}."
            )
            raise ValueError(msg)
        self.x = x
        ws = self._workspace(training)
        if ws is not None and self.precision.plain_matmul(x, self.W):
            if ws.folds_bias(x, self.W, self.b):
                # the bias folded into the product: [x, 1] @ [W; b], one pass fewer
                # (no trace event to emit: explain mode turns workspaces off)
                return ws.matmul("y", ws.with_ones("x1", x), ws.stack_rows("Wb", self.W, self.b))
            y = ws.matmul("y", x, self.W)
        else:
            y = self.precision.matmul(self.xp, x, self.W)
        if y.dtype == self.b.dtype:
            y += self.b  # in place: y is a fresh array, and this saves a pass and an allocation
        else:
            y = y + self.b
        if _trace.ACTIVE is not None:
            for quantity, value in (("x", x), ("W", self.W), ("b", self.b), ("y", y)):
                _trace.emit(self.name, quantity, value, "forward")
        return y

    def backward(self, dy: Any) -> Any:
        xp, x, W, b = self.xp, self.x, self.W, self.b
        tracing = _trace.ACTIVE is not None
        dW = self.precision.matmul(xp, xp.matrix_transpose(x), dy)
        db = self.precision.sum_rows(xp, dy)
        if tracing:
            for quantity, value in (("dy", dy), ("dW_data", dW), ("db_data", db)):
                _trace.emit(self.name, quantity, value, "backward")
        # penalty gradients, in the book's order and operation order
        penalties = []
        if self.weight_l1 > 0:
            penalties.append(("dW_l1", self.weight_l1 * _sign_book(xp, W)))
            dW = dW + penalties[-1][1]
        if self.weight_l2 > 0:
            penalties.append(("dW_l2", 2 * self.weight_l2 * W))
            dW = dW + penalties[-1][1]
        if self.bias_l1 > 0:
            penalties.append(("db_l1", self.bias_l1 * _sign_book(xp, b)))
            db = db + penalties[-1][1]
        if self.bias_l2 > 0:
            penalties.append(("db_l2", 2 * self.bias_l2 * b))
            db = db + penalties[-1][1]
        self.grads = {"W": dW, "b": db}
        dx = None
        if self.need_input_grad:
            Wt = xp.matrix_transpose(W)
            ws = self._workspace()
            if ws is not None and self.precision.plain_matmul(dy, Wt):
                dx = ws.matmul("dx", dy, ws.transpose("Wt", W))
            else:
                dx = self.precision.matmul(xp, dy, Wt)
        if tracing:
            for quantity, value in (*penalties, ("dW", dW), ("db", db), ("dx", dx)):
                if value is not None:
                    _trace.emit(self.name, quantity, value, "backward")
        return dx

    def regularization_loss(self) -> Any:
        """:math:`\\lambda_1 \\sum|W| + \\lambda_2 \\sum W^2` (and the same for ``b``)."""
        xp = self.xp
        loss: Any = 0
        if self.weight_l1 > 0:
            loss = loss + self.weight_l1 * xp.sum(xp.abs(self.W))
        if self.weight_l2 > 0:
            loss = loss + self.weight_l2 * xp.sum(self.W * self.W)
        if self.bias_l1 > 0:
            loss = loss + self.bias_l1 * xp.sum(xp.abs(self.b))
        if self.bias_l2 > 0:
            loss = loss + self.bias_l2 * xp.sum(self.b * self.b)
        return loss


def _sign_book(xp: Any, w: Any) -> Any:
    """+1 where ``w >= 0``, -1 where ``w < 0`` (the book's L1 subgradient)."""
    return 1 - 2 * xp.astype(w < 0, w.dtype)


def _features(x: Any) -> int | str:
    return x.shape[1] if x.ndim == 2 else "?"


class Dropout(Layer):
    """Inverted dropout: zero each unit with probability ``rate`` while training.

    Kept units are scaled by ``1 / (1 - rate)`` so that the expected activation is unchanged;
    when not training the layer is the identity.

    Parameters
    ----------
    rate : float
        Probability of dropping a unit, ``0 <= rate < 1``.
    seed : int, "nnfs" or Generator, optional
        Only for a layer used on its own; inside a Model the model's stream draws the masks.

    Examples
    --------
    >>> import numpy as np
    >>> drop = Dropout(0.5, seed=0)
    >>> y = drop.forward(np.ones((2, 4), dtype=np.float32))
    >>> sorted(set(y.ravel().tolist())) in ([0.0, 2.0], [2.0], [0.0])
    True
    >>> drop.forward(np.ones((2, 4), dtype=np.float32), training=False).sum()
    np.float32(8.0)
    """

    scratch_output = True
    scratch_dx = True

    def __init__(self, rate: float, *, seed: SeedLike = None):
        super().__init__()
        if not 0 <= rate < 1:
            msg = f"Dropout rate must be in [0, 1), got {rate!r}."
            raise ValueError(msg)
        self.rate = float(rate)
        self.keep = 1 - self.rate
        self.seed = seed
        #: the last training pass's mask: ``1/keep`` or 0 in the activations' dtype, or (on
        #: the workspace path) booleans, with ``scale = 1/keep`` applied separately
        self.mask: Any = None
        self.scale: Any = None

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate}

    def build(self, backend: Backend, rng: Generator, precision: _precision.Precision) -> None:
        super().build(backend, rng, precision)
        self.rng = rng

    def forward(self, x: Any, training: bool = True) -> Any:
        self._build_from(x, self.seed)
        self.mask = self.scale = None  # the last step's mask is freed before a new one is drawn
        if not training:
            return x
        xp = self.xp
        assert self.backend is not None
        shape = tuple(x.shape)
        dtype = self.precision.mask_dtype(xp, x.dtype)
        if self.rng.nnfs or dtype != x.dtype:
            # the book's mask: binomial / keep, in the policy's dtype (float64 when faithful)
            mask = self.rng.dropout_mask(self.keep, shape, _host_dtype(xp, dtype))
            self.mask = self.backend.asarray(mask)  # drawn on the host, moved once
            y = x * self.mask
        else:
            keep = self.backend.asarray(self.rng.keep_mask(self.keep, shape))
            scale = 1 / self.keep
            ws = self._workspace(training)
            if ws is not None:
                # booleans (a quarter of the bytes of a float mask) and the scale apart:
                # x * scale * [kept] has the same values as x * (scale * [kept])
                self.mask, self.scale = keep, scale
                out = x if self.overwrite_input else ws.buffer("y", shape, x.dtype)
                y = ws.native.multiply(x, scale, out=out)
                y *= keep
            else:
                self.mask = xp.astype(keep, x.dtype) * scale
                y = x * self.mask
        if _trace.ACTIVE is not None:
            for quantity, value in (("x", x), ("mask", self.mask), ("y", y)):
                _trace.emit(self.name, quantity, value, "forward", keep=self.keep)
        return y

    def backward(self, dy: Any) -> Any:
        if self.mask is None:
            dx = dy
        elif self.scale is not None:  # the workspace path: boolean mask, scale apart
            ws = self.workspace
            assert ws is not None and ws.native is not None
            out = dy if self.overwrite_dy else ws.buffer("dx", tuple(dy.shape), dy.dtype)
            dx = ws.native.multiply(dy, self.scale, out=out)
            dx *= self.mask
        else:
            dx = dy * self.mask
        if _trace.ACTIVE is not None:
            _trace.emit(self.name, "dy", dy, "backward")
            _trace.emit(self.name, "dx", dx, "backward")
        return dx


def _host_dtype(xp: Any, dtype: Any) -> str:
    return "float64" if dtype == xp.float64 else "float32"
