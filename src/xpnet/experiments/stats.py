r"""Means, spreads and 95% confidence intervals over repeated runs.

A study repeats each setting over seeds; :func:`summarize` turns the per-seed values of one
quantity into ``Summary(n, mean, sd, ci_low, ci_high, excluded)`` with the Student-t
interval

.. math::  \bar x \pm t_{0.975,\,n-1}\, s / \sqrt n,

where :math:`s` is the sample standard deviation (``ddof=1``) and the quantile
:math:`t_{0.975,\,n-1}` is SciPy's (``scipy.stats.t.ppf(0.975, n - 1)``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["Summary", "compare", "fmt", "summarize", "t_quantile"]


def t_quantile(df: int | float) -> float:
    """Student's t 0.975 quantile with ``df`` degrees of freedom (two-sided 95%).

    >>> round(t_quantile(2), 4), round(t_quantile(9), 4)
    (4.3027, 2.2622)
    """
    if not df >= 1:
        msg = (f"t_quantile needs at least 1 degree of freedom (n - 1 for a mean of n "
               f"values), got {df}; a CI needs two or more values.")
        raise ValueError(msg)
    return float(stats.t.ppf(0.975, df))


class Summary(NamedTuple):
    """A quantity over repeated runs: count, mean, sample sd and 95% CI of the mean.

    ``excluded`` counts the values left out because they were NaN or infinite. With one
    value, ``sd`` and the CI are NaN; with none, everything but the counts is NaN.
    """

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    excluded: int = 0

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2


def summarize(values: Iterable[float]) -> Summary:
    """Mean, sd and Student-t 95% CI of the finite ``values`` (NaN and ±inf left out).

    Parameters
    ----------
    values : iterable of float
        One value per run (per seed).

    Returns
    -------
    Summary
        ``Summary(n, mean, sd, ci_low, ci_high, excluded)``.

    Examples
    --------
    >>> s = summarize([0.70, 0.74, 0.72, float("nan")])
    >>> s.n, s.excluded, round(s.mean, 3), round(s.sd, 3)
    (3, 1, 0.72, 0.02)
    >>> round(s.ci_low, 4), round(s.ci_high, 4)  # 0.72 -+ 4.3027 * 0.02 / sqrt(3)
    (0.6703, 0.7697)
    >>> summarize([]).n, summarize([1.0]).ci_low
    (0, nan)
    """
    xs = np.asarray([float(v) for v in values], dtype=np.float64)
    finite = xs[np.isfinite(xs)]
    n = len(finite)
    m = float(finite.mean()) if n else math.nan
    if n < 2:
        return Summary(n, m, math.nan, math.nan, math.nan, len(xs) - n)
    sd = float(finite.std(ddof=1))
    h = t_quantile(n - 1) * sd / math.sqrt(n)
    return Summary(n, m, sd, m - h, m + h, len(xs) - n)


def compare(a: Summary, b: Summary) -> str:
    """``"higher"`` / ``"lower"`` when ``b``'s CI lies wholly above / below ``a``'s,
    ``"overlap"`` when they overlap (the difference is within the noise), ``"unknown"``
    when either has no CI (fewer than two runs).

    Non-overlapping 95% CIs is a conservative test: it rarely calls a difference that is
    not there, and may miss a small one that is.

    >>> compare(summarize([0.5, 0.52, 0.51]), summarize([0.8, 0.82, 0.81]))
    'higher'
    >>> compare(summarize([0.5, 0.6]), summarize([0.55, 0.65]))
    'overlap'
    """
    if any(math.isnan(x) for x in (a.ci_low, a.ci_high, b.ci_low, b.ci_high)):
        return "unknown"
    if b.ci_low > a.ci_high:
        return "higher"
    if b.ci_high < a.ci_low:
        return "lower"
    return "overlap"


def fmt(s: Summary, digits: int = 3) -> str:
    """``"mean [ci_low, ci_high]"`` rounded to ``digits``; ``"mean (1 run)"`` without a CI,
    ``"n/a"`` without values.

    >>> fmt(summarize([0.70, 0.74, 0.72]))
    '0.720 [0.670, 0.770]'
    >>> fmt(summarize([0.7])), fmt(summarize([]))
    ('0.700 (1 run)', 'n/a')
    """
    if s.n == 0:
        return "n/a"
    if math.isnan(s.ci_low):
        return f"{s.mean:.{digits}f} ({s.n} run)"
    return f"{s.mean:.{digits}f} [{s.ci_low:.{digits}f}, {s.ci_high:.{digits}f}]"
