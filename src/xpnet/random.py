"""Randomness policy: explicit, seeded, host-side streams.

The Array API standard has no random numbers, so every draw in xpnet (initial weights,
data, dropout masks, shuffling) comes from a :class:`Generator` that the caller passes in
(or that a seed creates). Draws happen on the host with NumPy and are moved to the device
once, so the same seed gives identical data and initial weights on every backend.

``Generator("nnfs")`` is the book's stream: what ``nnfs.init()`` sets up, i.e. NumPy's
legacy generator seeded with 0, standard normals cast to float32. One such stream shared
by the data and the model reproduces the book's draw order (data, then each Dense layer's
weights in construction order, then one dropout mask per training forward pass).

Dropout masks may instead come from a counter-based generator on the device
(:mod:`xpnet.philox`, ``Model(dropout_masks="counter")``). Each Dropout layer then has a
:class:`DropoutStream`: the model's host stream, and a key of its own that
:meth:`Generator.spawn_key` derives from the seed without drawing anything, so that the
data, the initial weights and the shuffles are the same whichever source the masks have.

>>> rng = Generator("nnfs")
>>> rng.randn(2).tolist()  # np.random.seed(0); np.random.randn(2).astype("float32")
[1.764052391052246, 0.40015721321105957]
"""

from __future__ import annotations

from typing import Any, Union, cast

import numpy as np

__all__ = ["NNFS", "DropoutStream", "Generator", "SeedLike", "as_generator", "keep_threshold",
           "parse_seed"]

#: The seed value that selects the book-compatible stream.
NNFS = "nnfs"

#: Dropout-mask draws are made this many at a time (a multiple of 8: eight per 64-bit draw).
_MASK_CHUNK = 2**18

#: The first word of the spawn key of every key :meth:`Generator.spawn_key` derives ("DROP"),
#: so that these keys are no other use's of the same seed.
_KEY_DOMAIN = 0x44524F50


def keep_threshold(keep: float) -> int:
    """The integer a 32-bit uniform draw is compared with: a unit is kept when its draw is
    below ``round(keep * 2**32)``, which is exact to 2**-33 (2**32: every unit is kept). The
    host stream's masks and the counter-based ones (:mod:`xpnet.philox`) use it alike.

    >>> keep_threshold(0.9), keep_threshold(1.0)
    (3865470566, 4294967296)
    """
    return round(keep * 2**32)


