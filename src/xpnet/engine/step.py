r"""The whole-step engine: a training step of the book's networks as three or four GPU kernels.

The book's classifiers are one shape: ``Dense(a, H) → ReLU → [Dropout] → Dense(H, c) →
Softmax`` with categorical cross-entropy, few inputs and classes (``a = 2``, ``c = 3``) and a
wide hidden layer. Run layer by layer, a step writes and reads the ``(samples, H)`` hidden
activations a dozen times (affine, ReLU, the mask, dropout, their gradients: ~46 bytes per
hidden unit and sample without dropout, ~65 with it) and launches some thirty kernels, among
them matrix products with 2 or 3 inner columns that cuBLAS runs far from the memory's speed.
Yet every hidden unit depends on only ``a`` inputs and feeds only ``c`` outputs, so a row's
hidden layer can be recomputed wherever it is needed, in registers:

``forward`` (one thread per sample)
    the hidden units one after the other (``z = x·W1[:, j] + b1[j]``, ReLU, the dropout mask
    from Philox at the unit's counter), summed into the ``c`` logits; then softmax, the
    output, and the loss gradient at the logits ``g = (s - y) / n`` (the joint softmax and
    cross-entropy gradient the layered path uses).
``backward`` (one thread per block of rows and four hidden units)
    the same hidden units again (their dropout mask read back from the bits the forward
    kernel wrote, 32 units a word: N·H/8 bytes, where drawing it again would cost a Philox
    call per row and four units), ``dz = (g·W2[j, :]) · scale · [d > 0]``, and the sums of
    the block's rows of ``x^T dz``, ``dz``, ``d^T g`` and ``g``: partial gradients, one set
    per block of rows.
``reduce`` (one thread per parameter)
    the blocks' partial sums added in block order, plus the L1/L2 penalties' gradients in the
    book's order: ``dW``, ``db`` of both layers, where the optimizer finds them
    (``layer.grads``); in a full-batch run, then the optimizer's update of the element.
    From :data:`SPLIT_FROM` blocks on, a ``gather`` kernel first sums runs of about
    sqrt(blocks) blocks, and the reduce kernel adds the runs (two levels of the same order).

No activation of size ``(samples, H)`` is ever stored: the step reads the data and writes
the ``(samples, c)`` output and gradient (and, with dropout, the mask as bits). In a
full-batch run the reduce kernel also applies the optimizer's update; otherwise the fused
engine's update kernels follow (:mod:`xpnet.engine.fused`).

Once ``d`` is known, the gradient of ReLU and dropout together needs no other mask: where
a unit is kept and ``z > 0``, the output ``d = z · scale`` is positive, and everywhere else
the gradient is 0, so ``dz = (dy · scale) · [d > 0]``, which has the bits of the layered
path's ``((dy · scale) · kept) · [y > 0]`` (signed zeros and NaN included).

Values
------
The masks are those of ``dropout_masks="counter"`` on any backend (:mod:`xpnet.philox`, same
key and position): the same units are dropped. The sums are taken in another order than a
BLAS library takes them and ``exp`` is the device's, so values agree with the layered path to
rounding (the tests state the tolerance), not bit for bit; the kernels are deterministic (no
atomics: every sum has a fixed order), so a run repeats exactly on the same device.

The kernels' source is portable C++ (as :mod:`xpnet.engine.masks`'s): the tests compile it
with the host's compiler and train models with it on the CPU against the layered path; on a
GPU, CuPy compiles it with NVRTC. :func:`plan` decides where it applies; anything else (other
layers or losses, more than :data:`MAX_IN` inputs or :data:`MAX_CLASSES` classes, faithful
mode, host-drawn masks, explain mode) trains layer by layer as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..nn import activations, layers, losses
from ..nn.ops import next_counter
from ..random import keep_threshold
from .masks import PREAMBLE as PHILOX
from .masks import words
from .rules import compile_rule

__all__ = ["GROUPS", "MAX_CLASSES", "MAX_IN", "MAX_MASK", "Shape", "Unavailable", "WholeStep",
           "compiled", "plan", "reduce_source", "shape_for", "sources"]


#: At most this many inputs (``a``): each thread holds a row's inputs and, in the backward
#: kernel, ``4 * a`` sums of ``x^T dz`` in registers.
MAX_IN = 16
#: At most this many classes (``c``): a row's logits and gradient live in registers.
MAX_CLASSES = 16
#: Threads the backward kernel aims for (blocks of rows x groups of four units): enough to fill
#: a large GPU, few enough that the partial sums stay small.
BACKWARD_THREADS = 1 << 17
#: The most elements a step's mask covers: 2**32 counters of four (:mod:`xpnet.philox`).
MAX_MASK = 2**34
#: The fewest rows a backward thread sums (fewer would only grow the partial sums).
MIN_ROWS = 16
#: From this many row blocks on, the blocks' partial sums are added in two levels: a
#: ``gather`` kernel sums runs of about sqrt(blocks) of them, then the reduce kernel adds
#: those runs' sums. One level has each reduce thread (one per parameter element: few, on
#: the book's models) load every block one after another (188 on ``reference``), a chain of
#: memory latencies; two levels trade that for one more launch. None: always one level.
SPLIT_FROM: int | None = 64


@dataclass(frozen=True)
class Shape:
    """What :func:`plan` found: the two dense layers, the dropout layer (or None), the sizes
    ``a``, ``H``, ``c``, and whether the model's output is the softmax (else the logits,
    with :class:`~xpnet.nn.losses.SoftmaxCrossentropy`)."""

    first: Any
    second: Any
    dropout: Any
    a: int
    hidden: int
    c: int
    probs: bool


def plan(model_layers: list[Any], loss: Any, masks: str) -> Shape | None:
    """The model's shape when the whole step can train it, else None.

    ``Dense → ReLU → [Dropout] → Dense → Softmax`` with :class:`CategoricalCrossentropy`, or
    without the Softmax layer with :class:`SoftmaxCrossentropy`; at most :data:`MAX_IN`
    inputs and :data:`MAX_CLASSES` classes; with dropout, counter-based masks (``masks``).

    >>> from xpnet.nn import activations as a, layers as l, losses
    >>> s = plan([l.Dense(2, 64), a.ReLU(), l.Dropout(0.1), l.Dense(64, 3), a.Softmax()],
    ...          losses.CategoricalCrossentropy(), "counter")
    >>> (s.a, s.hidden, s.c, s.probs)
    (2, 64, 3, True)
    >>> plan([l.Dense(2, 64), a.ReLU(), l.Dense(64, 3)], losses.MeanSquaredError(), "host")
    """
    kinds = [type(layer) for layer in model_layers]
    if type(loss) is losses.CategoricalCrossentropy and kinds[-1:] == [activations.Softmax]:
        body, probs = kinds[:-1], True
    elif type(loss) is losses.SoftmaxCrossentropy:
        body, probs = kinds, False
    else:
        return None
    dropout = len(body) == 4 and body[2] is layers.Dropout
    expected = [layers.Dense, activations.ReLU, *([layers.Dropout] if dropout else []),
                layers.Dense]
    if body != expected or (dropout and masks != "counter"):
        return None
    first, second = model_layers[0], model_layers[len(body) - 1]
    if first.n_out != second.n_in or first.n_in > MAX_IN or second.n_out > MAX_CLASSES:
        return None
    return Shape(first, second, model_layers[2] if dropout else None, first.n_in,
                 first.n_out, second.n_out, probs)


#: Helpers of the kernels: the hidden unit ``j`` of row ``r`` (``z``, after ReLU, after
#: dropout), and the step's Philox lanes, drawn once per counter of four units.
HELPERS = r"""
struct xpnet_lanes {
    unsigned long long counter;
    unsigned int w[4];
};

