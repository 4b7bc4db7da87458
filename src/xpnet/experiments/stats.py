r"""Means, spreads and 95% confidence intervals over repeated runs (no SciPy).

A study repeats each setting over seeds; :func:`summarize` turns the per-seed values of one
quantity into ``Summary(n, mean, sd, ci_low, ci_high, excluded)`` with the Student-t
interval

.. math::  \bar x \pm t_{0.975,\,n-1}\, s / \sqrt n,

where :math:`s` is the sample standard deviation (``ddof=1``). The quantile
:math:`t_{0.975,\mathrm{df}}` comes from a table for ``df`` 1..30 (four decimals, checked
against the integrated t density) and, beyond, from the Cornish-Fisher series in
``1/df`` around the normal quantile 1.95996 (error below 1e-5 for ``df > 30``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["Summary", "ci_half_width", "compare", "fmt", "mean", "sd", "summarize",
           "t_quantile"]

#: t_{0.975, df} for df = 1..30 (two-sided 95%), four decimals.
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
         2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
         2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
#: The standard normal's 0.975 quantile, the limit of t_{0.975, df} as df grows.
_Z975 = 1.959963984540054


def t_quantile(df: int) -> float:
    """Student's t 0.975 quantile with ``df`` degrees of freedom (two-sided 95%).

    Parameters
    ----------
    df : int
        Degrees of freedom, at least 1 (``n - 1`` for a mean of ``n`` values).

    Returns
    -------
    float
        From a table for ``df <= 30``; beyond, the Cornish-Fisher expansion
        ``z + g1(z)/df + g2(z)/df**2 + g3(z)/df**3 + g4(z)/df**4`` with ``z = 1.95996``.

    Examples
    --------
    >>> t_quantile(2), t_quantile(9)
    (4.3027, 2.2622)
    >>> round(t_quantile(120), 3)
    1.98
    """
    if df < 1:
        msg = f"t_quantile needs at least 1 degree of freedom, got {df}."
        raise ValueError(msg)
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; NaN for no values.

    >>> mean([1.0, 2.0, 6.0])
    3.0
    """
    xs = list(values)
    return math.fsum(xs) / len(xs) if xs else math.nan


def sd(values: Iterable[float]) -> float:
    """Sample standard deviation ``sqrt(sum((x - mean)**2) / (n - 1))``; NaN for n < 2.

    >>> sd([1.0, 2.0, 6.0])
    2.6457513110645907
    """
    xs = list(values)
    if len(xs) < 2:
        return math.nan
    m = mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def ci_half_width(values: Iterable[float]) -> float:
    """Half-width of the 95% CI of the mean, ``t_{0.975,n-1} * sd / sqrt(n)``; NaN for n < 2.

    >>> round(ci_half_width([1.0, 2.0, 6.0]), 4)  # 4.3027 * 2.6458 / sqrt(3)
    6.5725
    """
    xs = list(values)
    if len(xs) < 2:
        return math.nan
    return t_quantile(len(xs) - 1) * sd(xs) / math.sqrt(len(xs))


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
    xs = [float(v) for v in values]
    finite = [x for x in xs if math.isfinite(x)]
    m = mean(finite)
    h = ci_half_width(finite)
    return Summary(len(finite), m, sd(finite), m - h, m + h, len(xs) - len(finite))


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
