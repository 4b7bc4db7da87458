"""The benchmark's workloads and their analytic per-epoch cost.

Every workload is the book's spiral classifier trained full batch in float32::

    X (N, D) -> Dense(D, H) -> ReLU -> [Dropout(p)] -> Dense(H, C) -> softmax + cross-entropy
    Adam(learning_rate=0.05, decay=5e-5)

with ``N = samples_per_class * classes``. The cost model counts what the *maths* needs for one
epoch (one forward, one backward, one Adam step), independent of how a contender computes it:
``flops`` (the matrix products), ``bytes_moved`` (a minimal-traffic model) and
``needed_bytes`` (the arrays that must exist at once). Achieved GFLOP/s and GB/s are these
counts divided by the measured time, so a contender that does more work than the minimum
shows up as a lower rate, not as a different count. :func:`floor_ms` turns the counts into
the least time an epoch can take on a machine with given ceilings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = [
    "ALL_CASES",
    "CASES",
    "DECAY",
    "DEVICES",
    "GPU_CASES",
    "GPU_TARGET_CASES",
    "LEARNING_RATE",
    "LOG_EVERY",
    "QUICK_CASES",
    "Workload",
    "bytes_moved",
    "default_cases",
    "default_epochs",
    "default_warmup",
    "floor_ms",
    "flops",
    "get",
    "needed_arrays",
    "needed_bytes",
    "traffic",
]

LEARNING_RATE = 0.05
DECAY = 5e-5
#: Where a suite can run: the host, or a CUDA GPU (xpnet on CuPy, PyTorch on ``cuda``).
DEVICES = ("cpu", "cuda")
#: Epochs between metric logs (the book's every-100-epochs line).
LOG_EVERY = 100

#: Bytes per entry: float32 values, int64 labels, a dropout mask stored as one byte (bool or
#: uint8) -- the least a mask needs without bit packing.
FLOAT_BYTES = 4
LABEL_BYTES = 8
MASK_BYTES = 1


@dataclass(frozen=True)
class Workload:
    """One benchmark case: the spiral classifier at one size, with or without dropout.

    Parameters
    ----------
    name : str
        The case's name in tables and JSON.
    samples_per_class : int
        Spiral samples per class; ``N = samples_per_class * classes``.
    hidden : int
        Width ``H`` of the hidden layer.
    dropout : float
        Dropout rate after the ReLU; 0 for no dropout layer.
    classes : int
        Number of classes ``C`` (the output width).
    features : int
        Input features ``D`` (the spiral has 2).

    Examples
    --------
    >>> w = get("wide")
    >>> w.N, w.hidden, w.dropout
    (3000, 512, 0.0)
    """

    name: str
    samples_per_class: int
    hidden: int
    dropout: float
    classes: int = 3
    features: int = 2

    def __post_init__(self) -> None:
        if self.samples_per_class < 1 or self.hidden < 1 or self.classes < 2:
            msg = (f"Workload {self.name!r} needs samples_per_class >= 1, hidden >= 1 and "
                   f"classes >= 2, got {self.samples_per_class}, {self.hidden}, {self.classes}.")
            raise ValueError(msg)
        if not 0.0 <= self.dropout < 1.0:
            msg = f"Workload {self.name!r} needs a dropout rate in [0, 1), got {self.dropout}."
            raise ValueError(msg)
        if self.features != 2:
            msg = (f"Workload {self.name!r}: the spiral data has 2 features, got "
                   f"features={self.features}.")
            raise ValueError(msg)

    @property
    def N(self) -> int:
        """Number of training samples."""
        return self.samples_per_class * self.classes

    @property
    def n_parameters(self) -> int:
        """Weights and biases of both dense layers: ``D*H + H + H*C + C``."""
        D, H, C = self.features, self.hidden, self.classes
        return D * H + H + H * C + C

    def resized(self, samples_per_class: int | None = None,
                hidden: int | None = None) -> Workload:
        """The same case at another size (same name)."""
        return dataclasses.replace(
            self,
            samples_per_class=self.samples_per_class if samples_per_class is None
            else samples_per_class,
            hidden=self.hidden if hidden is None else hidden)


#: The suite's six cases: the book's reference workload, a wide one and a big one, each
#: without and with Dropout(0.1).
CASES: dict[str, Workload] = {w.name: w for w in (
    Workload("reference", 1000, 64, 0.0),
    Workload("reference_dropout", 1000, 64, 0.1),
    Workload("wide", 1000, 512, 0.0),
    Workload("wide_dropout", 1000, 512, 0.1),
    Workload("big", 10000, 512, 0.0),
    Workload("big_dropout", 10000, 512, 0.1),
)}


#: Cases a GPU run adds: ``huge`` (N=300000, H=1024) has 1.2 GB per N*H float32 array,
#: minutes per epoch for the book's code on one core, and a GPU target (within 2x of
#: :func:`floor_ms`); ``huge_dropout`` is the same with Dropout(0.1), whose target is
#: relative (at most 1.3x ``huge``: masks drawn on the device).
GPU_CASES: dict[str, Workload] = {w.name: w for w in (
    Workload("huge", 100000, 1024, 0.0),
    Workload("huge_dropout", 100000, 1024, 0.1),
)}

#: The cases a GPU run times first, so that a run cut short has measured every GPU target:
#: ``reference`` (against PyTorch), ``reference_dropout`` (at most 1.2x ``reference``),
#: ``huge`` (against its floor) and ``huge_dropout`` (at most 1.3x ``huge``).
GPU_TARGET_CASES = ("reference", "reference_dropout", "huge", "huge_dropout")

#: The CPU cases a quick run times by default: with and without dropout, narrow and wide.
QUICK_CASES = ("reference", "reference_dropout", "wide")

#: Every case, CPU ones first.
ALL_CASES: dict[str, Workload] = {**CASES, **GPU_CASES}


def get(name: str) -> Workload:
    """The case called ``name`` (one of :data:`ALL_CASES`).

    >>> get("big").N, get("huge").N
    (30000, 300000)
    """
    try:
        return ALL_CASES[name]
    except KeyError:
        msg = (f"unknown benchmark case {name!r}; choose from {', '.join(ALL_CASES)} "
               "(or 'all').")
        raise ValueError(msg) from None


def default_cases(device: str = "cpu", quick: bool = False) -> list[Workload]:
    """The cases a run on ``device`` times when none are named.

    On the CPU the six :data:`CASES`; on a GPU also :data:`GPU_CASES`, and the cases with
    GPU targets first (:data:`GPU_TARGET_CASES`), so that a session cut short by a time
    limit has measured them. A ``quick`` run times :data:`QUICK_CASES` of the CPU's (a first
    look in about half a minute on a 2-core machine).

    >>> [w.name for w in default_cases("cuda")][:5]
    ['reference', 'reference_dropout', 'huge', 'huge_dropout', 'wide']
    >>> [w.name for w in default_cases(quick=True)]
    ['reference', 'reference_dropout', 'wide']
    """
    if device not in DEVICES:
        msg = f"unknown device {device!r}; choose from {', '.join(DEVICES)}."
        raise ValueError(msg)
    cpu = [w for w in CASES.values() if not quick or w.name in QUICK_CASES]
    if device == "cpu":
        return cpu
    every = [*cpu, *GPU_CASES.values()]
    first = [w for name in GPU_TARGET_CASES for w in every if w.name == name]
    return first + [w for w in every if w.name not in GPU_TARGET_CASES]


#: N*H of the reference workload: the unit the default epoch counts scale with.
_REFERENCE_SIZE = 3000 * 64


def default_epochs(w: Workload, quick: bool = False) -> int:
    """Epochs per timed repeat: ~0.3-1 s for the book-style code on a 2-core CPU.

    The time of an epoch grows about with ``N * H`` (the hidden-layer arrays), and dropout
    roughly doubles it for the book's code, so the count is 500 (quick: 100) epochs for the
    reference workload, scaled by ``3000*64 / (N*H)``, halved with dropout, and kept
    between 3 (quick: 2) and 500 (quick: 100).

    >>> [default_epochs(w) for w in CASES.values()]
    [500, 250, 62, 31, 6, 3]
    >>> [default_epochs(w, quick=True) for w in CASES.values()]
    [100, 50, 12, 6, 2, 2]
    """
    base, least = (100, 2) if quick else (500, 3)
    epochs = base * _REFERENCE_SIZE / (w.N * w.hidden) / (2 if w.dropout else 1)
    return max(least, min(base, round(epochs)))


def default_warmup(epochs: int) -> int:
    """Untimed epochs before timing: a fifth of a repeat, at least 2 (``torch.compile``
    compiles on the first call and may recompile on the second), at most 20.

    >>> default_warmup(500), default_warmup(6)
    (20, 2)
    """
    return max(2, min(20, epochs // 5))


# ---------------------------------------------------------------------------------------
# The cost model.
# ---------------------------------------------------------------------------------------

def flops(w: Workload) -> int:
    """Floating-point operations of one epoch's matrix products.

    Each product of an ``(m, k)`` by a ``(k, n)`` matrix counts ``2*m*k*n`` (one multiply and
    one add per term):

    * forward: ``X @ W1`` (``2*N*D*H``) and ``h @ W2`` (``2*N*H*C``);
    * backward: ``dW2 = h.T @ dz2`` (``2*H*N*C``), ``dh = dz2 @ W2.T`` (``2*N*C*H``) and
      ``dW1 = X.T @ dz1`` (``2*D*N*H``). The first layer's input gradient ``dz1 @ W1.T`` is
      not counted: nothing needs the gradient of the data.

    Total ``2*N*(2*D*H + 3*H*C)``. Elementwise work (bias, ReLU, dropout, softmax, loss,
    Adam) is *not* counted: it is bound by memory traffic, which :func:`bytes_moved` models.

    >>> flops(Workload("tiny", 2, 4, 0.0, classes=3))  # N=6, D=2, H=4, C=3
    624
    """
    N, D, H, C = w.N, w.features, w.hidden, w.classes
    forward = 2 * N * D * H + 2 * N * H * C
    backward = 2 * H * N * C + 2 * N * C * H + 2 * D * N * H
    return forward + backward


def traffic(w: Workload) -> dict[str, int]:
    """Bytes each pass of one epoch must read and write, in a minimal-traffic model.

    Every array a pass needs is read once and every array it produces is written once;
    elementwise steps are fused into the pass that produces their input (as one compiled
    kernel would), and nothing is re-read because a cache was too small. Values are float32,
    labels int64, the dropout mask one byte per entry. The passes:

    * ``forward_hidden``: ``h = relu(X @ W1 + b1)``: read X, W1, b1; write h.
    * ``forward_dropout`` (with dropout): ``d = h * mask / keep``, the mask drawn on the fly:
      read h; write the mask and d.
    * ``forward_output``: ``p = softmax(d @ W2 + b2)`` (``h`` without dropout) and the loss:
      read d, W2, b2, y; write p.
    * ``backward_output``: ``dz2 = (p - onehot(y)) / N``: read p, y; write dz2.
    * ``backward_dW2``: ``dW2 = d.T @ dz2``, ``db2 = sum(dz2)``: read d, dz2; write dW2, db2.
    * ``backward_hidden``: ``dz1 = (dz2 @ W2.T) [* mask / keep] * (h > 0)``: read dz2, W2,
      [mask,] h; write dz1.
    * ``backward_dW1``: ``dW1 = X.T @ dz1``, ``db1 = sum(dz1)``: read X, dz1; write dW1, db1.
    * ``adam``: for every parameter read the parameter, its gradient and both moments; write
      the parameter and both moments (7 arrays of the parameter's size).

    The N*H arrays dominate: 6 float32 N*H transfers without dropout, 7 float32 and 2 one-byte
    ones with dropout. For small H they fit in cache, so a rate above the memory bandwidth
    is possible there.

    Every read the layer-by-layer arithmetic cannot avoid is here: each product's operands
    once and its result once, the labels for the loss and for its gradient, the mask in both
    passes, Adam's seven arrays per parameter. Not counted: the accuracy and loss of logged
    epochs (one in :data:`LOG_EVERY`), and anything saved by fusing two products into one
    pass (see :func:`floor_ms`).
    """
    N, D, H, C = w.N, w.features, w.hidden, w.classes
    f, lab, msk = FLOAT_BYTES, LABEL_BYTES, MASK_BYTES
    passes = {"forward_hidden": f * (N * D + D * H + H + N * H)}
    if w.dropout:
        passes["forward_dropout"] = f * N * H + msk * N * H + f * N * H
    passes["forward_output"] = f * (N * H + H * C + C + N * C) + lab * N
    passes["backward_output"] = f * N * C + lab * N + f * N * C
    passes["backward_dW2"] = f * (N * H + N * C + H * C + C)
    passes["backward_hidden"] = (f * (N * C + H * C + N * H + N * H)
                                 + (msk * N * H if w.dropout else 0))
    passes["backward_dW1"] = f * (N * D + N * H + D * H + H)
    passes["adam"] = 7 * f * w.n_parameters
    return passes


def bytes_moved(w: Workload) -> int:
    """Bytes one epoch must move to and from memory: the sum of :func:`traffic`'s passes.

    >>> bytes_moved(get("reference"))
    4898700
    """
    return sum(traffic(w).values())


def floor_ms(w: Workload, matmul_gflops: float, bandwidth_gbps: float) -> dict[str, float]:
    """The least time one epoch can take with the given ceilings, in milliseconds.

    ``floor = flops / matmul rate + bytes_moved / bandwidth``: the matrix products at the
    measured float32 matrix-product rate, plus the minimal traffic of :func:`traffic` at the
    measured copy bandwidth. The sum assumes the two do not overlap (the products here are
    skinny, ``K = 2`` or ``N = 3``, and memory-bound themselves), so it is the floor of a
    layer-by-layer implementation that writes each layer's output once; a kernel fusing the
    whole network and recomputing the N*H activations from X could go below it.

    Returns ``{"floor_ms", "matmul_ms", "traffic_ms"}``.

    >>> f = floor_ms(get("reference"), matmul_gflops=100.0, bandwidth_gbps=10.0)
    >>> round(f["matmul_ms"], 4), round(f["traffic_ms"], 4), round(f["floor_ms"], 4)
    (0.0499, 0.4899, 0.5398)
    """
    if matmul_gflops <= 0 or bandwidth_gbps <= 0:
        msg = (f"floor_ms needs positive ceilings, got {matmul_gflops} GFLOP/s and "
               f"{bandwidth_gbps} GB/s.")
        raise ValueError(msg)
    matmul = flops(w) / (matmul_gflops * 1e9) * 1e3
    memory = bytes_moved(w) / (bandwidth_gbps * 1e9) * 1e3
    return {"floor_ms": matmul + memory, "matmul_ms": matmul, "traffic_ms": memory}


def needed_arrays(w: Workload) -> dict[str, int]:
    """The arrays the maths of one training step needs alive at its peak, in bytes.

    * ``X`` (N*D float32) and ``y`` (N int64): the data;
    * ``parameters``: for every weight and bias, the value, its gradient and Adam's two
      moments (4 float32 arrays of the parameter's size);
    * ``hidden``: the ReLU output h (N*H float32), kept for both backward products;
    * with dropout, ``dropout_output`` (N*H float32) and ``dropout_mask`` (N*H, 1 byte);
    * ``probabilities``: the softmax output (N*C float32), kept for the loss's gradient;
    * ``gradient``: one N*H float32 array for the hidden layer's gradient (dz2 @ W2.T,
      then masked in place).

    The output layer's gradient (N*C) is counted in ``probabilities``: it can overwrite them.
    """
    N, D, H, C = w.N, w.features, w.hidden, w.classes
    arrays = {
        "X": FLOAT_BYTES * N * D,
        "y": LABEL_BYTES * N,
        "parameters": 4 * FLOAT_BYTES * w.n_parameters,
        "hidden": FLOAT_BYTES * N * H,
    }
    if w.dropout:
        arrays["dropout_output"] = FLOAT_BYTES * N * H
        arrays["dropout_mask"] = MASK_BYTES * N * H
    arrays["probabilities"] = FLOAT_BYTES * N * C
    arrays["gradient"] = FLOAT_BYTES * N * H
    return arrays


def needed_bytes(w: Workload) -> int:
    """Bytes of the arrays the maths needs (:func:`needed_arrays`), data included.

    >>> needed_bytes(get("big")) / 1e6
    123.7692
    """
    return sum(needed_arrays(w).values())
