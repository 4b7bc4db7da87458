"""Randomness policy: explicit, seeded, host-side streams.

The Array API standard has no random numbers, so every draw in xpnet (initial weights,
data, dropout masks, shuffling) comes from a :class:`Generator` that the caller passes in
(or that a seed creates). Draws happen on the host with NumPy and are moved to the device
once, so the same seed gives identical data and initial weights on every backend.

``Generator("nnfs")`` is the book's stream: what ``nnfs.init()`` sets up, i.e. NumPy's
legacy generator seeded with 0, standard normals cast to float32. One such stream shared
by the data and the model reproduces the book's draw order (data, then each Dense layer's
weights in construction order, then one dropout mask per training forward pass).

>>> rng = Generator("nnfs")
>>> rng.randn(2).tolist()  # np.random.seed(0); np.random.randn(2).astype("float32")
[1.764052391052246, 0.40015721321105957]
"""

from __future__ import annotations

from typing import Union, cast

import numpy as np

__all__ = ["NNFS", "Generator", "SeedLike", "as_generator", "parse_seed"]

#: The seed value that selects the book-compatible stream.
NNFS = "nnfs"


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
        elif seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
            if seed is not None and seed < 0:
                msg = f"seed must be a non-negative integer, got {seed}."
                raise ValueError(msg)
            self.nnfs = False
            self._pcg = np.random.default_rng(seed)
        else:
            msg = f"seed must be an integer, 'nnfs' or None, got {type(seed).__name__} {seed!r}."
            raise TypeError(msg)
        self.seed = seed

    def __repr__(self) -> str:
        return f"Generator({self.seed!r})"

    def randn(self, *shape: int) -> np.ndarray:
        """Standard normal float32 draws of ``shape`` (the book's ``np.random.randn``)."""
        if self.nnfs:
            return self._legacy.randn(*shape).astype(np.float32)
        return self._pcg.standard_normal(shape, dtype=np.float32)

    def dropout_mask(self, keep: float, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        """An inverted-dropout mask: ``1 / keep`` with probability ``keep``, else 0.

        The book's stream computes ``np.random.binomial(1, keep, shape) / keep`` (float64,
        then cast to ``dtype``). Other streams compare raw 32-bit draws with
        ``keep * 2**32`` (probability exact to 2**-32), about 10x faster than the binomial.
        """
        if self.nnfs:
            return (self._legacy.binomial(1, keep, size=shape) / keep).astype(dtype, copy=False)
        n = int(np.prod(shape))
        threshold = round(keep * 2**32)
        if threshold >= 2**32:  # keep within 2**-33 of 1: every unit is kept
            return np.full(shape, 1 / keep, dtype=dtype)
        bits = self._pcg.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
        return ((bits < np.uint32(threshold)) * np.dtype(dtype).type(1 / keep)).reshape(shape)

    def permutation(self, n: int) -> np.ndarray:
        """A random permutation of ``range(n)`` (int64), for shuffling mini-batches."""
        if self.nnfs:
            return self._legacy.permutation(n)
        return self._pcg.permutation(n)

    def spawn_seed(self) -> int:
        """A fresh integer seed drawn from this stream (for child generators)."""
        if self.nnfs:
            return int(self._legacy.randint(0, 2**31 - 1))
        return int(self._pcg.integers(0, 2**63 - 1))

    # -- state, so that a saved model resumes the same stream -------------------------
    def get_state(self) -> dict:
        """A JSON-serialisable snapshot of the stream."""
        if self.nnfs:
            kind, keys, pos, has_gauss, cached = cast(tuple, self._legacy.get_state(legacy=True))
            return {
                "kind": kind, "keys": keys.tolist(), "pos": int(pos),
                "has_gauss": int(has_gauss), "cached_gaussian": float(cached), "nnfs": True,
            }
        state = self._pcg.bit_generator.state
        return {"pcg64": state, "nnfs": False}

    def set_state(self, state: dict) -> None:
        """Restore a snapshot taken by :meth:`get_state`."""
        if state.get("nnfs"):
            self.nnfs = True
            self._legacy = np.random.RandomState(0)
            self._legacy.set_state((
                state["kind"], np.asarray(state["keys"], dtype=np.uint32), state["pos"],
                state["has_gauss"], state["cached_gaussian"],
            ))
        else:
            self.nnfs = False
            self._pcg = np.random.default_rng()
            self._pcg.bit_generator.state = state["pcg64"]


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
