r"""Means, spreads and 95% confidence intervals over repeated runs.

A study repeats each setting over seeds; :func:`summarize` turns the per-seed values of one
quantity into ``Summary(n, mean, sd, ci_low, ci_high, excluded)`` with the Student-t
interval

.. math::  \bar x \pm t_{0.975,\,n-1}\, s / \sqrt n,

where :math:`s` is the sample standard deviation (``ddof=1``) and the quantile
:math:`t_{0.975,\,n-1}` is SciPy's (``scipy.stats.t.ppf(0.975, n - 1)``).

Two settings run on the same seeds share their training data and initial weights, so they
are compared seed by seed (:func:`paired`): the differences :math:`d_i = b_i - a_i` get the
interval above, a two-sided t-test p-value, and the smallest difference the design could
have detected (:func:`detectable`). A scan over neighbouring settings corrects its p-values
with Holm's method (:func:`holm`). For accuracy measured on a test set, :func:`binomial_sd`
is the spread of an estimate from ``n`` independent samples and :func:`samples_for_margin`
the number of samples a given 95% margin needs. Two spreads, each a standard deviation
pooled over some degrees of freedom, are compared by their ratio with the F distribution
(:func:`spread_ratio`): a 95% CI for the ratio of the true sds, a two-sided p-value, and the
smallest ratios the design could have detected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from scipy import optimize, stats

__all__ = ["Paired", "SpreadRatio", "Summary", "binomial_interval", "binomial_sd", "compare",
           "detectable", "fmt", "fmt_p", "holm", "paired", "range_of", "samples_for_margin",
           "spread_ratio", "summarize", "summarize_as", "t_quantile"]


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


#: What a quantity can be, by the words in its name: a rate (an accuracy, a fraction of
#: units or weights) in [0, 1], a loss or a size >= 0; a difference or a gain has no bound.
_UNBOUNDED = ("bias", "gain", "minus", "gap", "overfit", "diff")
_RATES = ("acc", "dead", "small", "zero", "fraction")
_NON_NEGATIVE = ("loss", "mean_abs")


def range_of(name: str) -> tuple[float, float] | None:
    """The values quantity ``name`` can take, to clip its CI to; None when unbounded.

    >>> range_of("val_acc"), range_of("loss"), range_of("acc_bias")
    ((0.0, 1.0), (0.0, inf), None)
    """
    if any(word in name for word in _UNBOUNDED):
        return None
    if any(word in name for word in _RATES):
        return (0.0, 1.0)
    if any(word in name for word in _NON_NEGATIVE):
        return (0.0, math.inf)
    return None


def summarize(values: Iterable[float], within: tuple[float, float] | None = None) -> Summary:
    """Mean, sd and Student-t 95% CI of the finite ``values`` (NaN and ±inf left out).

    Parameters
    ----------
    values : iterable of float
        One value per run (per seed).
    within : (low, high), optional
        The values the quantity can take (:func:`range_of`): the CI is clipped to them, so
        that an accuracy's interval never passes 1 nor a loss's 0, as the t-interval of a few
        runs otherwise can.

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
    low, high = m - h, m + h
    if within is not None:
        low, high = max(low, within[0]), min(high, within[1])
    return Summary(n, m, sd, low, high, len(xs) - n)


def summarize_as(name: str, values: Iterable[float]) -> Summary:
    """:func:`summarize` of quantity ``name``, its CI clipped to :func:`range_of` it."""
    return summarize(values, range_of(name))


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


def fmt_p(p: float) -> str:
    """A p-value as it follows "p": ``= 0.015``, ``< 0.001``, or ``n/a`` (NaN).

    >>> fmt_p(0.01534), fmt_p(2e-5), fmt_p(float("nan"))
    ('= 0.015', '< 0.001', 'n/a')
    """
    return "n/a" if math.isnan(p) else f"= {p:.3f}" if p >= 0.001 else "< 0.001"


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


# -- paired comparisons ----------------------------------------------------------------------
class Paired(NamedTuple):
    """``b - a`` seed by seed: the differences' summary, the t-test p-value and the
    minimum detectable difference (``mde``, see :func:`detectable`)."""

    diff: Summary
    p: float
    mde: float


