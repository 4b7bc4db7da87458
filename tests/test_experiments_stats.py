"""The lab's paired comparisons, Holm correction, detectable differences and binomial rules,
checked against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from xpnet.datasets import spiral
from xpnet.experiments.stats import binomial_sd, detectable, holm, paired, samples_for_margin


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


def test_iid_spiral_draws_random_radii_on_the_same_arms():
    X, y = spiral(2000, 3, seed=0, iid=True)
    r = np.hypot(X[:, 0], X[:, 1])
    assert X.shape == (6000, 2) and y.tolist()[::2000] == [0, 1, 2]
    # radii uniform on [0, 1) and in random order (the book's rise evenly within a class)
    assert stats.kstest(r, "uniform").pvalue > 0.01
    assert not np.all(np.diff(r[:2000]) >= 0)
    book = np.hypot(*spiral(2000, 3, seed=0)[0][:2000].T)
    assert np.all(np.diff(book) >= -1e-6)
