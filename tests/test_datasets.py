"""Datasets: shapes, dtypes, labels, and identical values on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from _util import host
from xpnet import datasets


@pytest.mark.parametrize("make", [datasets.spiral, datasets.vertical])
def test_classification_data_is_the_same_on_every_backend(backend, make):
    X, y = make(20, 4, seed=3, backend=backend)
    Xn, _ = make(20, 4, seed=3)
    assert X.shape == (80, 2) and y.shape == (80,)
    assert X.dtype == backend.xp.float32 and y.dtype == backend.xp.int64
    np.testing.assert_array_equal(host(X), Xn)
    np.testing.assert_array_equal(host(y), np.repeat(np.arange(4), 20))


def test_spiral_geometry():
    X, _ = datasets.spiral(100, 3, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[:100], np.linspace(0, 1, 100), atol=1e-6)


@pytest.mark.parametrize("samples", [2, 10, 1000])
def test_every_book_spiral_holds_the_origin_once_per_class_and_iid_ones_do_not(samples):
    """What the lab's report says of small test sets (sections.origin_note)."""
    X, y = datasets.spiral(samples, 3, seed=7)
    at_origin = np.flatnonzero((X[:, 0] == 0) & (X[:, 1] == 0))
    assert y[at_origin].tolist() == [0, 1, 2]
    X, _ = datasets.spiral(samples, 3, seed=7, iid=True)
    assert not ((X[:, 0] == 0) & (X[:, 1] == 0)).any()


def test_sine_values_and_dtype(backend):
    X, y = datasets.sine(8, backend=backend)
    np.testing.assert_allclose(host(y)[:, 0], np.sin(2 * np.pi * np.arange(8) / 8), atol=1e-6)
    assert X.shape == y.shape == (8, 1) and X.dtype == backend.xp.float32


@pytest.mark.parametrize(("bad", "error", "pattern"), [
    (0, ValueError, "samples must be a positive integer, got 0"),
    (-3, ValueError, "samples must be a positive integer"),
    (2.5, TypeError, "samples must be an integer, got 2.5 .a float.; pass a whole number"),
])
def test_bad_counts_are_refused(bad, error, pattern):
    with pytest.raises(error, match=pattern):
        datasets.spiral(bad, 3)
