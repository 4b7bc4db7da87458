"""Hypothesis strategies shared by the property tests. Values are drawn on the host (NumPy)
and moved to a backend once."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

batch_sizes = st.integers(1, 6)
features = st.integers(1, 5)
classes = st.integers(2, 5)
strengths = st.one_of(st.just(0.0), st.floats(1e-3, 0.5))
seeds = st.integers(0, 2**16)


def matrices(rows, cols, low=-3.0, high=3.0):
    """float64 matrices of the given shape with moderate values."""
    return arrays(np.float64, (rows, cols),
                  elements=st.floats(low, high, allow_nan=False, allow_infinity=False))


@st.composite
def shaped(draw, low=-3.0, high=3.0):
    """A (batch, features) float64 matrix of random shape."""
    return draw(matrices(draw(batch_sizes), draw(features), low, high))


@st.composite
def logits_and_labels(draw, scale=5.0):
    n, k = draw(batch_sizes), draw(classes)
    logits = draw(matrices(n, k, -scale, scale))
    labels = draw(arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    return logits, labels
