"""Philox4x32-10, a counter-based random generator, written once in Array API operations.

A counter-based generator computes its ``n``-th output directly from ``(key, n)``: there is
no state to carry from one draw to the next, so a whole array of draws is one elementwise
computation on the device that holds the array. Philox4x32-10 (Salmon, Moraes, Dror and
Shaw, *Parallel random numbers: as easy as 1, 2, 3*, SC 2011; the Random123 library) is the
generator cuRAND and CuPy use: a 128-bit counter ``(c0, c1, c2, c3)`` and a 64-bit key
``(k0, k1)`` of 32-bit words go through ten rounds of

.. code-block:: text

    hi0, lo0 = mulhilo(0xD2511F53, c0)          # the 64-bit product's two halves
    hi1, lo1 = mulhilo(0xCD9E8D57, c2)
    c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    k0, k1 = k0 + 0x9E3779B9, k1 + 0xBB67AE85   # mod 2**32, between rounds

and the four words left are four independent uniform 32-bit outputs.

The Array API standard has 32- and 64-bit unsigned integers but not every library computes
with them, so the product is taken one of three ways, whichever the namespace supports (the
first that reproduces Random123's known answers, checked once per namespace and device,
:func:`arithmetic`); all three give the same bits (tested):

``"uint64"``
    words are ``uint32``, the product is taken in ``uint64`` (NumPy, CuPy, array-api-strict,
    JAX with 64-bit mode, which xpnet turns on).
``"uint16"``
    words are ``uint32`` and the product is assembled from 16-bit halves, whose products
    fit in 32 bits (a namespace without ``uint64``).
``"int64"``
    words are ``int64`` holding values below 2**32, and the multiplier is split in two
    16-bit halves, so that every partial product stays below 2**48 (PyTorch, whose unsigned
    types have no shifts, additions or comparisons on the CPU).

Nothing here overflows: no result depends on how a library wraps.

Dropout masks
-------------
:func:`keep_mask` gives the boolean mask of a dropout layer: element ``e`` (flat index, C
order, counted within each model copy) is kept when output word ``e % 4`` of counter
``(e // 4, 0, position mod 2**32, position // 2**32)`` is below
``round(keep * 2**32)``, the same exact threshold as the host stream's
(:meth:`xpnet.random.Generator.keep_mask`): a unit is kept with probability ``keep`` to
within 2**-33. The key is the layer's own (derived from the seed,
:meth:`xpnet.random.Generator.spawn_key`) and ``position`` counts the masks the layer has
drawn, so no two masks of a run share a counter, and no two layers or model copies share a
key.

>>> import numpy as np
>>> from xpnet.backend import resolve
>>> b = resolve("numpy")
>>> [hex(int(w)) for w in philox4x32(b, (0, 0, 0, 0), (0, 0))]
['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
>>> kept = keep_mask(b, (1000, 100), 0.9, key=12345, position=0)
>>> kept.dtype, round(float(np.mean(kept)), 2)
(dtype('bool'), 0.9)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from .backend import Backend, to_numpy
from .random import keep_threshold

__all__ = ["KINDS", "LANES", "M0", "M1", "ROUNDS", "W0", "W1", "arithmetic", "keep_mask",
           "keep_threshold", "philox4x32", "round_keys"]

#: The round multipliers and the key increments (Weyl sequence) of Philox4x32.
M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
#: Rounds of Philox4x32-10.
ROUNDS = 10
#: Output words per counter: four consecutive elements of a mask share one counter.
LANES = 4
#: The ways of taking a 32x32-bit product, in the order they are tried.
KINDS = ("uint64", "uint16", "int64")

_MASK32 = 0xFFFFFFFF
_LOW16 = 0xFFFF

#: A 32-bit word: a Python int (computed on the host) or an array of words.
Word = Union[int, Any]  # noqa: UP007 (a runtime alias on Python 3.10)

#: Random123's known answers for Philox4x32-10 (counter, key, output), from its
#: ``kat_vectors`` (also in TensorFlow's and Random123-Boost's tests).
KNOWN_ANSWERS: tuple[tuple[tuple[int, ...], tuple[int, int], tuple[int, ...]], ...] = (
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((_MASK32,) * 4, (_MASK32, _MASK32), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
)

_chosen: dict[tuple[str, str], str] = {}


def words_dtype(backend: Backend, kind: str) -> Any:
    """The dtype that holds 32-bit words with arithmetic ``kind``."""
    return backend.xp.int64 if kind == "int64" else backend.xp.uint32


def _host_dtype(kind: str) -> Any:
    return np.int64 if kind == "int64" else np.uint32


def arithmetic(backend: Backend) -> str:
    """How ``backend`` computes Philox (one of :data:`KINDS`): the first way whose output
    matches Random123's known answers there, found once per namespace and device."""
    where = (backend.name, str(backend.device))
    kind = _chosen.get(where)
    if kind is None:
        kind = _chosen[where] = _probe(backend)
    return kind