def detectable(sd: float, n: int, *, power: float = 0.8, alpha: float = 0.05) -> float:
    r"""The smallest true mean difference a paired t-test on ``n`` seeds detects with
    probability ``power`` at two-sided level ``alpha``, when the per-seed differences have
    standard deviation ``sd``.

    Solves :math:`P(|T| > t_{1-\alpha/2,\,n-1}) = \text{power}` for :math:`\delta`, where
    :math:`T` is noncentral t with :math:`n-1` degrees of freedom and noncentrality
    :math:`\delta\sqrt n / sd` (SciPy's ``nct``). The normal approximation
    :math:`(z_{1-\alpha/2} + z_{\text{power}})\, sd/\sqrt n = 2.80\, sd/\sqrt n`
    is too small for few seeds; the exact value is larger.

    >>> round(detectable(1.0, 10), 3)  # G*Power, one-sample t, n = 10: d = 0.996
    0.996
    >>> round(detectable(1.0, 10_000) * 100, 2)  # -> 2.80 / sqrt(n)
    2.8
    >>> detectable(1.0, 1)
    nan
    """
    if n < 2 or not math.isfinite(sd):
        return math.nan
    if sd == 0:
        return 0.0
    df = n - 1
    crit = float(stats.t.ppf(1 - alpha / 2, df))

    def shortfall(d: float) -> float:  # d: the difference in units of sd
        nc = d * math.sqrt(n)
        # the far lower tail is negligible, and SciPy's nct.cdf can return NaN out there
        lower = float(np.nan_to_num(stats.nct.cdf(-crit, df, nc)))
        return float(stats.nct.sf(crit, df, nc)) + lower - power

    hi = 2 * (crit + float(stats.t.ppf(power, df))) / math.sqrt(n)
    while shortfall(hi) < 0:
        hi *= 2
    return sd * float(optimize.brentq(shortfall, 0.0, hi, xtol=1e-12))


def paired(a: Iterable[float], b: Iterable[float]) -> Paired:
    """Compare ``b`` with ``a`` seed by seed (``a[i]`` and ``b[i]`` share seed ``i``).

    Pairs where either value is NaN or infinite (a diverged run) are left out and counted
    in ``diff.excluded``. The p-value is the two-sided paired t-test's, computed as
    ``2 t.sf(|mean| / (sd / sqrt n), n - 1)`` (NaN with fewer than two pairs; 1 or 0 when
    every difference is the same).

    >>> r = paired([0.70, 0.72, 0.75], [0.74, 0.75, 0.80])  # differences .04, .03, .05
    >>> round(r.diff.mean, 3), round(r.diff.sd, 3), round(r.p, 4)
    (0.04, 0.01, 0.0202)
    >>> round(r.diff.ci_low, 4), round(r.diff.ci_high, 4)  # .04 -+ 4.3027 * .01 / sqrt(3)
    (0.0152, 0.0648)
    """
    xa = np.asarray([float(v) for v in a], dtype=np.float64)
    xb = np.asarray([float(v) for v in b], dtype=np.float64)
    if xa.shape != xb.shape:
        msg = (f"paired needs one value of each setting per seed, got {len(xa)} and "
               f"{len(xb)} values; pass both settings' values in the same seed order.")
        raise ValueError(msg)
    d = xb - xa
    diff = summarize(d)
    ok = d[np.isfinite(d)]
    if diff.n < 2:
        p = math.nan
    elif diff.sd == 0:
        p = 1.0 if diff.mean == 0 else 0.0
    else:
        t = abs(diff.mean) / (diff.sd / math.sqrt(diff.n))
        p = float(2 * stats.t.sf(t, diff.n - 1))
    return Paired(diff, p, detectable(diff.sd, len(ok)))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN kept as NaN, left out of the count).

    Sorted ascending, the i-th smallest of m p-values is multiplied by m - i + 1, capped
    at 1 and made non-decreasing; a difference survives at 5% when its adjusted p < 0.05.
    This controls the chance of any false "difference" in the family at 5%.

    >>> [round(q, 4) for q in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, math.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled) if m else scaled
    return [float(q) for q in out]


# -- accuracy on a test set ------------------------------------------------------------------
def binomial_sd(p: float, n: int) -> float:
    """The sd of an accuracy measured on ``n`` independent samples, each right with
    probability ``p``: ``sqrt(p (1 - p) / n)`` (a binomial count over n).

    >>> round(binomial_sd(0.9, 300), 4)
    0.0173
    """
    return float(stats.binom.std(n, p)) / n


def samples_for_margin(p: float, margin: float = 0.01, confidence: float = 0.95) -> int:
    """Independent test samples for an accuracy estimate within ``±margin`` at
    ``confidence``: ``n = z^2 p (1 - p) / margin^2`` rounded up, ``z`` the normal quantile
    (1.96 at 95%).

    >>> samples_for_margin(0.5), samples_for_margin(0.9)
    (9604, 3458)
    """
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    return math.ceil(z * z * p * (1 - p) / margin**2 - 1e-9)