class Generator:
    """A seeded stream of host draws.

    Parameters
    ----------
    seed : int, "nnfs" or None
        An integer seeds a PCG64 generator (NumPy's default); ``"nnfs"`` selects the book's
        legacy stream (``np.random.seed(0)``); ``None`` draws fresh entropy from the OS.
    """

    def __init__(self, seed: int | str | None = 0):
        if isinstance(seed, str):
            if seed.lower() != NNFS:
                msg = f"seed must be an integer, 'nnfs' or None, got the string {seed!r}."
                raise ValueError(msg)
            self.nnfs = True
            self._legacy = np.random.RandomState(0)
            self._entropy = 0
        elif seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
            if seed is not None and seed < 0:
                msg = f"seed must be a non-negative integer, got {seed}."
                raise ValueError(msg)
            self.nnfs = False
            # what default_rng(seed) does, keeping the entropy (fresh from the OS for None)
            sequence = np.random.SeedSequence(None if seed is None else int(seed))
            self._pcg = np.random.default_rng(sequence)
            self._entropy = int(sequence.entropy)  # type: ignore[arg-type]
        else:
            msg = f"seed must be an integer, 'nnfs' or None, got {type(seed).__name__} {seed!r}."
            raise TypeError(msg)
        self.seed = seed
        self._keys = 0  # keys handed out by spawn_key

    @classmethod
    def numpy_global(cls) -> Generator:
        """The book's stream as ``nnfs.init()`` leaves it: NumPy's global legacy generator,
        seeded with 0 (``np.random.seed(0)``). A script's own ``np.random`` draws (chapter
        6's random search, chapter 19's ``np.random.shuffle``) then come from the same stream
        as the data, the weights and the masks, in the book's order."""
        np.random.seed(0)  # noqa: NPY002 (the book's global generator is the point)
        book = cls(NNFS)
        book._legacy = cast(np.random.RandomState, NUMPY_GLOBAL)  # its methods, global
        return book

    def __repr__(self) -> str:
        return f"Generator({self.seed!r})"

    def randn(self, *shape: int) -> np.ndarray:
        """Standard normal float32 draws of ``shape`` (the book's ``np.random.randn``)."""
        if self.nnfs:
            return self._legacy.randn(*shape).astype(np.float32)
        return self._pcg.standard_normal(shape, dtype=np.float32)

    def rand(self, *shape: int) -> np.ndarray:
        """Uniform float64 draws on [0, 1) of ``shape`` (the book's ``np.random.rand``)."""
        if self.nnfs:
            return self._legacy.rand(*shape)
        return self._pcg.random(shape)

    def keep_mask(self, keep: float, shape: tuple[int, ...],
                  out: np.ndarray | None = None) -> np.ndarray:
        """A boolean dropout mask: True (keep the unit) with probability ``keep``.

        The probability is exact to 2**-32: a unit is kept when a 32-bit uniform draw is below
        ``round(keep * 2**32)``. The draw is made in two parts: a byte decides, unless it
        equals the threshold's top byte (probability 1/256), and only those ties draw the
        other 24 bits. That is the same comparison at an eighth of the random bits.
        The book's stream draws ``binomial(1, keep, shape)`` instead.

        ``out``, a C-contiguous boolean array of ``shape``, receives the mask if given.

        >>> mask = Generator(0).keep_mask(0.75, (400, 250))
        >>> mask.dtype, round(float(mask.mean()), 2)
        (dtype('bool'), 0.75)
        """
        if out is None:
            out = np.empty(shape, dtype=bool)
        elif out.shape != tuple(shape) or out.dtype != bool or not out.flags.c_contiguous:
            msg = (f"keep_mask needs out to be a C-contiguous bool array of shape {shape}, got "
                   f"{out.dtype} {out.shape}.")
            raise ValueError(msg)
        if self.nnfs:
            out[...] = self._legacy.binomial(1, keep, size=shape)
            return out
        mask = out.reshape(-1)
        n = mask.size
        threshold = keep_threshold(keep)
        if threshold >= 2**32:  # keep within 2**-33 of 1: every unit is kept
            mask[...] = True
            return out
        top, rest = np.uint8(threshold >> 24), np.uint32(threshold & 0xFFFFFF)
        raw = self._pcg.bit_generator.random_raw
        ties = []
        # in chunks (a multiple of 8 bytes: the stream is the same as one big draw), so the
        # random bits never take more memory than a chunk
        for start in range(0, n, _MASK_CHUNK):
            stop = min(start + _MASK_CHUNK, n)
            draws = raw((stop - start + 7) // 8).view(np.uint8)[:stop - start]
            np.less(draws, top, out=mask[start:stop])
            ties.append(np.flatnonzero(draws == top) + start)
        tied = np.concatenate(ties)
        if tied.size:
            mask[tied] = (raw((tied.size + 1) // 2).view(np.uint32)[:tied.size] >> 8) < rest
        return out

    def dropout_mask(self, keep: float, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        """An inverted-dropout mask: ``1 / keep`` with probability ``keep``, else 0.

        The book's stream computes ``np.random.binomial(1, keep, shape) / keep`` (float64,
        then cast to ``dtype``); other streams scale :meth:`keep_mask` (the same draws).
        """
        if self.nnfs:
            return (self._legacy.binomial(1, keep, size=shape) / keep).astype(dtype, copy=False)
        return self.keep_mask(keep, shape) * np.dtype(dtype).type(1 / keep)

    def permutation(self, n: int) -> np.ndarray:
        """A random permutation of ``range(n)`` (int64), for shuffling mini-batches."""
        if self.nnfs:
            return self._legacy.permutation(n)
        return self._pcg.permutation(n)

    def spawn_key(self) -> int:
        """A 64-bit key for a counter-based stream (:mod:`xpnet.philox`), derived from the
        seed: the ``n``-th call returns the ``n``-th key of this seed. Nothing is drawn, so
        the stream's draws (data, weights, shuffles) are the same whether keys are taken or
        not.

        The key is two words of ``SeedSequence(entropy, spawn_key=("DROP", nnfs, n))``, the
        entropy being the integer seed (the OS's entropy for ``None``, 0 for ``"nnfs"``).

        >>> a, b = Generator(7), Generator(7)
        >>> a.spawn_key() == b.spawn_key(), a.spawn_key() == b.spawn_key() != a.spawn_key()
        (True, True)
        >>> a.randn(2).tolist() == Generator(7).randn(2).tolist()
        True
        """
        n = self._keys
        self._keys += 1
        sequence = np.random.SeedSequence(self._entropy,
                                          spawn_key=(_KEY_DOMAIN, int(self.nnfs), n))
        low, high = (int(w) for w in sequence.generate_state(2, np.uint32))
        return low | high << 32

    def dropout_stream(self) -> DropoutStream:
        """A Dropout layer's masks: this stream, and a counter-based one of its own keyed by
        :meth:`spawn_key`."""
        return DropoutStream(self, self.spawn_key())

    # -- state, so that a saved model resumes the same stream -------------------------
    def get_state(self) -> dict:
        """A JSON-serialisable snapshot of the stream."""
        spawned = {"entropy": self._entropy, "spawned": self._keys}
        if self.nnfs:
            kind, keys, pos, has_gauss, cached = cast(tuple, self._legacy.get_state(legacy=True))
            return {
                "kind": kind, "keys": keys.tolist(), "pos": int(pos),
                "has_gauss": int(has_gauss), "cached_gaussian": float(cached), "nnfs": True,
                "counter_keys": spawned,
            }
        state = self._pcg.bit_generator.state
        return {"pcg64": state, "nnfs": False, "counter_keys": spawned}

    def set_state(self, state: dict) -> None:
        """Restore a snapshot taken by :meth:`get_state`.

        A snapshot from before counter-based keys existed has no ``"counter_keys"``: its keys
        then derive from the stream's state itself (0 for the book's)."""
        if state.get("nnfs"):
            # in place: a stream shared with NumPy's global generator stays shared
            if not self.nnfs:
                self._legacy = np.random.RandomState(0)
            self.nnfs = True
            self._legacy.set_state((
                state["kind"], np.asarray(state["keys"], dtype=np.uint32), state["pos"],
                state["has_gauss"], state["cached_gaussian"],
            ))
            entropy = 0
        else:
            self.nnfs = False
            self._pcg = np.random.default_rng()
            self._pcg.bit_generator.state = state["pcg64"]
            entropy = int(state["pcg64"]["state"]["state"])
        spawned = state.get("counter_keys") or {}
        self._entropy = int(spawned.get("entropy", entropy))
        self._keys = int(spawned.get("spawned", 0))


class _NumpyGlobal:
    """NumPy's global legacy generator (the one ``np.random.seed`` seeds) with the methods
    of a ``RandomState``; a copy of it is a ``RandomState`` of its own, in its state."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np.random, name)

    def __deepcopy__(self, memo: dict[int, Any]) -> np.random.RandomState:
        copy = np.random.RandomState(0)
        copy.set_state(np.random.get_state())  # noqa: NPY002 (the global one, copied)
        return copy


#: The one view of NumPy's global generator (a deep copy that should share the global
#: stream, as the book's objects do, puts it in the memo: ``xpnet.book``)
NUMPY_GLOBAL = _NumpyGlobal()


class DropoutStream:
    """Where one Dropout layer's masks come from: the model's host stream, shared with every
    other draw of the model, and a counter-based stream of the layer's own (a 64-bit key from
    the seed and the number of masks drawn from it so far).

    The engine decides which one a mask is drawn from (``Model(dropout_masks=...)``); the
    host draws delegate to :attr:`host`. :meth:`get_state` and :meth:`set_state` cover both,
    so rewinding a layer's stream (``xpnet gradcheck`` does) draws the same mask again.

    Parameters
    ----------
    host : Generator
        The model's stream.
    key : int
        The counter-based stream's key (:meth:`Generator.spawn_key`).
    position : int
        How many masks the counter-based stream has drawn.

    Examples
    --------
    >>> stream = Generator(0).dropout_stream()
    >>> key, position = stream.next_counter()
    >>> position, stream.next_counter() == (key, 1)
    (0, True)
    """

    def __init__(self, host: Generator, key: int, position: int = 0):
        self.host = host
        self.key = int(key)
        self.position = int(position)

    def __repr__(self) -> str:
        return f"DropoutStream({self.host!r}, key={self.key:#018x}, position={self.position})"

    @property
    def nnfs(self) -> bool:
        return self.host.nnfs

    def keep_mask(self, keep: float, shape: tuple[int, ...],
                  out: np.ndarray | None = None) -> np.ndarray:
        """The host stream's :meth:`Generator.keep_mask`."""
        return self.host.keep_mask(keep, shape, out=out)

    def dropout_mask(self, keep: float, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        """The host stream's :meth:`Generator.dropout_mask`."""
        return self.host.dropout_mask(keep, shape, dtype)

    def next_counter(self) -> tuple[int, int]:
        """The key and position of the next counter-based mask; moves the position on."""
        position = self.position
        self.position += 1
        return self.key, position

    def get_state(self) -> dict:
        """The host stream's state and this stream's key and position."""
        return {"host": self.host.get_state(), "key": self.key, "position": self.position}

    def set_state(self, state: dict) -> None:
        """Restore a snapshot taken by :meth:`get_state`."""
        self.host.set_state(state["host"])
        self.key, self.position = int(state["key"]), int(state["position"])


def parse_seed(text: str) -> int | str:
    """Read a seed from the command line: ``"nnfs"`` or a non-negative integer.

    >>> parse_seed("NNFS"), parse_seed("42")
    ('nnfs', 42)
    """
    if text.strip().lower() == NNFS:
        return NNFS
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        msg = f"expected 'nnfs' or a non-negative integer, got {text!r}"
        raise ValueError(msg)
    return value


SeedLike = Union[int, str, Generator, None]  # noqa: UP007 (a runtime alias on Python 3.10)


def as_generator(seed: SeedLike) -> Generator:
    """Return ``seed`` if it is a :class:`Generator`, else a new one seeded with it."""
    if isinstance(seed, Generator):
        return seed
    return Generator(seed)