def _probe(backend: Backend) -> str:
    cases = list(zip(*KNOWN_ANSWERS, strict=True))  # counters, keys, outputs
    counters = [np.asarray(c, dtype=np.int64) for c in zip(*cases[0], strict=True)]
    keys = [np.asarray(k, dtype=np.int64) for k in zip(*cases[1], strict=True)]
    expected = [list(w) for w in zip(*cases[2], strict=True)]
    failures = []
    for kind in KINDS:
        try:
            with warnings.catch_warnings():  # e.g. JAX without 64-bit mode truncating uint64
                warnings.simplefilter("ignore")
                dtype = words_dtype(backend, kind)
                counter = [backend.asarray(c.astype(_host_dtype(kind)), dtype=dtype)
                           for c in counters]
                schedule = [tuple(backend.asarray(k.astype(_host_dtype(kind)), dtype=dtype)
                                  for k in pair)
                            for pair in round_keys(keys[0], keys[1])]
                got = [to_numpy(w).astype(np.int64).tolist()
                       for w in _rounds(backend.xp, kind, counter, schedule)]
        except Exception as exc:
            failures.append(f"{kind}: {type(exc).__name__}: {exc}")
            continue
        if got == expected:
            return kind
        failures.append(f"{kind}: wrong words {got}")
    msg = (f"backend {backend.name!r} cannot compute Philox4x32's 32-bit words exactly "
           f"({'; '.join(failures)}); train with dropout_masks='host' there.")
    raise TypeError(msg)


def round_keys(k0: Any, k1: Any, rounds: int = ROUNDS) -> list[tuple[Any, Any]]:
    """The key of each round, ``(k0 + r * W0, k1 + r * W1) mod 2**32``, computed on the host
    (``k0``, ``k1``: Python ints, or NumPy integer arrays of one key word per model copy).

    >>> [hex(k) for k in round_keys(0, 0)[1]]
    ['0x9e3779b9', '0xbb67ae85']
    """
    out = []
    for r in range(rounds):
        if isinstance(k0, (int, np.integer)) and isinstance(k1, (int, np.integer)):
            out.append(((int(k0) + r * W0) & _MASK32, (int(k1) + r * W1) & _MASK32))
        else:
            a = (np.asarray(k0, dtype=np.uint64) + np.uint64(r * W0)) & np.uint64(_MASK32)
            b = (np.asarray(k1, dtype=np.uint64) + np.uint64(r * W1)) & np.uint64(_MASK32)
            out.append((a, b))
    return out


def _mulhilo(xp: Any, kind: str, m: int, a: Word) -> tuple[Word, Word]:
    """The high and low 32-bit halves of ``m * a`` (``m`` a 32-bit constant)."""
    if isinstance(a, int):
        p = m * a
        return p >> 32, p & _MASK32
    if kind == "uint64":
        p = xp.astype(a, xp.uint64) * m
        return xp.astype(p >> 32, xp.uint32), xp.astype(p & _MASK32, xp.uint32)
    if kind == "int64":
        # a < 2**32 times each 16-bit half of m stays below 2**48
        a0, a1 = a * (m & _LOW16), a * (m >> 16)  # m * a = a1 * 2**16 + a0
        s = ((a1 & _LOW16) << 16) + a0  # the part below 2**32 of a1 * 2**16, plus a0
        return (a1 >> 16) + (s >> 32), s & _MASK32
    # "uint16": 16-bit halves of both factors; every partial product fits in 32 bits
    m0, m1 = m & _LOW16, m >> 16
    a0, a1 = a & _LOW16, a >> 16
    ll, lh, hl, hh = a0 * m0, a0 * m1, a1 * m0, a1 * m1
    mid = (ll >> 16) + (lh & _LOW16) + (hl & _LOW16)  # below 3 * 2**16
    lo = (ll & _LOW16) | ((mid & _LOW16) << 16)
    hi = hh + (lh >> 16) + (hl >> 16) + (mid >> 16)  # the product's top half: below 2**32
    return hi, lo


