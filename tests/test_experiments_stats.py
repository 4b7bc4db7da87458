"""The lab's paired comparisons, Holm correction, detectable differences and binomial rules,
checked against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from xpnet.datasets import spiral
from xpnet.experiments.stats import (
    binomial_interval,
    binomial_sd,
    detectable,
    holm,
    paired,
    samples_for_margin,
    spread_ratio,
)


def test_paired_matches_hand_computation():
    a = [0.80, 0.82, 0.78, 0.85, 0.81]
    b = [0.83, 0.82, 0.82, 0.88, 0.86]
    d = [0.03, 0.00, 0.04, 0.03, 0.05]  # b - a, seed by seed
    mean = sum(d) / 5
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 4)
    h = 2.7764451051977987 * sd / math.sqrt(5)  # t(0.975, 4)
    t = mean / (sd / math.sqrt(5))
    r = paired(a, b)
    assert r.diff.n == 5 and r.diff.excluded == 0
    assert r.diff.mean == pytest.approx(mean, abs=1e-12)
    assert r.diff.sd == pytest.approx(sd, rel=1e-9)
    assert (r.diff.ci_low, r.diff.ci_high) == pytest.approx((mean - h, mean + h), rel=1e-9)
    assert r.p == pytest.approx(2 * stats.t.sf(t, 4), rel=1e-9)
    assert r.p == pytest.approx(stats.ttest_rel(b, a).pvalue, rel=1e-9)
    assert r.mde == pytest.approx(detectable(sd, 5))


def test_paired_leaves_out_diverged_seeds_and_refuses_ragged_input():
    r = paired([0.5, 0.6, math.nan, 0.7], [0.6, 0.8, 0.9, 0.8])
    assert (r.diff.n, r.diff.excluded) == (3, 1)
    assert r.diff.mean == pytest.approx(0.4 / 3)
    assert paired([0.5, 0.6], [0.6, 0.7]).p == 0.0  # the same difference on every seed
    assert math.isnan(paired([0.5], [0.6]).p)
    with pytest.raises(ValueError, match="same seed order"):
        paired([0.5, 0.6], [0.6])


def test_holm_known_example():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # step-down: 0.005*4, 0.01*3, 0.03*2 -> 0.06, 0.04*1 raised to 0.06; NaN kept out
    assert holm([0.04, math.nan, 0.005, 0.03, 0.01]) == pytest.approx(
        [0.06, math.nan, 0.02, 0.06, 0.03], nan_ok=True)
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


def test_detectable_difference_against_hand_calculation():
    # the normal approximation (z_.975 + z_.8) sd / sqrt(n) holds for many seeds
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert z == pytest.approx(2.8016, abs=1e-4)
    assert detectable(0.02, 2000) == pytest.approx(z * 0.02 / math.sqrt(2000), rel=2e-3)
    # exact for few seeds: the power of the paired t-test at the MDE is 80%
    for n in (3, 5, 10):
        mde = detectable(0.02, n)
        nc, crit = mde * math.sqrt(n) / 0.02, stats.t.ppf(0.975, n - 1)
        power = stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
        assert power == pytest.approx(0.8, abs=1e-9)
        # and above the t-quantile approximation (t_.975 + t_.8) sd / sqrt(n) it refines
        approx = (crit + stats.t.ppf(0.8, n - 1)) * 0.02 / math.sqrt(n)
        assert approx * 0.95 < mde < approx * 1.15
    assert detectable(1.0, 10) == pytest.approx(0.9960, abs=1e-4)  # G*Power's d
    assert detectable(0.0, 5) == 0.0 and math.isnan(detectable(0.1, 1))


def test_binomial_spread_and_samples_for_a_margin():
    assert binomial_sd(0.9, 300) == pytest.approx(math.sqrt(0.9 * 0.1 / 300))
    rng = np.random.default_rng(0)
    draws = rng.binomial(300, 0.9, size=200_000) / 300
    assert draws.std() == pytest.approx(binomial_sd(0.9, 300), rel=0.01)
    # n = 1.96^2 p (1 - p) / 0.01^2
    assert samples_for_margin(0.9) == math.ceil(stats.norm.ppf(0.975) ** 2 * 0.09 / 1e-4)
    assert samples_for_margin(0.5) == 9604
    assert samples_for_margin(0.9, margin=0.02) == 865


def test_binomial_interval_is_clopper_pearson():
    # the exact interval's ends in closed form where every try failed or every one did:
    # P(all n | p) = p^n = 0.025 gives the lower end of n of n
    for n in (1, 3, 10):
        assert binomial_interval(n, n) == pytest.approx((0.025 ** (1 / n), 1.0))
        assert binomial_interval(0, n) == pytest.approx((0.0, 1 - 0.025 ** (1 / n)))
    # in between: the ends where the binomial tails hold 2.5% each
    lo, hi = binomial_interval(2, 4)
    assert stats.binom.sf(1, 4, lo) == pytest.approx(0.025)  # P(X >= 2 | lo)
    assert stats.binom.cdf(2, 4, hi) == pytest.approx(0.025)  # P(X <= 2 | hi)
    with pytest.raises(ValueError, match=r"0 <= k <= n and n >= 1 .* got k=3, n=2"):
        binomial_interval(3, 2)


def test_iid_spiral_draws_random_radii_on_the_same_arms():
    X, y = spiral(2000, 3, seed=0, iid=True)
    r = np.hypot(X[:, 0], X[:, 1])
    assert X.shape == (6000, 2) and y.tolist()[::2000] == [0, 1, 2]
    # radii uniform on [0, 1) and in random order (the book's rise evenly within a class)
    assert stats.kstest(r, "uniform").pvalue > 0.01
    assert not np.all(np.diff(r[:2000]) >= 0)
    book = np.hypot(*spiral(2000, 3, seed=0)[0][:2000].T)
    assert np.all(np.diff(book) >= -1e-6)


def test_spread_ratio_against_scipy_f():
    r = spread_ratio(0.06, 6, 0.03, 9)
    f, obs = stats.f(6, 9), 4.0  # (0.06 / 0.03)^2
    assert r.ratio == pytest.approx(2.0)
    assert r.p == pytest.approx(2 * min(f.cdf(obs), f.sf(obs)))
    assert (r.ci_low, r.ci_high) == pytest.approx(
        (math.sqrt(obs / f.ppf(0.975)), math.sqrt(obs / f.ppf(0.025))))
    # each end of the CI is a true ratio the two-sided test rejects at exactly 5%
    for end in (r.ci_low, r.ci_high):
        scaled = obs / end**2
        assert 2 * min(f.cdf(scaled), f.sf(scaled)) == pytest.approx(0.05)
    # at the detectable ratios the test rejects with 80% probability
    lo, hi = f.ppf(0.025), f.ppf(0.975)
    for ratio in (r.detectable_low, r.detectable_high):
        v = ratio**2
        assert f.sf(hi / v) + f.cdf(lo / v) == pytest.approx(0.8, abs=1e-9)
    assert r.detectable_low < 1 < r.detectable_high
    # swapping the two spreads inverts every ratio and keeps the p-value
    s = spread_ratio(0.03, 9, 0.06, 6)
    assert (s.ratio, s.ci_low, s.ci_high, s.detectable_low, s.detectable_high) == \
        pytest.approx((1 / r.ratio, 1 / r.ci_high, 1 / r.ci_low, 1 / r.detectable_high,
                       1 / r.detectable_low))
    assert s.p == pytest.approx(r.p)
    assert spread_ratio(0.05, 6, 0.05, 6).p == pytest.approx(1.0)
    for bad in ((math.nan, 6, 0.1, 6), (0.1, 6, 0.0, 6), (0.1, 0, 0.1, 6),
                (0.1, 6, 0.1, math.inf)):
        assert all(math.isnan(x) for x in spread_ratio(*bad))


def pooled_sd(rng, sd, trials, repeats):
    """sqrt of the mean within-trial variance of normal draws with this sd."""
    x = rng.normal(0.0, sd, size=(trials, repeats))
    return math.sqrt(x.var(axis=1, ddof=1).mean()), trials * (repeats - 1)


def test_spread_ratio_on_synthetic_data_with_known_spreads():
    rng = np.random.default_rng(1)
    # a large design pins a true ratio of 2 down and calls it different from 1
    r = spread_ratio(*pooled_sd(rng, 2.0, 200, 5), *pooled_sd(rng, 1.0, 200, 5))
    assert r.ci_low < 2.0 < r.ci_high and r.ci_high - r.ci_low < 0.4 and r.p < 1e-9
    assert 1 < r.detectable_high < 1.2
    # the small design of the quick grid (3 trials x 3 test sets, 6 df): the 95% CI covers
    # the true ratio about 95% of the time, and a true ratio at detectable_high is found
    # about 80% of the time
    sims = 400
    cis = [spread_ratio(*pooled_sd(rng, 2.0, 3, 3), *pooled_sd(rng, 1.0, 3, 3))
           for _ in range(sims)]
    covered = sum(r.ci_low < 2.0 < r.ci_high for r in cis)
    assert 0.92 * sims < covered < 0.98 * sims  # binomial sd of the count: 4.4
    hi = spread_ratio(1.0, 6, 1.0, 6).detectable_high
    found = sum(spread_ratio(*pooled_sd(rng, hi, 3, 3), *pooled_sd(rng, 1.0, 3, 3)).p < 0.05
                for _ in range(sims))
    assert 0.72 * sims < found < 0.88 * sims  # binomial sd of the count: 8


def test_a_bounded_quantitys_interval_stays_within_what_it_can_be():
    from xpnet.experiments.stats import range_of, summarize, summarize_as

    runs = [0.415, 0.78, 0.77]  # one collapsed run of three: the t-interval passes 1
    plain, clipped = summarize(runs), summarize_as("val_acc", runs)
    assert plain.ci_high > 1 and clipped.ci_high == 1.0
    assert (clipped.mean, clipped.sd, clipped.ci_low) == (plain.mean, plain.sd, plain.ci_low)
    assert summarize_as("loss", [0.5, 3.09, 0.51]).ci_low == 0.0
    assert summarize_as("dead", [0.995, 1.0, 0.999]).ci_high == 1.0
    # differences are not bounded so: their intervals are the t-intervals
    assert range_of("acc_bias") is None and range_of("gap") is None
    assert summarize_as("acc_gain", runs) == plain
