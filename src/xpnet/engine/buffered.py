"""The buffered engine: reused buffers and in-place passes, for NumPy and CuPy while training.

Training runs the same layers on arrays of the same shapes every step. Allocating each
step's activations and gradients afresh costs more than computing them once the arrays
outgrow the CPU caches: a fresh block of tens of megabytes is mapped page by page, and the
kernel zeroes every page on first touch, which doubles the time of a pass like
``maximum(x, 0)``. So while a model trains on NumPy or CuPy, each layer computes with its
own :class:`BufferedOps`: the same operations as the plain engine, written into buffers kept
from the step before (the standard has no ``out=``; NumPy's and CuPy's functions take one).

A buffer is overwritten on the next step, so a model lends these engines only for the
duration of a training step (:func:`views`), never to ``predict`` or a callback, and never
while explain mode records. An operation may also write over its *input* when the model
says nobody keeps that array (:func:`views` decides from what each built-in layer keeps).

Every operation gives the plain engine's values bit for bit (the tests check this), except
the sign of zeros in ReLU and dropout gradients, which no later step sees.

>>> import numpy as np
>>> from xpnet.backend import resolve
>>> ops = BufferedOps(resolve("numpy"))
>>> a = ops.buffer("y", (2, 3), np.float32)
>>> a is ops.buffer("y", (2, 3), np.float32), a is ops.buffer("y", (1, 3), np.float32)
(True, False)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import philox
from ..backend import Backend
from ..nn import activations, layers, losses
from ..nn.ops import Ops, next_counter
from ..random import DropoutStream, Generator
from .masks import CupyMasks

__all__ = ["FOLD_MAX_INPUTS", "BufferedOps", "Mask", "views"]

#: A dense layer with at most this many inputs folds its bias into the training product,
#: ``[x, 1] @ [W; b]``: one pass over the (samples, units) output instead of two. The first
#: layer of the book's networks (2 inputs) gains most: its input is the same array every
#: full-batch step, so ``[x, 1]`` is built once. OpenBLAS gives the same bits as
#: ``x @ W + b`` (it accumulates the products in order, the bias last); other BLAS libraries
#: may round the last bit differently.
FOLD_MAX_INPUTS = 4

#: Passes over a (samples, units) array larger than this many bytes run in blocks of
#: :data:`BLOCK_ROWS` rows on the CPU: a product with a few inner columns (``[x, 1] @ [W; b]``,
#: ``dy @ W^T`` with 3 classes) streams through memory at a fraction of the bandwidth, and two
#: passes in a row (ReLU's mask then product; dropout's scale then mask) find each block still
#: in cache for the second one. Rows are independent in these operations, so the bits are the
#: same. (A product with many inner columns is left whole: OpenBLAS picks its kernel by size,
#: and a block of other rows can sum in another order.)
BLOCK_MIN_BYTES = 2**21
#: Products are blocked only up to this many inner columns (the sums are then short).
BLOCK_MAX_INNER = 16
#: Rows per block: 1024 rows of 512 float32 units are 2 MiB, a core's outer cache here.
BLOCK_ROWS = 1024

#: Largest matrix (in elements) that the zero matrix of :meth:`BufferedOps.relu` is kept for:
#: 1 MiB of float32, about what stays in a core's cache with the arrays it is used on.
ZEROS_MAX_SIZE = 2**18

#: The layers this engine runs (anything else, a user's layer included, runs the plain one).
KNOWN = (layers.Dense, layers.Dropout, activations.ReLU, activations.Softmax,
         activations.Sigmoid, activations.Linear)
#: Layers whose training output is a fresh array they do not keep: the next layer may write
#: over it. (ReLU and Softmax keep their outputs for the backward pass.)
SCRATCH_OUTPUT = (layers.Dense, layers.Dropout)
#: Layers that keep neither their input nor ``dy``, so they may write over them (Dense
#: keeps its input for dW; the others write into fresh arrays anyway).
OVERWRITERS = (activations.ReLU, layers.Dropout)
#: Layers whose input gradient is a fresh array they do not keep (Linear hands ``dy`` back).
SCRATCH_DX = (layers.Dense, layers.Dropout, activations.ReLU, activations.Softmax,
              activations.Sigmoid)
#: Losses whose gradient is a fresh array they do not keep.
SCRATCH_LOSSES = (losses.CategoricalCrossentropy, losses.SoftmaxCrossentropy,
                  losses.BinaryCrossentropy, losses.MeanSquaredError,
                  losses.MeanAbsoluteError)


@dataclass(frozen=True)
class Mask:
    """A dropout mask as booleans (a quarter of the bytes of a float mask) and its scale:
    ``x * scale * kept`` has the values of ``x * (scale * kept)``."""

    kept: Any
    scale: float


class BufferedOps(Ops):
    """The plain engine's operations, written into named buffers reused from step to step.

    Parameters
    ----------
    backend : Backend
        NumPy or CuPy (:attr:`Backend.native` must be the library module).
    overwrite_input : bool
        ReLU and dropout may write their output over their input.
    overwrite_dy : bool
        Backward passes may write the input gradient over ``dy``.
    masks : {"host", "counter"}
        Where dropout masks come from (see :class:`~xpnet.nn.ops.Ops`).
    """

    name = "buffered"

    def __init__(self, backend: Backend, *, overwrite_input: bool = False,
                 overwrite_dy: bool = False, masks: str = "host"):
        super().__init__(backend, masks=masks)
        self.native: Any = backend.native
        if self.native is None:
            msg = f"the buffered engine needs NumPy or CuPy, not {backend.name!r}."
            raise ValueError(msg)
        self.overwrite_input = overwrite_input
        self.overwrite_dy = overwrite_dy
        #: row blocks help CPU caches; on a GPU they would only add kernel launches
        self.cpu = backend.name == "numpy"
        self._buffers: dict[tuple[str, tuple[int, ...], Any], Any] = {}
        self._ones_cache: dict[str, tuple[Any, Any]] = {}
        self._zeros: dict[tuple[tuple[int, ...], Any], Any] = {}
        self._device_masks: CupyMasks | None = None
        #: dropout applies its mask in one CUDA kernel (engine.masks) rather than two passes
        self.one_pass_dropout = backend.name == "cupy"

    def buffer(self, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
        """An uninitialised array for ``name``: the same one each time for the same shape
        (mini-batches alternate between the batch shape and the last, smaller batch)."""
        key = (name, tuple(shape), dtype)
        out = self._buffers.get(key)
        if out is None:
            out = self._buffers[key] = self.xp.empty(shape, dtype=dtype,
                                                     device=self.backend.device)
        return out

    def _blocks(self, *arrays: Any) -> list[Any]:
        """Row slices covering ``arrays`` (2-D, same rows): one, unless they are large and
        on the CPU (see :data:`BLOCK_MIN_BYTES`)."""
        n = arrays[0].shape[0]
        size = sum(a.size * a.dtype.itemsize for a in arrays)
        if not self.cpu or arrays[0].ndim != 2 or size <= BLOCK_MIN_BYTES:
            return [slice(None)]
        return [slice(i, i + BLOCK_ROWS) for i in range(0, n, BLOCK_ROWS)]

    # -- products -------------------------------------------------------------------------
    def _matmul_into(self, name: str, a: Any, b: Any, bias: Any = None) -> Any:
        """``a @ b`` (``+ bias``) into buffer ``name``, block by block where that helps."""
        lead = _broadcast(a.shape[:-2], b.shape[:-2])
        out = self.buffer(name, (*lead, a.shape[-2], b.shape[-1]), a.dtype)
        short = b.ndim == 2 and a.shape[-1] <= BLOCK_MAX_INNER
        for rows in self._blocks(a, out) if short else [slice(None)]:
            self.native.matmul(a[rows], b, out=out[rows])
            if bias is not None:
                out[rows] += bias
        return out

    def matmul(self, a: Any, b: Any) -> Any:
        if self.cpu and a.ndim == 2 and b.ndim == 2 and not a.flags.c_contiguous \
                and a.T.flags.c_contiguous:
            # x^T @ dy computed as (dy^T @ x)^T: OpenBLAS reads x row by row (~10% faster on
            # large x) and accumulates in the same order (same bits)
            return self.native.matmul(b.T, a.T).T
        return super().matmul(a, b)

    def affine(self, x: Any, W: Any, b: Any) -> Any:
        if not x.dtype == W.dtype == b.dtype:
            return super().affine(x, W, b)
        if x.shape[-1] <= FOLD_MAX_INPUTS:  # the bias folded into the product
            return self._matmul_into("y", self._with_ones(x), self._stack_rows(W, b))
        return self._matmul_into("y", x, W, bias=b)

    def matmul_transposed(self, dy: Any, W: Any) -> Any:
        if dy.dtype != W.dtype:
            return super().matmul_transposed(dy, W)
        # OpenBLAS runs small products like dy @ W.T with a 3-column W about twice as fast on
        # a C-contiguous copy of the transpose as on the transposed view (same bits)
        Wt = self.buffer("Wt", (*W.shape[:-2], W.shape[-1], W.shape[-2]), W.dtype)
        self.native.copyto(Wt, self.xp.matrix_transpose(W))
        return self._matmul_into("dx", dy, Wt)

    def _with_ones(self, x: Any) -> Any:
        """``[x, 1]``, built once while the same array ``x`` comes back (the training data
        of full-batch steps)."""
        cached = self._ones_cache.get("x1")
        if cached is not None and cached[0] is x:
            return cached[1]
        out = self.buffer("x1", (*x.shape[:-1], x.shape[-1] + 1), x.dtype)
        out[..., :-1] = x
        out[..., -1] = 1
        self._ones_cache["x1"] = (x, out)
        return out

    def _stack_rows(self, W: Any, b: Any) -> Any:
        """``[W; b]``: the rows of ``W`` and then the row ``b``."""
        out = self.buffer("Wb", (*W.shape[:-2], W.shape[-2] + 1, W.shape[-1]), W.dtype)
        out[..., :-1, :] = W
        out[..., -1:, :] = b
        return out

    # -- activations ----------------------------------------------------------------------
    def _zeros_like(self, x: Any) -> Any:
        """Zeros to broadcast against ``x``, kept and never written to; or the scalar 0 for
        matrices over :data:`ZEROS_MAX_SIZE` elements. ``maximum(x, zeros)`` is ~3x faster
        than ``maximum(x, 0)`` in NumPy 2.x on arrays that fit in cache (the scalar operand
        takes a slower loop); larger passes are memory-bound anyway."""
        shape = tuple(x.shape[-2:])
        if math.prod(shape) > ZEROS_MAX_SIZE:
            return 0
        zeros = self._zeros.get((shape, x.dtype))
        if zeros is None:
            zeros = self._zeros[shape, x.dtype] = self.xp.zeros(
                shape, dtype=x.dtype, device=self.backend.device)
        return zeros

    def _output(self, name: str, x: Any, overwrite: bool) -> Any:
        return x if overwrite else self.buffer(name, tuple(x.shape), x.dtype)

    def relu(self, x: Any) -> Any:
        out = self._output("relu", x, self.overwrite_input)
        return self.native.maximum(x, self._zeros_like(x), out=out)

    def relu_backward(self, dy: Any, y: Any) -> Any:
        kept = self.buffer("kept", tuple(dy.shape), bool)
        out = self._output("drelu", dy, self.overwrite_dy)
        for rows in self._blocks(dy, y):
            self.native.greater(y[rows], 0, out=kept[rows])
            self.native.multiply(dy[rows], kept[rows], out=out[rows])
        return out

    # -- dropout --------------------------------------------------------------------------
    def keep_mask(self, rng: Generator | DropoutStream, keep: float, x: Any) -> Any:
        if self.masks == "counter" and self.backend.name == "cupy":
            # one CUDA kernel (engine.masks) instead of dozens of passes, into a kept buffer
            key, position = next_counter(rng)
            out = self.buffer("keep_mask", tuple(x.shape), bool)
            drawn = self._kernels().keep_mask(keep, key, position, out)
            if drawn is not None:
                return drawn
            return philox.keep_mask(self.backend, tuple(x.shape), keep, key, position)
        return super().keep_mask(rng, keep, x)

    def _kernels(self) -> CupyMasks:
        """The CUDA kernels of masks (compiled on first use)."""
        if self._device_masks is None:
            self._device_masks = CupyMasks(self.native)
        return self._device_masks

    def dropout_mask(self, rng: Generator | DropoutStream, keep: float, x: Any) -> Mask:
        return Mask(self.keep_mask(rng, keep, x), 1 / keep)

    def _scale_and_mask(self, x: Any, mask: Mask, out: Any) -> Any:
        if self.one_pass_dropout and x.dtype == out.dtype and x.dtype.kind == "f" \
                and x.dtype.itemsize in (4, 8) and mask.kept.dtype == bool \
                and x.shape == mask.kept.shape == out.shape:
            # one pass over x on the GPU, the same bits as the two below (engine.masks)
            return self._kernels().scale_and_mask(x, mask.scale, mask.kept, out)
        for rows in self._blocks(x, out):
            self.native.multiply(x[rows], mask.scale, out=out[rows])
            out[rows] *= mask.kept[rows]
        return out

    def dropout(self, x: Any, mask: Mask) -> Any:
        return self._scale_and_mask(x, mask, self._output("drop", x, self.overwrite_input))

    def dropout_backward(self, dy: Any, mask: Mask) -> Any:
        return self._scale_and_mask(dy, mask, self._output("ddrop", dy, self.overwrite_dy))


def views(base: Ops, layers_: Sequence[Any], loss: Any,
          make: type[BufferedOps] = BufferedOps, **options: Any) -> list[Ops]:
    """One engine per layer for a training step: a ``make`` for each built-in layer, told
    which arrays it may write over, and ``base`` for any other (a user's layer computes
    with the plain engine: nothing of it is assumed).

    ReLU and Dropout may write over their input when the layer before gives them a fresh
    output nobody keeps, and over ``dy`` when the layer after (or the loss) gives a fresh
    gradient. Nothing is shared at all when a component is not a layer.
    """
    if not all(isinstance(layer, layers.Layer) for layer in layers_):
        return [base] * len(layers_)
    out: list[Ops] = []
    for i, layer in enumerate(layers_):
        if type(layer) not in KNOWN:
            out.append(base)
            continue
        before = layers_[i - 1] if i > 0 else None
        after = layers_[i + 1] if i + 1 < len(layers_) else None
        overwrites = type(layer) in OVERWRITERS
        out.append(make(
            base.backend,
            overwrite_input=overwrites and type(before) in SCRATCH_OUTPUT,
            overwrite_dy=overwrites and (type(after) in SCRATCH_DX if after is not None
                                         else type(loss) in SCRATCH_LOSSES),
            masks=base.masks, **options))
    return out


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast of two shapes (of leading axes)."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    return tuple(max(i, j) for i, j in zip(a, b, strict=True))