static __device__ __forceinline__ bool xpnet_kept(const unsigned int* keys,
                                                  const unsigned int* at,
                                                  unsigned long long threshold,
                                                  unsigned long long e, xpnet_lanes* l) {
    const unsigned long long counter = e >> 2;
    if (counter != l->counter) {
        xpnet_philox((unsigned int)counter, at[0], at[1], keys[0], keys[1], l->w);
        l->counter = counter;
    }
    const unsigned int lane = (unsigned int)(e & 3ull);
    const unsigned int word = lane == 0u ? l->w[0] : lane == 1u ? l->w[1]
                              : lane == 2u ? l->w[2] : l->w[3];
    return (unsigned long long)word < threshold;
}

// the mask's position: on the device (graph replay: the reduce kernel moves it on), or the
// value passed
static __device__ __forceinline__ void xpnet_position(const unsigned int* pos, unsigned int p0,
                                                      unsigned int p1, unsigned int* w) {
    w[0] = XPNET_DEVICE_POSITION ? pos[0] : p0;
    w[1] = XPNET_DEVICE_POSITION ? pos[1] : p1;
}

template <typename T>
static __device__ __forceinline__ T xpnet_relu(T z) {
    // max(z, 0) as NumPy's and CuPy's maximum: NaN propagates
    return z > (T)0 ? z : (z != z ? z : (T)0);
}

template <typename T>
static __device__ __forceinline__ T xpnet_exp(T v);
template <>
__device__ __forceinline__ float xpnet_exp<float>(float v) { return expf(v); }
template <>
__device__ __forceinline__ double xpnet_exp<double>(double v) { return exp(v); }

