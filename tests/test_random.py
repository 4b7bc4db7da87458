"""The randomness policy: seeded host streams, the book's stream, state round trips."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet.random import Generator, as_generator


def test_nnfs_stream_is_the_books_legacy_generator():
    rng = Generator("nnfs")
    legacy = np.random.RandomState(0)
    np.testing.assert_array_equal(rng.randn(3, 2), legacy.randn(3, 2).astype(np.float32))
    mask = rng.dropout_mask(0.9, (4, 5), "float64")
    np.testing.assert_array_equal(mask, legacy.binomial(1, 0.9, size=(4, 5)) / 0.9)


def test_integer_seeds_are_reproducible_and_distinct():
    a, b, c = Generator(7), Generator(7), Generator(8)
    np.testing.assert_array_equal(a.randn(5), b.randn(5))
    assert not np.array_equal(Generator(7).randn(5), c.randn(5))
    assert a.randn(2).dtype == np.float32


def test_default_dropout_mask_has_the_right_rate_and_scale():
    mask = Generator(0).dropout_mask(0.75, (400, 250), "float32")
    assert mask.dtype == np.float32 and mask.shape == (400, 250)
    assert set(np.unique(mask).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert abs((mask > 0).mean() - 0.75) < 0.005
    ones = Generator(0).dropout_mask(1.0, (2, 3), "float32")
    np.testing.assert_array_equal(ones, np.ones((2, 3)))


def test_keep_mask_resolves_ties_of_the_top_byte_with_the_other_bits():
    # keep = 1 - 2**-17: the threshold's top byte is 0xFF and its other 24 bits 0xFF8000, so
    # a unit is dropped only when its byte ties (1/256) AND its other bits are >= 0xFF8000
    # (2**-9). Deciding on the byte alone would drop 1/256 of the units (or none).
    n = 2**24
    drops = int(n - np.count_nonzero(Generator(5).keep_mask(1 - 2**-17, (n,))))
    assert 70 <= drops <= 190  # expected 128, sd ~11
    scaled = Generator(5).dropout_mask(0.5, (3, 4), "float32")
    np.testing.assert_array_equal(scaled, Generator(5).keep_mask(0.5, (3, 4)) * np.float32(2))


@pytest.mark.parametrize("seed", [3, "nnfs"])
def test_state_round_trip_continues_the_stream(seed):
    rng = Generator(seed)
    rng.randn(10)
    state = rng.get_state()
    expected = rng.randn(4)
    other = Generator(0)
    other.set_state(state)
    np.testing.assert_array_equal(other.randn(4), expected)


def test_bad_seeds_are_refused():
    with pytest.raises(ValueError, match="seed must be an integer, 'nnfs' or None"):
        Generator("book")
    with pytest.raises(ValueError, match="non-negative"):
        Generator(-1)
    with pytest.raises(TypeError, match="seed must be"):
        Generator(1.5)
    rng = Generator(1)
    assert as_generator(rng) is rng


@pytest.mark.parametrize("keep", [1 - 1e-12, 1e-12, 0.5])
def test_dropout_mask_extreme_keep_probabilities(keep):
    mask = Generator(0).dropout_mask(keep, (10, 10), "float64")
    assert mask.shape == (10, 10)
    assert set(np.unique(mask).tolist()) <= {0.0, 1 / keep}


def test_keep_mask_draws_in_chunks_without_changing_the_stream(monkeypatch):
    import xpnet.random

    whole = Generator(11).keep_mask(0.6, (37, 29))
    monkeypatch.setattr(xpnet.random, "_MASK_CHUNK", 16)
    np.testing.assert_array_equal(Generator(11).keep_mask(0.6, (37, 29)), whole)
    out = np.empty((37, 29), dtype=bool)
    assert Generator(11).keep_mask(0.6, (37, 29), out=out) is out
    np.testing.assert_array_equal(out, whole)
    with pytest.raises(ValueError, match="C-contiguous bool array of shape"):
        Generator(11).keep_mask(0.6, (37, 29), out=np.empty((29, 37), dtype=bool))