def _rounds(xp: Any, kind: str, counter: Sequence[Word],
            schedule: Sequence[tuple[Word, Word]]) -> tuple[Word, Word, Word, Word]:
    """Philox4x32's rounds on ``counter`` with the round keys ``schedule`` (ints or arrays
    of words, broadcasting together)."""
    c0, c1, c2, c3 = counter
    for k0, k1 in schedule:
        hi0, lo0 = _mulhilo(xp, kind, M0, c0)
        hi1, lo1 = _mulhilo(xp, kind, M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def philox4x32(backend: Backend, counter: Sequence[Any], key: Sequence[Any], *,
               rounds: int = ROUNDS, kind: str | None = None) -> tuple[Any, ...]:
    """Philox4x32 (ten rounds by default) of ``counter`` (four words) under ``key`` (two):
    four arrays of output words on ``backend``.

    Counter words are Python ints or arrays of words (see :func:`words_dtype`); key words are
    Python ints. ``kind`` forces one way of multiplying (see :data:`KINDS`).
    """
    kind = arithmetic(backend) if kind is None else kind
    dtype = words_dtype(backend, kind)
    words = [backend.xp.full((), w, dtype=dtype, device=backend.device)
             if isinstance(w, int) else w for w in counter]
    schedule = round_keys(int(key[0]), int(key[1]), rounds)
    return _rounds(backend.xp, kind, words, schedule)


def keep_mask(backend: Backend, shape: tuple[int, ...], keep: float, key: Any,
              position: Any, *, kind: str | None = None) -> Any:
    """A boolean dropout mask of ``shape`` on ``backend``'s device: True (keep the unit)
    with probability ``keep``, from Philox4x32-10 under ``key`` at ``position``.

    See the module's notes for the layout: four consecutive elements of a copy share one
    counter, whose first word is their index divided by four.

    Parameters
    ----------
    backend : Backend
    shape : tuple of int
    keep : float
        Probability of keeping a unit.
    key, position : int, or NumPy arrays of one value per model copy
        The stream's 64-bit key and the 64-bit index of this mask in it. Arrays give one
        stream per copy along the first axis of ``shape`` (many models at once): copy ``m``
        gets the mask a model of ``shape[1:]`` gets with ``key[m]`` and ``position[m]``.
    kind : str, optional
        Force one way of multiplying (:data:`KINDS`); the backend's own by default.
    """
    xp = backend.xp
    threshold = keep_threshold(keep)
    if threshold >= 2**32:  # keep within 2**-33 of 1: every unit is kept
        return xp.ones(shape, dtype=xp.bool, device=backend.device)
    copies = not isinstance(key, (int, np.integer))
    per = math.prod(shape[1:]) if copies else math.prod(shape)
    blocks = -(-per // LANES)
    if blocks > 2**32:
        msg = (f"a counter-based dropout mask covers at most 2**34 elements per model copy, "
               f"got {per} (shape {tuple(shape)}); train with dropout_masks='host'.")
        raise ValueError(msg)
    kind = arithmetic(backend) if kind is None else kind
    dtype = words_dtype(backend, kind)
    c0 = xp.arange(blocks, dtype=dtype, device=backend.device)
    if copies:
        keys = np.asarray(key, dtype=np.uint64).reshape(-1)
        where = np.broadcast_to(np.asarray(position, dtype=np.uint64), keys.shape)
        rows = [w for pair in round_keys(keys & np.uint64(_MASK32), keys >> np.uint64(32))
                for w in pair]
        rows += [where & np.uint64(_MASK32), where >> np.uint64(32)]
        # one transfer for the copies' round keys and positions, as (M, 1) columns
        table = backend.asarray(np.stack(rows).astype(_host_dtype(kind)), dtype=dtype)
        columns = [xp.reshape(table[i, ...], (-1, 1)) for i in range(len(rows))]
        schedule = list(zip(columns[0:-2:2], columns[1:-2:2], strict=True))
        counter: list[Word] = [c0, 0, columns[-2], columns[-1]]
    else:
        key, position = int(key), int(position)
        schedule = round_keys(key & _MASK32, key >> 32)
        counter = [c0, 0, position & _MASK32, position >> 32]
    out = _rounds(xp, kind, counter, schedule)
    kept = xp.stack([w < threshold for w in out], axis=-1)  # (..., blocks, 4)
    lead = (shape[0],) if copies else ()
    flat = xp.reshape(kept, (*lead, blocks * LANES))
    if blocks * LANES != per:
        flat = flat[..., :per]
    return xp.reshape(flat, tuple(shape))