// row r's hidden unit j before ReLU: x[r] . W1[:, j] + b1[j], the products summed in order
template <typename T>
static __device__ __forceinline__ T xpnet_z(const T* x, const T* W1, const T* b1,
                                            long long r, int j) {
    T z = x[r * XPNET_A] * W1[j];
    for (int k = 1; k < XPNET_A; ++k) z += x[r * XPNET_A + k] * W1[k * XPNET_H + j];
    return z + b1[j];
}
"""

#: Parameters the forward and backward kernels share: the data, the first layer, the second
#: layer's weights, and the dropout of the step: each copy's key (two words), the mask's
#: position (two words a copy, on the device in ``pos`` for graph replay and many models,
#: else by value in ``p0, p1``), the threshold and the scale (unused without dropout); the
#: samples per copy. Arrays of many copies (:class:`~xpnet.many.ManyModels`) have a leading
#: model axis: copy ``m``'s arrays start ``m`` of their sizes further on.
_SHARED = ("raw T x, raw T W1, raw T b1, raw T W2, raw uint32 keys, raw uint32 pos, "
           "uint32 p0, uint32 p1, uint64 threshold, T scale, int64 n")

#: The start of copy ``m``'s arrays (after ``m`` and ``n`` are known).
_COPY = r"""
const T* const px = &x[0] + m * n * XPNET_A;
const T* const pW1 = &W1[0] + m * XPNET_A * XPNET_H;
const T* const pb1 = &b1[0] + m * XPNET_H;
const T* const pW2 = &W2[0] + m * XPNET_H * XPNET_C;
const unsigned int* const pkeys = &keys[0] + 2 * m;
unsigned int at[2];
xpnet_position(&pos[0] + 2 * m, p0, p1, at);
"""

FORWARD_IN = f"{_SHARED}, raw T b2, raw T targets"
FORWARD_OUT = "raw T out, raw T g, raw uint32 bits"
#: Thread ``i``: row ``r`` of copy ``m``, ``m, r = divmod(i, n)``. ``out`` gets the softmax
#: (or the logits), ``g`` the gradient of the mean cross-entropy at the logits,
#: ``(s - y) / n``.
FORWARD = r"""
const long long m = (long long)i / n;
const long long r = (long long)i - m * n;
""" + _COPY + r"""
const T* const pb2 = &b2[0] + m * XPNET_C;
const long long row = (m * n + r) * XPNET_C;
T logit[XPNET_C];
for (int k = 0; k < XPNET_C; ++k) logit[k] = (T)0;
xpnet_lanes lanes;
lanes.counter = ~0ull;
#if XPNET_DROPOUT
unsigned int* const pbits = &bits[0] + (m * n + r) * XPNET_WORDS;
unsigned int word = 0u;
#endif
for (int j = 0; j < XPNET_H; ++j) {
    T d = xpnet_relu(xpnet_z(px, pW1, pb1, r, j));
#if XPNET_DROPOUT
    const bool kept = xpnet_kept(pkeys, at, threshold, (unsigned long long)r * XPNET_H + j,
                                 &lanes);
    d = d * scale * (T)kept;
    word |= (unsigned int)kept << (j & 31);
    if ((j & 31) == 31 || j == XPNET_H - 1) {  // the row's mask, 32 units a word
        pbits[j >> 5] = word;
        word = 0u;
    }
#endif
    for (int k = 0; k < XPNET_C; ++k) logit[k] += d * pW2[j * XPNET_C + k];
}
T top = logit[0] + pb2[0];
for (int k = 0; k < XPNET_C; ++k) {
    logit[k] += pb2[k];
    top = logit[k] > top ? logit[k] : top;
}
T e[XPNET_C];
T total = (T)0;
for (int k = 0; k < XPNET_C; ++k) {
    e[k] = xpnet_exp(logit[k] - top);
    total += e[k];
}
for (int k = 0; k < XPNET_C; ++k) {
    const T s = e[k] / total;
    (&out[0])[row + k] = XPNET_PROBS ? s : logit[k];
    (&g[0])[row + k] = (s - (&targets[0])[row + k]) / (T)n;
}
"""

BACKWARD_IN = f"{_SHARED}, raw T g, int64 rows, int64 blocks, raw uint32 bits"
BACKWARD_OUT = "raw T part"
#: Thread ``i``: rows ``[q * rows, (q + 1) * rows)`` of units ``4u`` to ``4u + 3`` of copy
#: ``m``, with ``m, t = divmod(i, blocks * ceil(H / 4))`` and ``q, u = divmod(t, ceil(H /
#: 4))``. Its sums go to block ``q`` of the copy's ``part``, laid out as the parameters:
#: ``dW1`` (a x H), ``db1`` (H), ``dW2`` (H x c), ``db2`` (c, from ``u == 0``).
BACKWARD = r"""
const long long m = (long long)i / (blocks * XPNET_G);
const long long t = (long long)i - m * blocks * XPNET_G;
""" + _COPY + r"""
const T* const pg = &g[0] + m * n * XPNET_C;
T* const ppart = &part[0] + m * blocks * XPNET_P;
const long long q = t / XPNET_G;
const int u = (int)(t - q * XPNET_G);
const long long lo = q * rows;
const long long hi = lo + rows < n ? lo + rows : n;
T sW1[XPNET_A][4], sb1[4], sW2[4][XPNET_C], sb2[XPNET_C];
for (int v = 0; v < 4; ++v) {
    for (int k = 0; k < XPNET_A; ++k) sW1[k][v] = (T)0;
    sb1[v] = (T)0;
    for (int k = 0; k < XPNET_C; ++k) sW2[v][k] = (T)0;
}
for (int k = 0; k < XPNET_C; ++k) sb2[k] = (T)0;
for (long long r = lo; r < hi; ++r) {
#if XPNET_DROPOUT
    // the forward's mask of this row's four units (one word holds them: 4 divides 32)
    const unsigned int word = (&bits[0])[(m * n + r) * XPNET_WORDS + ((4 * u) >> 5)];
#endif
    for (int v = 0; v < 4; ++v) {
        const int j = 4 * u + v;
        if (XPNET_H % 4 != 0 && j >= XPNET_H) break;  // folded away when 4 divides H
        const T h = xpnet_relu(xpnet_z(px, pW1, pb1, r, j));
        T gd = pg[r * XPNET_C] * pW2[j * XPNET_C];
        for (int k = 1; k < XPNET_C; ++k) gd += pg[r * XPNET_C + k] * pW2[j * XPNET_C + k];
#if XPNET_DROPOUT
        const T d = h * scale * (T)((word >> ((4 * u + v) & 31)) & 1u);
        const T dz = gd * scale * (T)(d > (T)0);
#else
        const T d = h;
        const T dz = gd * (T)(h > (T)0);
#endif
        for (int k = 0; k < XPNET_A; ++k) sW1[k][v] += px[r * XPNET_A + k] * dz;
        sb1[v] += dz;
        for (int k = 0; k < XPNET_C; ++k) sW2[v][k] += d * pg[r * XPNET_C + k];
    }
    if (u == 0) {
        for (int k = 0; k < XPNET_C; ++k) sb2[k] += pg[r * XPNET_C + k];
    }
}
const long long base = q * XPNET_P;
for (int v = 0; v < 4; ++v) {
    const int j = 4 * u + v;
    if (XPNET_H % 4 != 0 && j >= XPNET_H) break;
    for (int k = 0; k < XPNET_A; ++k) ppart[base + k * XPNET_H + j] = sW1[k][v];
    ppart[base + XPNET_A * XPNET_H + j] = sb1[v];
    for (int k = 0; k < XPNET_C; ++k)
        ppart[base + (XPNET_A + 1) * XPNET_H + j * XPNET_C + k] = sW2[v][k];
}
if (u == 0) {
    for (int k = 0; k < XPNET_C; ++k)
        ppart[base + (XPNET_A + 1 + XPNET_C) * XPNET_H + k] = sb2[k];
}
"""

#: The parameters' groups, in ``part``'s layout.
GROUPS = ("W1", "b1", "W2", "b2")

GATHER_IN = "raw T part, int64 blocks, int64 chunk, int64 chunks"
GATHER_OUT = "raw T sums"
#: Thread ``i``: element ``p`` of copy ``m``'s run ``c`` of blocks, ``(m, c, p)`` from ``i``:
#: the sum of blocks ``c * chunk`` up to (not including) ``min((c + 1) * chunk, blocks)``,
#: in block order, laid out as ``part`` is with ``chunks`` blocks (the reduce kernel then
#: adds the runs in order: a fixed order still, so a run repeats exactly).
GATHER = r"""
const long long m = (long long)i / (chunks * XPNET_P);
const long long rest = (long long)i - m * chunks * XPNET_P;
const long long c = rest / XPNET_P;
const long long p = rest - c * XPNET_P;
const T* const src = &part[0] + m * blocks * XPNET_P;
const long long first = c * chunk;
const long long last = first + chunk < blocks ? first + chunk : blocks;
T s = src[first * XPNET_P + p];
for (long long q = first + 1; q < last; ++q) s += src[q * XPNET_P + p];
(&sums[0])[(m * chunks + c) * XPNET_P + p] = s;
"""

REDUCE_IN = "raw T part, int64 blocks, raw T penalty"
REDUCE_OUT = "raw T dW1, raw T db1, raw T dW2, raw T db2, raw uint32 pos, " + \
    ", ".join(f"raw T {name}" for name in GROUPS)
#: Thread ``i``: parameter element ``xpnet_p`` of copy ``xpnet_m``, ``divmod(i, P)`` (``P``
#: in ``part``'s layout), its blocks summed in order, then ``+ l1 * sign(w)`` and
#: ``+ 2 * l2 * w`` as :meth:`xpnet.layers.Dense.backward` adds them (``penalty`` holds
#: ``l1, 2 * l2`` for W1, b1, W2, b2; a zero leaves the term out): the gradient, written to
#: ``dW1`` ... ``db2``. With the position on the device, each copy's thread 0 moves it on to
#: the next step's (the forward and backward kernels, which read it, ran before).
#: (Names are prefixed: the optimizer's rule, spliced in by :func:`reduce_source`, names
#: its own.)
REDUCE = r"""
const long long xpnet_m = (long long)i / XPNET_P;
const long long xpnet_p = (long long)i - xpnet_m * XPNET_P;
#if XPNET_DEVICE_POSITION && XPNET_DROPOUT
if (xpnet_p == 0) {
    unsigned int* const xpnet_where = &pos[0] + 2 * xpnet_m;
    const unsigned long long xpnet_next =
        (((unsigned long long)xpnet_where[1] << 32) | xpnet_where[0]) + 1ull;
    xpnet_where[0] = (unsigned int)xpnet_next;
    xpnet_where[1] = (unsigned int)(xpnet_next >> 32);
}
#endif
const T* const xpnet_part = &part[0] + xpnet_m * blocks * XPNET_P;
T xpnet_s = xpnet_part[xpnet_p];
for (long long q = 1; q < blocks; ++q) xpnet_s += xpnet_part[q * XPNET_P + xpnet_p];
const long long xpnet_n1 = XPNET_A * XPNET_H, xpnet_n2 = xpnet_n1 + XPNET_H,
                xpnet_n3 = xpnet_n2 + XPNET_H * XPNET_C;