def binomial_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) ``confidence`` interval of a probability seen ``k``
    times in ``n`` independent tries: how often a setting fails, from ``k`` failed runs of
    ``n``. One try leaves almost everything open.

    >>> [round(x, 3) for x in binomial_interval(1, 1)]
    [0.025, 1.0]
    >>> [round(x, 3) for x in binomial_interval(3, 3)]
    [0.292, 1.0]
    """
    if not 0 <= k <= n or n < 1:
        msg = (f"binomial_interval needs 0 <= k <= n and n >= 1 (k successes of n tries), got "
               f"k={k!r}, n={n!r}.")
        raise ValueError(msg)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


# -- two spreads -----------------------------------------------------------------------------
class SpreadRatio(NamedTuple):
    """``sd_a / sd_b`` with the 95% CI of the true ratio, the F-test's two-sided p-value and
    the smallest true ratios below and above 1 the design detects (:func:`spread_ratio`)."""

    ratio: float
    ci_low: float
    ci_high: float
    p: float
    detectable_low: float
    detectable_high: float


def _detectable_above(df_a: float, df_b: float, power: float, alpha: float) -> float:
    """The true sd ratio ``> 1`` at which the two-sided F-test rejects with ``power``."""
    f = stats.f(df_a, df_b)
    lo, hi = float(f.ppf(alpha / 2)), float(f.ppf(1 - alpha / 2))

    def shortfall(r: float) -> float:  # r: the true variance ratio
        return float(f.sf(hi / r)) + float(f.cdf(lo / r)) - power

    top = 2 * hi / float(f.ppf(1 - power))
    while shortfall(top) < 0:
        top *= 2
    return math.sqrt(float(optimize.brentq(shortfall, 1.0, top, xtol=1e-12)))


def spread_ratio(sd_a: float, df_a: float, sd_b: float, df_b: float, *, power: float = 0.8,
                 alpha: float = 0.05) -> SpreadRatio:
    r"""Compare two standard deviations, each estimated with its degrees of freedom (a
    variance pooled over ``k`` groups of ``m`` values has ``k (m - 1)``), by the F-test.

    With normal data, :math:`F = (s_a^2 / s_b^2) / (\sigma_a^2 / \sigma_b^2)` follows the F
    distribution with ``(df_a, df_b)`` degrees of freedom (SciPy's ``stats.f``), so the 95%
    CI of the true ratio :math:`\sigma_a / \sigma_b` is
    :math:`\big[\sqrt{F_{obs} / F_{0.975}},\ \sqrt{F_{obs} / F_{0.025}}\big]`, and the
    two-sided p-value of "equal spreads" is :math:`2 \min(P(F \le F_{obs}), P(F \ge F_{obs}))`
    (capped at 1). ``detectable_high`` (``detectable_low``) is the true ratio above (below) 1
    the test detects with probability ``power`` at level ``alpha``. NaN throughout when an
    sd is not finite, ``sd_b`` is 0 or a df is below 1 or infinite.

    >>> r = spread_ratio(0.06, 6, 0.03, 6)  # 3 trials x 3 test sets each: 6 df apiece
    >>> round(r.ratio, 2), round(r.ci_low, 2), round(r.ci_high, 2), round(r.p, 3)
    (2.0, 0.83, 4.82, 0.116)
    >>> round(r.detectable_low, 2), round(r.detectable_high, 2)  # equal df: reciprocal
    (0.29, 3.46)
    >>> r = spread_ratio(0.06, 600, 0.05, 600)
    >>> round(r.ci_low, 3), round(r.ci_high, 3), r.p < 0.001
    (1.108, 1.3, True)
    """
    nan = SpreadRatio(*[math.nan] * 6)
    if not (math.isfinite(sd_a) and math.isfinite(sd_b) and sd_b > 0
            and 1 <= df_a < math.inf and 1 <= df_b < math.inf):
        return nan
    f = stats.f(df_a, df_b)
    obs = (sd_a / sd_b) ** 2
    p = min(1.0, 2 * min(float(f.cdf(obs)), float(f.sf(obs))))
    return SpreadRatio(sd_a / sd_b, math.sqrt(obs / float(f.ppf(1 - alpha / 2))),
                       math.sqrt(obs / float(f.ppf(alpha / 2))), p,
                       1 / _detectable_above(df_b, df_a, power, alpha),
                       _detectable_above(df_a, df_b, power, alpha))
