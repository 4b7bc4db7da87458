"""Counter-based dropout masks on a GPU: Philox4x32-10 as one CUDA kernel.

:func:`xpnet.philox.keep_mask` computes a mask with Array API operations: a few dozen
elementwise passes over arrays of the mask's size, which on a GPU are a few dozen kernel
launches and as many round trips through memory. :class:`CupyMasks` computes the same mask
in one elementwise kernel: each thread runs the ten rounds for one counter in registers and
writes its four booleans. The buffered engine uses it on CuPy with ``dropout_masks="counter"``
(the default there).

The kernel's source (:data:`PREAMBLE`, :data:`BODY`) is portable C++: unsigned 32- and 64-bit
integers, ``(unsigned long long)a * m`` for the full product (which nvcc compiles to
``mul.hi``/``mul.lo``) and nothing CUDA-specific but the ``__device__ __forceinline__``
qualifiers. So the tests compile this very text with the host's C++ compiler and check its
masks against :func:`xpnet.philox.keep_mask`, bit for bit, on machines without a GPU; on a
GPU, the CuPy tests compare the kernel's masks with the NumPy ones.

:meth:`CupyMasks.scale_and_mask` applies a mask in one elementwise kernel too
(:data:`APPLY_BODY`): the buffered engine's dropout on CuPy, forward and backward, reads the
activation and the mask once and writes the result once, where NumPy's two passes
(``x * scale``, then ``* kept``) read and write the activation twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import philox
from ..random import keep_threshold

__all__ = ["APPLY_BODY", "APPLY_IN_PARAMS", "APPLY_OUT_PARAMS", "BODY", "IN_PARAMS",
           "OUT_PARAMS", "PREAMBLE", "CupyMasks", "words"]

#: One Philox multiplication (the low word returned, the high one through ``hi``), and the
#: ten rounds of one counter ``(c0, 0, p0, p1)`` under key ``(k0, k1)``: its four output
#: words. The mask kernel here and the whole-step kernels (:mod:`xpnet.engine.step`) share it.
PREAMBLE = f"""
static __device__ __forceinline__ unsigned int xpnet_mulhilo(unsigned int a, unsigned int m,
                                                             unsigned int* hi) {{
    const unsigned long long p = (unsigned long long)a * m;
    *hi = (unsigned int)(p >> 32);
    return (unsigned int)p;
}}

