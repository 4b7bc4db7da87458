"""Layers: the :class:`Layer` protocol, :class:`Dense` and :class:`Dropout`.

A layer pairs ``forward`` and ``backward``. ``forward(x, training)`` returns the output
and keeps exactly what ``backward`` needs; ``backward(dy)`` returns the input gradient
``dx`` and stores parameter gradients in ``grads`` (same keys as ``params``).

The operations whose implementation depends on how a model runs (products, sums, masks)
are asked of ``self.ops`` (:class:`~xpnet.nn.ops.Ops`, the plain engine, unless the model
lends a faster one while it trains); everything else is plain Array API code.

The protocol is all a component needs to be trained by :class:`xpnet.Model` and checked by
``xpnet gradcheck``: a class with ``forward``/``backward``, optional ``params``/``grads``
dicts, and optional ``build(ops, rng, dtype)`` to allocate its state.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from .. import trace, validate
from ..backend import Backend, backend_of
from ..random import Generator, SeedLike, as_generator
from .ops import Ops
from .registry import Registered

__all__ = ["DEFAULT_INIT_SCALE", "Dense", "Dropout", "Layer"]

#: The book's weight initialisation scale: ``W = 0.01 * randn(n_in, n_out)``.
DEFAULT_INIT_SCALE = 0.01


#: What the layers' forward passes save for their backward passes (Dense's inputs ``x``,
#: ReLU's outputs ``y``, softmax's and sigmoid's outputs ``s``)
_FORWARD_STATE = frozenset({"x", "y", "s"})


class Layer(Registered):
    """Base class of every layer and activation.

    Attributes
    ----------
    params : dict[str, array]
        Trainable arrays by name (empty for activations).
    grads : dict[str, array]
        Gradients of the loss with respect to ``params``, set by ``backward``.
    ops : Ops or None
        The engine the layer computes with (set by ``build``; a model may lend another while
        it trains).
    need_input_grad : bool
        When False, ``backward`` may skip computing ``dx`` and return None (a model sets this
        on its first layer, whose input gradient nobody uses).
    name : str
        How explain mode names the layer (a model sets ``"Dense[0]"``, ``"ReLU[1]"``, ...).
    """

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.grads: dict[str, Any] = {}
        self.ops: Ops = None  # type: ignore[assignment]  # set by build()
        self.need_input_grad = True
        self.name = type(self).__name__

    if not TYPE_CHECKING:  # (a __getattr__ would hide misspelt attributes from mypy)
        def __getattr__(self, name: str) -> Any:
            # only for attributes not found: what forward saves for backward (x, y, s) is
            # missing when backward comes first
            if name in _FORWARD_STATE:
                msg = (f"{type(self).__name__}.backward was called before forward: run "
                       "forward(x) first (backward uses what the last forward pass saved).")
                raise AttributeError(msg)
            msg = f"{type(self).__name__!r} object has no attribute {name!r}"
            raise AttributeError(msg)

    @property
    def backend(self) -> Backend | None:
        return self.ops.backend if self.built else None

    @property
    def xp(self) -> Any:
        if self.ops is None:
            msg = (f"{type(self).__name__} is not built yet: add it to a Model or call forward "
                   "first.")
            raise RuntimeError(msg)
        return self.ops.xp

    @property
    def built(self) -> bool:
        return self.ops is not None

    def build(self, ops: Ops, rng: Generator, dtype: str = "float32") -> None:
        """Bind the layer to an engine (and so a backend), allocating any state in ``dtype``."""
        self.ops = ops

    #: the type and dtype of the inputs :meth:`build_from` last accepted (checked again
    #: when either changes: an integer array after float ones came out float64)
    _input_type: Any = None
    _input_dtype: Any = None
    #: the model that holds the layer (a weak reference), set by ``Model.add``
    _owner: Any = None

    def build_from(self, x: Any, training: Any = True, seed: SeedLike = None) -> None:
        """Build a layer used on its own from its first input: the plain engine of ``x``'s
        backend, parameters in ``x``'s float dtype. A built layer refuses inputs of another
        backend (a NumPy layer would hand a PyTorch tensor back, its maths silently mixed),
        and ``training`` that is no bool (``"False"``, a string, would count as True)."""
        if type(training) is not bool:  # (a Model passes the bool it checked: no call)
            validate.flag("training", training)
        if type(x) is self._input_type and x.dtype is self._input_dtype:
            return
        backend = backend_of(x) if self.ops is None else self.ops.backend
        if self.ops is not None:
            backend.check(x, f"the input of {type(self).__name__}",
                          owner=f"this {type(self).__name__} layer")
        validate.floating(type(self).__name__, x, backend.xp)
        if x.ndim == 0:
            msg = (f"{type(self).__name__} takes an array of samples (n_samples, n_features), "
                   "got a 0-d array (a single number); pass it as one sample of one feature: "
                   "x.reshape(1, 1).")
            raise ValueError(msg)
        if self.ops is None:
            dtype = "float64" if x.dtype == backend.xp.float64 else "float32"
            self.build(Ops(backend), as_generator(seed), dtype)
        self._input_type, self._input_dtype = type(x), x.dtype

    def forward(self, x: Any, training: bool = True) -> Any:
        raise NotImplementedError

    def backward(self, dy: Any) -> Any:
        raise NotImplementedError

    def regularization_loss(self) -> Any:
        """This layer's regularization penalty (the integer 0 when it has none)."""
        return 0

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

    # the settings a script may change later (an L2 schedule): checked whenever set
    weight_l1 = validate.Checked(validate.non_negative_float)
    weight_l2 = validate.Checked(validate.non_negative_float)
    bias_l1 = validate.Checked(validate.non_negative_float)
    bias_l2 = validate.Checked(validate.non_negative_float)
    init_scale = validate.Checked(validate.positive_float)

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
        self.n_in = validate.positive_int("Dense n_in", n_in)
        self.n_out = validate.positive_int("Dense n_out", n_out)
        self.weight_l1, self.weight_l2 = weight_l1, weight_l2  # (each checked: Checked)
        self.bias_l1, self.bias_l2 = bias_l1, bias_l2
        self.init_scale = init_scale
        self.seed = seed

    def get_config(self) -> dict[str, Any]:
        return {
            "n_in": self.n_in, "n_out": self.n_out,
            "weight_l1": self.weight_l1, "weight_l2": self.weight_l2,
            "bias_l1": self.bias_l1, "bias_l2": self.bias_l2,
            "init_scale": self.init_scale,
        }

    def build(self, ops: Ops, rng: Generator, dtype: str = "float32") -> None:
        super().build(ops, rng, dtype)
        # Drawn on the host, so every backend starts from identical weights; the scale is
        # applied in float32 exactly as the book's `0.01 * np.random.randn(...)` does.
        W = self.init_scale * rng.randn(self.n_in, self.n_out)
        xp, device = ops.xp, ops.backend.device
        self.params = {
            "W": ops.backend.asarray(W, dtype=getattr(xp, dtype)),
            # one bias row (per model copy, when W has a leading model axis)
            "b": xp.zeros((*W.shape[:-2], 1, self.n_out), dtype=getattr(xp, dtype),
                          device=device),
        }

    @property
    def W(self) -> Any:
        return self.params["W"]

    @property
    def b(self) -> Any:
        return self.params["b"]

    def forward(self, x: Any, training: bool = True) -> Any:
        self.build_from(x, training, self.seed)
        if x.ndim != self.W.ndim or x.shape[-1] != self.n_in:  # (copies,) samples, features
            msg = (
                f"Dense({self.n_in}, {self.n_out}) expected inputs of shape (n_samples, "
                f"{self.n_in}), got shape {tuple(x.shape)}. Reshape the data (a single "
                f"sample is x[None, :]) or build the layer with n_in={x.shape[-1]}."
            )
            raise ValueError(msg)
        self.x = x
        y = self.ops.affine(x, self.W, self.b)  # x @ W + b
        trace.emit(self.name, "forward", x=x, W=self.W, b=self.b, y=y)
        return y

    def backward(self, dy: Any) -> Any:
        ops, x, W, b = self.ops, self.x, self.W, self.b
        validate.gradient_shape(self, dy, (*x.shape[:-1], self.n_out), x)
        dW = ops.matmul(ops.xp.matrix_transpose(x), dy)  # x^T @ dy, summed over the samples
        db = ops.sum_rows(dy)  # dy summed over the samples
        trace.emit(self.name, "backward", dy=dy, dW_data=dW, db_data=db)
        # the penalties' gradients, in the book's order
        dW_l1 = self.weight_l1 * sign(ops.xp, W) if self.weight_l1 > 0 else None
        dW_l2 = 2 * self.weight_l2 * W if self.weight_l2 > 0 else None
        db_l1 = self.bias_l1 * sign(ops.xp, b) if self.bias_l1 > 0 else None
        db_l2 = 2 * self.bias_l2 * b if self.bias_l2 > 0 else None
        for term in (dW_l1, dW_l2):
            dW = dW if term is None else dW + term
        for term in (db_l1, db_l2):
            db = db if term is None else db + term
        self.grads = {"W": dW, "b": db}
        dx = ops.matmul_transposed(dy, W) if self.need_input_grad else None  # dy @ W^T
        trace.emit(self.name, "backward", dW_l1=dW_l1, dW_l2=dW_l2, db_l1=db_l1, db_l2=db_l2,
                   dW=dW, db=db, dx=dx)
        return dx

    def regularization_loss(self) -> Any:
        """:math:`\\lambda_1 \\sum|W| + \\lambda_2 \\sum W^2` (and the same for ``b``), one
        value per model copy when the parameters have a leading model axis."""
        xp, W, b = self.xp, self.W, self.b
        loss: Any = 0
        if self.weight_l1 > 0:
            loss = loss + self.weight_l1 * xp.sum(xp.abs(W), axis=(-2, -1))
        if self.weight_l2 > 0:
            loss = loss + self.weight_l2 * xp.sum(W * W, axis=(-2, -1))
        if self.bias_l1 > 0:
            loss = loss + self.bias_l1 * xp.sum(xp.abs(b), axis=(-2, -1))
        if self.bias_l2 > 0:
            loss = loss + self.bias_l2 * xp.sum(b * b, axis=(-2, -1))
        return loss