const int xpnet_which = xpnet_p < xpnet_n1 ? 0 : xpnet_p < xpnet_n2 ? 1
                        : xpnet_p < xpnet_n3 ? 2 : 3;
const long long xpnet_at = xpnet_which == 0 ? xpnet_p : xpnet_which == 1 ? xpnet_p - xpnet_n1
                           : xpnet_which == 2 ? xpnet_p - xpnet_n2 : xpnet_p - xpnet_n3;
const long long xpnet_size = xpnet_which == 0 ? xpnet_n1 : xpnet_which == 1 ? XPNET_H
                             : xpnet_which == 2 ? XPNET_H * XPNET_C : XPNET_C;
const long long xpnet_e = xpnet_m * xpnet_size + xpnet_at;
T* const xpnet_param = xpnet_which == 0 ? &W1[0] : xpnet_which == 1 ? &b1[0]
                       : xpnet_which == 2 ? &W2[0] : &b2[0];
const T xpnet_w = xpnet_param[xpnet_e];
const T xpnet_l1 = (&penalty[0])[2 * xpnet_which], xpnet_l2 = (&penalty[0])[2 * xpnet_which + 1];
if (xpnet_l1 > (T)0) xpnet_s = xpnet_s + xpnet_l1 * ((T)1 - (T)2 * (T)(xpnet_w < (T)0));
if (xpnet_l2 > (T)0) xpnet_s = xpnet_s + xpnet_l2 * xpnet_w;
T* const xpnet_grad = xpnet_which == 0 ? &dW1[0] : xpnet_which == 1 ? &db1[0]
                      : xpnet_which == 2 ? &dW2[0] : &db2[0];