static __device__ __forceinline__ void xpnet_philox(unsigned int c0, unsigned int p0,
                                                    unsigned int p1, unsigned int k0,
                                                    unsigned int k1, unsigned int* out) {{
    unsigned int c1 = 0u, c2 = p0, c3 = p1;
    for (int r = 0; r < {philox.ROUNDS}; ++r) {{
        if (r > 0) {{
            k0 += {philox.W0:#010x}u;
            k1 += {philox.W1:#010x}u;
        }}
        unsigned int hi0, hi1;
        const unsigned int lo0 = xpnet_mulhilo(c0, {philox.M0:#010x}u, &hi0);
        const unsigned int lo1 = xpnet_mulhilo(c2, {philox.M1:#010x}u, &hi1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }}
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}}
"""

#: The kernel's parameters: the copies' keys (low, high word of each), the mask's position
#: in the stream (low, high word), counters per copy, elements per copy, the threshold.
IN_PARAMS = ("raw uint32 keys, uint32 p0, uint32 p1, uint64 blocks, uint64 per, "
             "uint32 threshold")
#: The mask, flat: copy ``m``'s elements at ``[m * per, (m + 1) * per)``.
OUT_PARAMS = "raw bool out"

#: Thread ``i``: counter ``j = i % blocks`` of copy ``m = i // blocks``, whose four words
#: decide elements ``4j`` to ``4j + 3`` of the copy (the layout of
#: :func:`xpnet.philox.keep_mask`).
BODY = f"""
const unsigned long long t = (unsigned long long)i;
const unsigned long long m = t / blocks;
const unsigned long long j = t - m * blocks;
unsigned int w[{philox.LANES}];
xpnet_philox((unsigned int)j, p0, p1, keys[2 * m], keys[2 * m + 1], w);
const unsigned long long e = {philox.LANES}ull * j;
const unsigned long long base = m * per + e;
out[base] = w[0] < threshold;
if (e + 1 < per) out[base + 1] = w[1] < threshold;
if (e + 2 < per) out[base + 2] = w[2] < threshold;
if (e + 3 < per) out[base + 3] = w[3] < threshold;
"""

#: Applying a mask: the activation (or gradient), the scale ``1 / keep`` in its dtype, the
#: mask; the result (which may be the activation's own array: element ``i`` is read before
#: it is written).
APPLY_IN_PARAMS = "T x, T scale, bool kept"
APPLY_OUT_PARAMS = "T out"

#: ``(x * scale) * kept``, the two products of NumPy's two passes in the same order, in one
#: pass: the same bits. Not ``kept ? x * scale : 0``, which differs where a unit is dropped:
#: the product gives ``-0.0`` for a negative ``x * scale`` (``+0.0`` for a positive one) and
#: NaN for a NaN or infinite one (``inf * 0``), where the select would give ``+0.0``. (Only a
#: NaN's payload may differ between devices: CUDA's arithmetic returns its canonical NaN.)
APPLY_BODY = "out = x * scale * (T)kept;"


def words(values: Any) -> np.ndarray:
    """64-bit values (keys, positions) as the kernels take them: two 32-bit words each, the
    low one first, in one flat ``uint32`` array.

    >>> words([1, 2**32 + 5]).tolist()
    [1, 0, 5, 1]
    """
    v = np.asarray(values, dtype=np.uint64).reshape(-1)
    pairs = np.stack([v & np.uint64(0xFFFFFFFF), v >> np.uint64(32)], axis=-1)
    return np.ascontiguousarray(pairs.astype(np.uint32).reshape(-1))


class CupyMasks:
    """Counter-based keep masks computed by one CUDA kernel (CuPy), the same bits as
    :func:`xpnet.philox.keep_mask`.

    Parameters
    ----------
    cupy : module
        CuPy (or, in the tests, a stand-in with ``ElementwiseKernel`` and ``asarray``).
    """

    def __init__(self, cupy: Any):
        self._cupy = cupy
        self._kernel: Any = None
        self._apply: Any = None
        self._keys: dict[bytes, Any] = {}  # the copies' keys on the device, by value

    def kernel(self) -> Any:
        """The compiled kernel (compiled on first use)."""
        if self._kernel is None:
            self._kernel = self._cupy.ElementwiseKernel(
                IN_PARAMS, OUT_PARAMS, BODY, name="xpnet_philox_keep_mask", preamble=PREAMBLE)
        return self._kernel

    def _device_keys(self, keys: np.ndarray) -> Any:
        """The keys as ``(low, high)`` words on the device, uploaded once per set of keys (a
        run's layers keep theirs, so no step waits for a copy to the device)."""
        host = words(keys)
        found = self._keys.get(host.tobytes())
        if found is None:
            found = self._keys[host.tobytes()] = self._cupy.asarray(host)
        return found

    def keep_mask(self, keep: float, key: Any, position: Any, out: Any) -> Any | None:
        """Write the mask of ``out``'s shape (a C-contiguous bool array) into ``out`` and
        return it; or return None when the kernel cannot draw it (copies at different
        positions), for the caller to use :func:`xpnet.philox.keep_mask`.

        ``key`` and ``position`` are as :func:`xpnet.philox.keep_mask` takes them: ints, or
        arrays of one per copy along ``out``'s first axis.
        """
        shape = tuple(out.shape)
        copies = not isinstance(key, (int, np.integer))
        keys = np.asarray(key, dtype=np.uint64).reshape(-1)
        where = np.unique(np.asarray(position, dtype=np.uint64))
        if where.size != 1:
            return None  # one position is passed by value; copies out of step are rare
        per = int(np.prod(shape[1:] if copies else shape, dtype=np.int64))
        blocks = -(-per // philox.LANES)
        if blocks > 2**32:
            return None
        threshold = keep_threshold(keep)
        if threshold >= 2**32:  # keep within 2**-33 of 1: every unit is kept
            out[...] = True
            return out
        if per == 0:
            return out
        p = int(where[0])
        self.kernel()(self._device_keys(keys), np.uint32(p & 0xFFFFFFFF), np.uint32(p >> 32),
                      np.uint64(blocks), np.uint64(per), np.uint32(threshold),
                      out.reshape(-1), size=keys.size * blocks)
        return out

    def apply_kernel(self) -> Any:
        """The kernel that applies a mask (compiled on first use)."""
        if self._apply is None:
            self._apply = self._cupy.ElementwiseKernel(
                APPLY_IN_PARAMS, APPLY_OUT_PARAMS, APPLY_BODY, name="xpnet_scale_and_mask")
        return self._apply

    def scale_and_mask(self, x: Any, scale: float, kept: Any, out: Any) -> Any:
        """``x * scale * kept`` into ``out`` in one pass, and return ``out``: the bits of
        ``multiply(x, scale, out=out); out *= kept`` (``scale`` rounded to ``x``'s dtype, as
        NumPy and CuPy round a Python float multiplying an array). ``x`` and ``out`` are
        float32 or float64 arrays of one shape and dtype, ``kept`` booleans of that shape;
        ``out`` may be ``x``."""
        self.apply_kernel()(x, x.dtype.type(scale), kept, out)
        return out