def sign(xp: Any, w: Any) -> Any:
    """+1 where ``w >= 0``, -1 where ``w < 0`` (the book's L1 subgradient).

    >>> import numpy as np, array_api_compat.numpy as xp
    >>> sign(xp, np.array([-2.0, 0.0, 3.0])).tolist()
    [-1.0, 1.0, 1.0]
    """
    return 1 - 2 * xp.astype(w < 0, w.dtype)


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

    Attributes
    ----------
    rng : DropoutStream
        Where the masks come from (set by ``build``): the model's host stream, or the
        layer's own counter-based stream, as the engine draws them (see the model's
        ``dropout_masks``).

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

    rate = validate.Checked(partial(validate.probability,
                                    why="it is the share of units dropped; 1 drops all"))

    def __init__(self, rate: float, *, seed: SeedLike = None):
        super().__init__()
        self.rate = rate  # (checked whenever it is set: Checked)
        self.seed = seed
        #: the last training pass's mask (``1/keep`` or 0, in the form the engine made it)
        self.mask: Any = None

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate}

    @property
    def keep(self) -> float:
        """The share of units kept, ``1 - rate``."""
        return 1 - self.rate

    def build(self, ops: Ops, rng: Generator, dtype: str = "float32") -> None:
        super().build(ops, rng, dtype)
        # the model's stream, and a counter-based one of the layer's own (keyed from the
        # seed, nothing drawn): the engine draws the masks from one of them
        self.rng = rng.dropout_stream()

    def forward(self, x: Any, training: bool = True) -> Any:
        self.build_from(x, training, self.seed)  # (checks that training is a bool)
        self.mask = None  # the last step's mask is freed before a new one is drawn
        if not training:
            self.y = x
            return x
        self.mask = self.ops.dropout_mask(self.rng, self.keep, x)  # 1/keep or 0
        self.y = y = self.ops.dropout(x, self.mask)  # x * mask
        trace.emit(self.name, "forward", x=x, mask=self.mask, y=y, info={"keep": self.keep})
        return y

    def backward(self, dy: Any) -> Any:
        validate.gradient_shape(self, dy, self.y.shape, self.y)
        dx = dy if self.mask is None else self.ops.dropout_backward(dy, self.mask)  # dy * mask
        trace.emit(self.name, "backward", dy=dy, dx=dx)
        return dx