xpnet_grad[xpnet_e] = xpnet_s;
"""


def reduce_source(rule: Any) -> tuple[str, str, str]:
    """The reduce kernel's parameters and body: the gradients only (``rule`` None), or the
    gradients and the optimizer's update of every parameter element by its
    :class:`~xpnet.engine.rules.UpdateRule` (``rule.c``, the fused engine's kernel body), its
    scalars read from the step table (:class:`~xpnet.engine.fused.ScalarTable`: the row at
    ``counter[0]``, this element's copy) and its state from the arrays ``W1_m``, ``W1_v``,
    ... (one per group and state name)."""
    if rule is None:
        return REDUCE_IN, REDUCE_OUT, REDUCE
    states = [f"{group}_{name}" for group in GROUPS for name in rule.state]
    ins = f"{REDUCE_IN}, raw T table, raw int32 counter, int64 copies"
    outs = REDUCE_OUT + "".join(f", raw T {name}" for name in states)
    width = len(rule.scalars)
    lines = ["{", "const T g = xpnet_s;", "T p = xpnet_w;"]
    for name in rule.state:
        pick = " : ".join(f"xpnet_which == {j} ? &{group}_{name}[0]" if j < 3
                          else f"&{group}_{name}[0]" for j, group in enumerate(GROUPS))
        lines += [f"T* const xpnet_state_{name} = {pick};",
                  f"T {name} = xpnet_state_{name}[xpnet_e];"]
    lines += [f"const T {k} = (&table[0])[((long long)counter[0] * {width} + {j}) * copies"
              f" + (copies > 1 ? xpnet_m : 0)];" for j, k in enumerate(rule.scalars)]
    lines += [rule.c, "xpnet_param[xpnet_e] = p;"]
    lines += [f"xpnet_state_{name}[xpnet_e] = {name};" for name in rule.state]
    lines.append("}")
    return ins, outs, REDUCE + "\n".join(lines) + "\n"


def sources(shape: Shape, device_position: bool = False) -> str:
    """The preamble of the step's kernels for ``shape``: its sizes as constants (so loops over
    inputs and classes unroll and a row's values stay in registers), Philox and helpers;
    with ``device_position`` the mask's position is read from (and moved on in) device
    memory, as a replayed graph needs."""
    a, h, c = shape.a, shape.hidden, shape.c
    groups = -(-h // 4)
    defines = {"XPNET_A": a, "XPNET_H": h, "XPNET_C": c, "XPNET_G": groups,
               "XPNET_P": a * h + h + h * c + c, "XPNET_DROPOUT": int(shape.dropout is not None),
               "XPNET_PROBS": int(shape.probs), "XPNET_DEVICE_POSITION": int(device_position),
               "XPNET_WORDS": -(-h // 32)}
    head = "".join(f"#define {k} {v}\n" for k, v in defines.items())
    return head + PHILOX + HELPERS


def _streams(rng: Any) -> list[Any]:
    """The counter-based streams of a dropout layer: its own, or each copy's (many models'
    ``Streams``)."""
    return list(getattr(rng, "rngs", [rng]))


class Unavailable(RuntimeError):
    """The whole step's kernels failed on their first step (they did not compile, or did not
    launch); the model is as it was, and trains layer by layer instead."""


#: The kernels made so far, by compiling module and source (a model trains many times).
_KERNELS: dict[tuple[Any, ...], tuple[Any, Any, Any, Any]] = {}


def compiled(shape: Shape, module: Any, device_position: bool = False,
             rule: Any = None) -> tuple[Any, Any, Any, Any]:
    """The forward, backward, reduce and gather kernels for ``shape`` (see :func:`sources`),
    made by ``module`` (CuPy compiles each on its first launch and keeps the binaries); the
    reduce kernel applies ``rule`` when one is given (:func:`reduce_source`)."""
    preamble = sources(shape, device_position)
    key = (id(module), preamble, None if rule is None else (rule.name, rule.c))
    found = _KERNELS.get(key)
    if found is None:
        tag = f"{shape.a}x{shape.hidden}x{shape.c}"
        reduce_in, reduce_out, reduce_body = reduce_source(rule)
        if rule is not None:
            tag += f"_{rule.name}"
        found = _KERNELS[key] = tuple(
            module.ElementwiseKernel(ins, outs, body, name=f"xpnet_step_{part}_{tag}",
                                     preamble=preamble)
            for part, ins, outs, body in (("forward", FORWARD_IN, FORWARD_OUT, FORWARD),
                                          ("backward", BACKWARD_IN, BACKWARD_OUT, BACKWARD),
                                          ("reduce", reduce_in, reduce_out, reduce_body),
                                          ("gather", GATHER_IN, GATHER_OUT, GATHER)))
    return found


class WholeStep:
    """The step of a model :func:`plan` accepted: ``step(X, y)`` runs forward and backward,
    leaves the gradients in the two dense layers' ``grads`` and returns the output (softmax,
    or logits); ``step(X, y, optimizer)`` during a run with a step table also applies the
    optimizer's update in the reduce kernel (:attr:`updated`), one launch instead of one per
    parameter.

    Parameters
    ----------
    shape : Shape
    backend : Backend
        Where the model's arrays live (CuPy; NumPy in the tests).
    kernels : Kernels
        The model's fused kernels: their ``elementwise`` compiles the kernels (CuPy, or the
        tests' stand-in), and their ``table`` (set during a run with a step table) holds
        the optimizer's scalars.
    device_position : bool
        Read the dropout mask's position from device memory, moved on by the step itself
        (what a recorded graph needs: a replay passes the recorded values); else pass it by
        value every step.
    """

    name = "step"

    def __init__(self, shape: Shape, backend: Any, kernels: Any, *,
                 device_position: bool = False):
        self.shape, self.backend, self.kernels = shape, backend, kernels
        self.module = kernels.elementwise
        self.device_position = device_position
        self.xp = backend.xp
        self.forward, self.backward, self.reduce, self.gather = compiled(
            shape, self.module, device_position)
        self._position: Any = None
        #: the variants that have run once (compiled): (the update rule's name or None,
        #: whether the reduce ran in two levels)
        self.ready: set[tuple[str | None, bool]] = set()
        #: whether the last step also applied the optimizer's update (see :meth:`__call__`)
        self.updated = False
        self._updating: dict[str, Any] = {}  # the reduce kernel that applies each rule
        self._buffers: dict[tuple[str, tuple[int, ...]], Any] = {}
        self._targets: tuple[Any, Any] | None = None
        self._penalties: dict[tuple[float, ...], Any] = {}
        self._keys: tuple[tuple[int, ...], Any] | None = None

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
        key = (name, shape)
        out = self._buffers.get(key)
        if out is None or out.dtype != dtype:
            out = self._buffers[key] = self.xp.empty(shape, dtype=dtype,
                                                     device=self.backend.device)
        return out

    def targets(self, y: Any, X: Any, dtype: Any) -> Any:
        """``y`` as one-hot rows of the model's dtype (labels converted once while the same
        array comes back, as full-batch steps pass it)."""
        if self._targets is not None and self._targets[0] is y:
            return self._targets[1]
        xp, c = self.xp, self.shape.c
        if y.ndim == X.ndim - 1:  # labels
            one_hot = xp.astype(y[..., None] == xp.arange(c, device=self.backend.device),
                                dtype)
        else:
            one_hot = xp.astype(y, dtype)
        one_hot = self.backend.native.ascontiguousarray(one_hot)
        self._targets = (y, one_hot)
        return one_hot

    def _words(self, values: list[int]) -> Any:
        """64-bit values as two 32-bit words each (:func:`~xpnet.engine.masks.words`) in a
        new device array."""
        return self.backend.asarray(words(values), dtype=self.xp.uint32)

    def _dropout(self, dtype: Any, copies: int) -> tuple[Any, Any, int, int, int, Any]:
        """The step's dropout arguments: the copies' keys (two words each) and positions
        on the device, the position by value (one copy), the threshold and the scale
        (placeholders without dropout). The positions on the device are uploaded once, at
        the first step; the reduce kernel moves them on after every step, replayed or not."""
        layer = self.shape.dropout
        if layer is None:
            if self._keys is None:
                self._keys = ((), self._words([0] * copies))
                self._position = self._keys[1]
            return self._keys[1], self._position, 0, 0, 0, dtype.type(1)
        if self.device_position:  # where the run starts; the host follows with stepped()
            streams = _streams(layer.rng)
            keys = [int(r.key) for r in streams]
            positions = [int(r.position) for r in streams]
        else:
            key, position = next_counter(layer.rng)
            keys, positions = [int(key)], [int(position)]
        if self._keys is None or self._keys[0] != tuple(keys):
            self._keys = (tuple(keys), self._words(keys))
        if self._position is None:
            self._position = self._words(positions) if self.device_position \
                else self._keys[1]
        return (self._keys[1], self._position, positions[0] & 0xFFFFFFFF, positions[0] >> 32,
                keep_threshold(layer.keep), dtype.type(1 / layer.keep))

    def stepped(self) -> None:
        """With the positions on the device: move the host's dropout streams on by the step
        that just ran (eagerly, recorded or replayed; a replay runs no Python), so that the
        streams stay where the device is and a later run goes on from there."""
        if self.device_position and self.shape.dropout is not None:
            next_counter(self.shape.dropout.rng)

    def __call__(self, X: Any, y: Any, optimizer: Any = None) -> Any:
        n = int(X.shape[-2])
        if self.shape.dropout is not None and n * self.shape.hidden > MAX_MASK:
            msg = (f"a counter-based dropout mask covers at most {MAX_MASK} elements, got "
                   f"{n} samples x {self.shape.hidden} units; train with batch_size= (or "
                   "dropout_masks='host').")
            raise ValueError(msg)
        rule = self._rule(optimizer)
        layout = self.layout(math.prod(tuple(X.shape[:-2])), n)
        variant = (None if rule is None else rule.name, layout[2])
        if variant in self.ready:
            return self._step(X, y, rule, optimizer, layout)
        # a variant's first step compiles its kernels: a failure there (a compiler that
        # refuses them) leaves the model as it was, for the caller to train layer by layer
        layer = self.shape.dropout
        streams = [] if layer is None else _streams(layer.rng)
        positions = [r.position for r in streams]
        try:
            out = self._step(X, y, rule, optimizer, layout)
        except Exception as exc:
            for stream, position in zip(streams, positions, strict=True):
                stream.position = position
            msg = f"the whole-step kernels did not run: {type(exc).__name__}: {exc}"
            raise Unavailable(msg) from exc
        self.ready.add(variant)
        return out

    def launch(self, part: str, kernel: Any, *args: Any, size: int) -> None:
        """Launch one of the step's kernels (``part``: ``"forward"``, ``"backward"``,
        ``"gather"`` or ``"reduce"``); the one place a profiler wraps
        (``benchmarks/bench_step.py``)."""
        kernel(*args, size=size)

    def layout(self, copies: int, n: int) -> tuple[int, int, bool]:
        """How the backward kernel splits ``copies`` x ``n`` rows: rows per block, blocks
        per copy, and whether their partial sums are added in two levels (:data:`SPLIT_FROM`)."""
        groups = -(-self.shape.hidden // 4)
        rows = max(MIN_ROWS, -(-copies * n * groups // BACKWARD_THREADS))
        blocks = -(-n // rows)
        return rows, blocks, SPLIT_FROM is not None and blocks >= SPLIT_FROM

    def _rule(self, optimizer: Any) -> Any:
        """The optimizer's compiled update rule when the step applies it: with a step
        table (the rule's scalars are read there) and one float dtype for every array."""
        if optimizer is None or self.kernels.table is None:
            return None
        rule = compile_rule(optimizer.rule())
        if rule is None or len(rule.scalars) != self.kernels.table.width:
            return None
        return rule

    def _step(self, X: Any, y: Any, rule: Any, optimizer: Any,
              layout: tuple[int, int, bool]) -> Any:
        shape = self.shape
        first, second = shape.first, shape.second
        W1, b1, W2, b2 = first.W, first.b, second.W, second.b
        dtype = W1.dtype
        X = self.backend.native.ascontiguousarray(X)  # of the parameters' dtype (convert_data)
        lead = tuple(X.shape[:-2])  # (copies,) for many models
        copies, n = math.prod(lead), int(X.shape[-2])
        if copies > 1 and not self.device_position:
            msg = "the whole step of many copies reads their mask positions on the device"
            raise ValueError(msg)
        targets = self.targets(y, X, dtype)
        keys, position, p0, p1, threshold, scale = self._dropout(dtype, copies)
        shared = (X, W1, b1, W2, keys, position, np.uint32(p0), np.uint32(p1),
                  np.uint64(threshold), scale, np.int64(n))
        out = self._buffer("out", (*lead, n, shape.c), dtype)
        g = self._buffer("g", (*lead, n, shape.c), dtype)
        # the forward's dropout mask for the backward, as bits (32 units a word)
        bits = self._buffer("bits", (copies * n * -(-shape.hidden // 32),), np.uint32) \
            if shape.dropout is not None else keys
        self.launch("forward", self.forward, *shared, b2, targets, out, g, bits,
                    size=copies * n)
        groups = -(-shape.hidden // 4)
        rows, blocks, split = layout  # (self.layout, worked out once by __call__)
        size = shape.a * shape.hidden + shape.hidden + shape.hidden * shape.c + shape.c
        part = self._buffer("part", (copies * blocks * size,), dtype)
        self.launch("backward", self.backward, *shared, g, np.int64(rows), np.int64(blocks),
                    bits, part, size=copies * blocks * groups)
        if split:  # the partial sums in two levels (see SPLIT_FROM)
            chunk = math.isqrt(blocks - 1) + 1
            chunks = -(-blocks // chunk)
            sums = self._buffer("sums", (copies * chunks * size,), dtype)
            self.launch("gather", self.gather, part, np.int64(blocks), np.int64(chunk),
                        np.int64(chunks), sums, size=copies * chunks * size)
            part, blocks = sums, chunks
        penalty = self._penalty(dtype)
        grads = [self._buffer(name, tuple(p.shape), dtype)
                 for name, p in (("dW1", W1), ("db1", b1), ("dW2", W2), ("db2", b2))]
        params = (W1, b1, W2, b2)
        if rule is None:
            self.launch("reduce", self.reduce, part, np.int64(blocks), penalty, *grads,
                        position, *params, size=copies * size)
        else:  # the gradients, and the update of every parameter with them
            table = self.kernels.table
            states = [optimizer.state_of(layer, name, p)[k]
                      for layer, name, p in ((first, "W", W1), (first, "b", b1),
                                             (second, "W", W2), (second, "b", b2))
                      for k in rule.state]
            # the kernel takes the states group by group, in the rule's order (see
            # reduce_source): W1's, then b1's, ...
            reduce = self._updating.get(rule.name)
            if reduce is None:  # made once per rule, not per step (its key is the source)
                reduce = self._updating[rule.name] = compiled(
                    shape, self.module, self.device_position, rule)[2]
            self.launch("reduce", reduce, part, np.int64(blocks), penalty, table.table,
                        table.counter, np.int64(table.copies), *grads, position, *params,
                        *states, size=copies * size)
        self.updated = rule is not None
        first.grads = {"W": grads[0], "b": grads[1]}
        second.grads = {"W": grads[2], "b": grads[3]}
        return out

    def recorded_values(self) -> tuple[Any, ...]:
        """What a recorded step keeps as it was recorded, besides the arrays it uses: the
        dropout layer's keep probability (passed by value) and the penalties (read from an
        array made for their values). A graph run records the step again when they change
        (:class:`~xpnet.engine.fused.GraphRun`)."""
        layer = self.shape.dropout
        return (None if layer is None else layer.keep, self._penalty_values())

    def _penalty_values(self) -> tuple[float, ...]:
        values: list[float] = []
        for layer in (self.shape.first, self.shape.second):
            values += [layer.weight_l1, 2 * layer.weight_l2, layer.bias_l1, 2 * layer.bias_l2]
        return tuple(values)

    def _penalty(self, dtype: Any) -> Any:
        """``l1, 2 * l2`` of W1, b1, W2, b2 on the device, rounded to the parameters' dtype
        as ``Dense.backward`` rounds them (uploaded again only when they change)."""
        values = self._penalty_values()
        found = self._penalties.get(values)
        if found is None or found.dtype != dtype:
            found = self._penalties[values] = self.backend.asarray(
                np.array(values, dtype=dtype))
        return found


def shape_for(model_layers: list[Any], loss: Any, masks: str, kernels: Any) -> Shape | None:
    """The shape of a model the whole step trains, or None where the layered path trains
    it: ``kernels`` (the model's fused kernels) must carry a module that compiles
    elementwise kernels (``kernels.elementwise``: CuPy's, or the tests' host stand-in) and
    :func:`plan` must accept the model, with parameters of one float dtype, each in one
    C-ordered block (the kernels index them as such: a transposed view, a user's
    ``W.T``, would be read in the wrong order)."""
    if getattr(kernels, "elementwise", None) is None:
        return None
    shape = plan(list(model_layers), loss, masks)
    if shape is None:
        return None
    params = [p for layer in (shape.first, shape.second) for p in layer.params.values()]
    dtypes = {str(p.dtype) for p in params}
    copies = {tuple(p.shape[:-2]) for p in params}  # () for a model, (M,) for many at once
    if dtypes not in ({"float32"}, {"float64"}) or len(copies) != 1 or \
            len(copies.pop()) > 1 or not all(p.flags.c_contiguous for p in params):
        return None
    return shape
