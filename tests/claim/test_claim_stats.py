"""The claim test's statistics against closed forms and known distributions."""

import math

import numpy as np
import pytest
from scipy import stats

from hybridsmooth.claim.stats import (
    bootstrap_interval,
    detectable_difference,
    exact_mcnemar_p,
    hodges_lehmann,
    holm_adjusted,
    paired_difference,
    seeds_to_detect,
    seeds_to_detect_by_rank,
    sign_flip_p,
    signed_rank_p,
    signed_rank_rejects,
    t_interval,
)


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    values = [0.81, 0.84, 0.80, 0.86, 0.83]
    mean, lo, hi = bootstrap_interval(values)
    assert mean == pytest.approx(np.mean(values))
    assert lo < mean < hi
    assert (mean, lo, hi) == bootstrap_interval(values)  # the same numbers give the same interval
    # a resampled mean never leaves the range of the values
    assert min(values) <= lo and hi <= max(values)


def test_bootstrap_interval_of_one_or_no_value():
    assert math.isnan(bootstrap_interval([0.5])[1])
    assert all(math.isnan(v) for v in bootstrap_interval([]))
    assert bootstrap_interval([math.nan, 0.3])[0] == 0.3  # nan values are left out


def test_bootstrap_interval_covers_the_true_mean_about_as_often_as_it_says():
    rng = np.random.default_rng(1)
    covered = 0
    for i in range(400):
        sample = rng.normal(1.0, 2.0, size=40)
        _, lo, hi = bootstrap_interval(sample, resamples=2000, seed=i)
        covered += lo <= 1.0 <= hi
    # 95% nominal; the percentile bootstrap undercovers slightly at n = 40 (binomial sd of the rate: 1.1%)
    assert 0.90 <= covered / 400 <= 0.98


def test_t_interval_is_students():
    values = np.array([1.0, 2.0, 4.0, 7.0])
    mean, lo, hi = t_interval(values)
    half = stats.t.ppf(0.975, 3) * values.std(ddof=1) / 2
    assert (lo, hi) == pytest.approx((mean - half, mean + half))


def test_detectable_difference_is_the_paired_t_formula():
    d = np.array([0.01, -0.02, 0.03, 0.0, 0.015])
    expected = (stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4)) * d.std(ddof=1) / math.sqrt(5)
    assert detectable_difference(d) == pytest.approx(expected)
    # four times the seeds: about half the detectable difference (sd fixed)
    assert detectable_difference(np.tile(d, 4)) < 0.5 * detectable_difference(d)


def _paired_t_power(n: int, difference: float, sd: float) -> float:
    """The exact power of the two-sided 5% paired t test on n pairs: the noncentral t distribution."""
    df, crit, shift = n - 1, stats.t.ppf(0.975, n - 1), difference * math.sqrt(n) / sd
    return stats.nct.sf(crit, df, shift) + stats.nct.cdf(-crit, df, shift)


@pytest.mark.parametrize("sd", [0.01, 0.02, 0.05])
def test_seeds_to_detect_is_the_fewest_seeds_the_paired_t_test_has_the_power_for(sd):
    d = np.array([1.0, -1.0, 2.0, -2.0, 0.5])
    d = d / d.std(ddof=1) * sd  # differences whose spread is sd
    n = seeds_to_detect(d, 0.01)
    assert n == int(n) and n >= 2
    # the formula's plan is the noncentral t's: 80% power at n seeds, less at one fewer
    assert _paired_t_power(int(n), 0.01, sd) >= 0.8 > _paired_t_power(int(n) - 1, 0.01, sd)
    # and it is where detectable_difference, given n differences of this spread, reaches the planned one

    def spread(k):
        e = np.resize(d, k)
        return e / e.std(ddof=1) * sd

    assert detectable_difference(spread(int(n))) <= 0.01 < detectable_difference(spread(int(n) - 1))
    # for many seeds, the normal approximation ((z_0.975 + z_0.8) sd / difference)^2
    normal = ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * sd / 0.01) ** 2
    assert n == pytest.approx(normal, rel=0.3 if sd < 0.05 else 0.03)


def test_seeds_to_detect_at_the_edges():
    assert seeds_to_detect([0.0, 0.0, 0.0], 0.01) == 2  # no spread: two seeds decide it
    assert seeds_to_detect([0.5, -0.5], 0.01) == math.inf  # past SEEDS_MOST
    assert math.isnan(seeds_to_detect([0.1], 0.01)) and math.isnan(seeds_to_detect([0.1, 0.2], 0.0))
    planned = paired_difference([0.80, 0.82, 0.79], [0.79, 0.80, 0.80], planned=0.01)
    assert planned["seeds_to_detect_planned"] == seeds_to_detect([0.01, 0.02, -0.01], 0.01)
    assert math.isnan(paired_difference([0.80, 0.82], [0.79, 0.80])["seeds_to_detect_planned"])


def test_hodges_lehmann_is_the_median_of_the_walsh_averages():
    d = np.array([0.03, -0.01, 0.002, 0.05, -0.02, 0.01, 0.0])
    walsh = [(d[i] + d[j]) / 2 for i in range(d.size) for j in range(i, d.size)]
    assert hodges_lehmann(d)[0] == pytest.approx(np.median(walsh))
    symmetric = 0.4 + np.array([-3.0, -1.0, -0.5, 0.5, 1.0, 3.0])
    assert hodges_lehmann(symmetric)[0] == pytest.approx(0.4)


def test_hodges_lehmann_interval_inverts_scipys_exact_signed_rank_test():
    d = np.random.default_rng(3).normal(0.01, 0.02, size=12)  # no ties
    _, low, high, level = hodges_lehmann(d)
    alpha = 1 - level
    assert level >= 0.95 and alpha == pytest.approx(stats.wilcoxon(d - (low - 1e-9), method="exact").pvalue)

    def p(shift):
        return stats.wilcoxon(d - shift, method="exact").pvalue

    # just outside each end the test rejects at the achieved level, just inside it does not
    assert p(low - 1e-9) <= alpha + 1e-12 < p(low + 1e-9)
    assert p(high + 1e-9) <= alpha + 1e-12 < p(high - 1e-9)


@pytest.mark.parametrize("n", [5, 10])
def test_hodges_lehmann_interval_covers_as_often_as_its_achieved_level(n):
    rng = np.random.default_rng(n)
    trials, covered, level = 4000, 0, None
    for _ in range(trials):
        _, low, high, level = hodges_lehmann(rng.standard_t(3, size=n) + 0.3)  # heavy tails, centre 0.3
        covered += low <= 0.3 <= high
    assert level == pytest.approx(1 - 2 / 2**5 if n == 5 else 0.9512, abs=1e-4)  # n = 5 cannot reach 95%
    assert covered / trials == pytest.approx(level, abs=0.015)


def test_a_few_failed_seeds_move_the_typical_difference_by_a_rank_not_by_their_size():
    rng = np.random.default_rng(0)
    d = np.concatenate([rng.normal(0.0, 0.005, size=18), [-0.18, -0.16]])  # two seeds that never learn
    out = paired_difference(d, np.zeros_like(d))
    # the mean is pulled two points down and its interval is wide; the typical difference stays near zero
    assert out["mean_difference"] < -0.015 and out["high"] - out["low"] > 0.04
    assert out["hodges_lehmann_low"] <= 0 <= out["hodges_lehmann_high"] and abs(out["hodges_lehmann"]) < 0.005
    assert out["hodges_lehmann_high"] - out["hodges_lehmann_low"] < 0.2 * (out["high"] - out["low"])
    assert math.isnan(hodges_lehmann([0.1])[1]) and hodges_lehmann([0.1, 0.3])[1:] == (0.1, 0.3, 0.5)


def test_signed_rank_rejects_as_scipys_exact_test_and_where_the_typical_interval_leaves_out_zero():
    rng = np.random.default_rng(7)
    rows = rng.normal(rng.uniform(-0.6, 0.6, size=(300, 1)), 1.0, size=(300, 12))  # no ties, some rejected
    rejects = signed_rank_rejects(rows)
    level = hodges_lehmann(rows[0])[3]
    exact = np.array([stats.wilcoxon(r, method="exact").pvalue <= 1 - level + 1e-12 for r in rows])
    outside = np.array([not (lo <= 0 <= hi) for _, lo, hi, _ in map(hodges_lehmann, rows)])
    assert 30 < rejects.sum() < 270  # both outcomes are exercised
    assert np.array_equal(rejects, exact) and np.array_equal(rejects, outside)
    assert not signed_rank_rejects(np.ones((3, 5))).any()  # 5 pairs cannot reach 95%


def test_the_signed_rank_cut_by_the_normal_approximation_is_the_counted_one(monkeypatch):
    from hybridsmooth.claim import stats as claim_stats

    counted = [claim_stats._signed_rank_cut(n, 0.95) for n in (60, 250)]
    monkeypatch.setattr(claim_stats, "EXACT_SIGNED_RANK", 10)
    for (cut, level), n in zip(counted, (60, 250)):
        approx_cut, approx_level = claim_stats._signed_rank_cut(n, 0.95)
        assert abs(approx_cut - cut) <= 1 and approx_level == pytest.approx(level, abs=2e-3)


def test_seeds_to_detect_by_rank_on_normal_differences_has_the_power_it_plans():
    # a population of normal quantiles: the plan should give 80% power on fresh normal experiments, and need
    # about pi / 3 times the t test's seeds (the signed-rank test's efficiency against normal data is 3 / pi)
    population = stats.norm.ppf((np.arange(4000) + 0.5) / 4000) * 0.02
    n = seeds_to_detect_by_rank(population, 0.005)
    assert 1.0 <= n / seeds_to_detect(population, 0.005) <= 1.12
    rng = np.random.default_rng(5)

    def power(k):
        return signed_rank_rejects(rng.normal(0.005, 0.02, size=(4000, int(k)))).mean()

    assert power(n) == pytest.approx(0.8, abs=0.03)
    assert power(round(0.85 * n)) < 0.78


def test_seeds_to_detect_by_rank_counts_a_few_failed_seeds_by_their_share_not_their_size():
    rng = np.random.default_rng(0)
    d = np.concatenate([rng.normal(0.0, 0.005, size=18), [-0.18, -0.16]])  # two seeds that never learn
    by_rank, by_t = seeds_to_detect_by_rank(d, 0.01), seeds_to_detect(d, 0.01)
    assert by_t > 150 and by_rank < by_t / 5
    worse = np.concatenate([d[:18], [-1.8, -1.6]])  # the same failures, ten times as far: the t plan grows
    assert seeds_to_detect_by_rank(worse, 0.01) == by_rank and seeds_to_detect(worse, 0.01) > 50 * by_t


def test_seeds_to_detect_by_rank_at_the_edges():
    assert seeds_to_detect_by_rank([0.0, 0.0, 0.0], 0.01) == 6  # no spread: the fewest seeds 95% allows
    assert seeds_to_detect_by_rank([0.5, -0.5, 0.4, -0.6], 0.01, most=50) == math.inf
    assert math.isnan(seeds_to_detect_by_rank([0.1], 0.01)) and math.isnan(seeds_to_detect_by_rank([0.1, 0.2], 0))
    d = np.random.default_rng(2).normal(0.0, 0.02, size=15)
    assert seeds_to_detect_by_rank(d, 0.01) == seeds_to_detect_by_rank(d, 0.01)  # seeded
    planned = paired_difference(d, np.zeros_like(d), planned=0.01)
    assert planned["seeds_to_detect_by_rank"] == seeds_to_detect_by_rank(d, 0.01)
    assert math.isnan(paired_difference(d, np.zeros_like(d))["seeds_to_detect_by_rank"])


@pytest.mark.parametrize(
    "shift, higher, verdict",
    [
        (0.05, True, "better"),
        (-0.05, True, "worse"),
        (0.05, False, "worse"),  # a loss 0.05 higher is worse
        (0.0, True, "no detectable difference at this power"),
    ],
)
def test_paired_verdicts(shift, higher, verdict):
    rng = np.random.default_rng(0)
    base = rng.normal(0.8, 0.05, size=8)  # large seed-to-seed spread that pairing removes
    # paired noise that cancels in the mean, so a zero shift has a zero mean difference
    a = base + shift + 0.002 * np.array([1, -1, 2, -2, 1, -1, 2, -2])
    out = paired_difference(a, base, higher_is_better=higher)
    assert out["verdict"] == verdict
    assert out["pairs"] == 8
    assert out["low"] <= out["mean_difference"] <= out["high"]


def test_paired_difference_needs_aligned_seeds():
    with pytest.raises(ValueError, match="one value per seed"):
        paired_difference([1.0, 2.0], [1.0])
    assert paired_difference([1.0, math.nan], [0.5, 0.2])["verdict"] == "too few paired seeds"


@pytest.mark.parametrize("seed", range(4))
def test_sign_flip_p_is_scipys_exact_paired_permutation_test(seed):
    d = np.random.default_rng(seed).normal(0.3, 1.0, size=7)
    want = stats.permutation_test(
        (d,), np.mean, permutation_type="samples", alternative="two-sided", n_resamples=np.inf
    ).pvalue
    assert sign_flip_p(d) == pytest.approx(want, rel=1e-12)


def test_sign_flip_p_of_all_positive_differences_is_the_smallest_possible():
    assert sign_flip_p([0.1, 0.2, 0.3, 0.05, 0.4]) == pytest.approx(2 / 2**5)
    assert sign_flip_p([0.1, -0.1]) == 1.0  # a sum of zero: every pattern is at least as far from zero
    assert paired_difference([0.9] * 5, [0.8] * 5)["smallest_possible_p"] == pytest.approx(0.0625)
    assert math.isnan(sign_flip_p([]))


@pytest.mark.parametrize("n, seed", [(17, 0), (20, 1), (20, 2)])
def test_sign_flip_p_counts_every_pattern_beyond_what_a_list_of_them_held(n, seed):
    # differences in steps of 1 / 500 as accuracies are, so sums tie; the brute-force count lists all 2^n sums
    d = np.round(np.random.default_rng(seed).normal(0.004, 0.01, size=n) * 500) / 500
    signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
    want = np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12)
    assert sign_flip_p(d) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("n, positive", [(29, 21), (30, 15), (30, 24), (25, 25)])
def test_sign_flip_p_of_equal_sizes_is_the_two_sided_binomial_test(n, positive):
    # n differences of one size, `positive` of them positive: the sum is that size times (2K - n), K the plus
    # signs, Binomial(n, 1/2) under the null; all 2^n patterns, counted, where no list of them would fit
    d = np.where(np.arange(n) < positive, 0.002, -0.002)
    k = np.arange(n + 1)
    want = stats.binom.pmf(k, n, 0.5)[np.abs(2 * k - n) >= abs(2 * positive - n)].sum()
    assert sign_flip_p(d) == pytest.approx(want, rel=1e-12)


def test_sign_flip_p_beyond_exact_enumeration_draws_seeded_patterns():
    d = np.random.default_rng(1).normal(0.2, 1.0, size=40)
    p = sign_flip_p(d, resamples=20_000)
    assert p == sign_flip_p(d, resamples=20_000)  # seeded
    # the t test's p-value is close to the permutation test's for a normal sample of 40
    assert p == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, abs=0.03)


def test_a_drawn_sign_flip_p_counts_the_observed_pattern_and_is_never_zero():
    # 40 positive differences: no drawn pattern of the 2^40 reaches the observed sum (all plus), the observed
    # pattern itself does; a plain share of the draws said 0
    assert sign_flip_p([0.01] * 40, resamples=1000) == pytest.approx(1 / 1001)
    # scipy's randomized permutation test keeps the same convention: (1 + reached) / (1 + draws)
    d = np.random.default_rng(3).normal(0.25, 1.0, size=40)
    ours = sign_flip_p(d, resamples=9999)
    theirs = stats.permutation_test(
        (d,), np.mean, permutation_type="samples", n_resamples=9999, rng=np.random.default_rng(0)
    ).pvalue
    assert ours == pytest.approx(theirs, abs=0.01)
    assert (ours * 10_000) == pytest.approx(round(ours * 10_000))  # a count over 10,000


@pytest.mark.parametrize("n", [6, 11, 16])
def test_signed_rank_p_is_scipys_exact_test_without_ties(n):
    d = np.random.default_rng(n).normal(0.3, 1.0, size=n)
    assert signed_rank_p(d) == pytest.approx(stats.wilcoxon(d, method="exact").pvalue, rel=1e-12)


def test_signed_rank_p_with_ties_and_zeros_is_the_permutation_test_of_pratts_ranks():
    d = np.array([0.002, 0.002, -0.001, 0.0, 0.003, 0.001, -0.002, 0.002, 0.0, 0.004])
    every_pattern = stats.PermutationMethod(n_resamples=np.inf)
    assert signed_rank_p(d) == pytest.approx(stats.wilcoxon(d, zero_method="pratt", method=every_pattern).pvalue)
    # beyond exact enumeration: seeded draws of the sign patterns, close to scipy's normal approximation
    many = np.round(np.random.default_rng(4).normal(0.001, 0.003, size=40), 3)
    assert signed_rank_p(many) == signed_rank_p(many)
    assert signed_rank_p(many) == pytest.approx(stats.wilcoxon(many, zero_method="pratt").pvalue, abs=0.01)
    assert math.isnan(signed_rank_p([])) and paired_difference(d, np.zeros_like(d))["signed_rank_p"] == signed_rank_p(d)


@pytest.mark.parametrize("only_a, only_b", [(0, 4), (3, 0), (2, 5), (6, 6), (0, 0), (1, 9)])
def test_exact_mcnemar_p_is_the_two_sided_binomial_test_on_discordant_pairs(only_a, only_b):
    want = 1.0 if only_a + only_b == 0 else stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert exact_mcnemar_p(only_a, only_b) == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="non-negative"):
        exact_mcnemar_p(-1, 2)


def _holm_step_down(p, alpha):
    """Holm's procedure as he stated it: walk the sorted p-values, reject the k-th (from 0) while it is at most
    alpha / (m - k), stop at the first that is not."""
    rejected = np.zeros(len(p), dtype=bool)
    for k, i in enumerate(np.argsort(p, kind="stable")):
        if p[i] > alpha / (len(p) - k):
            break
        rejected[i] = True
    return rejected


def test_holm_adjusted_by_hand_and_as_the_step_down_procedure():
    # 0.005 * 4, 0.01 * 3, 0.03 * 2, then 0.04 * 1 carried up to 0.06
    np.testing.assert_allclose(holm_adjusted([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = np.round(rng.uniform(0, 0.2, size=rng.integers(1, 12)) ** 2, 4)  # ties included
        adjusted = holm_adjusted(p)
        assert (adjusted >= p).all() and (adjusted <= 1).all()
        for alpha in (0.001, 0.01, 0.05, 0.1):
            np.testing.assert_array_equal(adjusted <= alpha, _holm_step_down(p, alpha))


def test_holm_adjusted_holds_the_family_wise_error_at_its_level():
    # eleven true nulls (the summary's family): uncorrected, some rejection in 1 - 0.95^11 = 43% of families
    p = np.random.default_rng(1).uniform(size=(20_000, 11))
    any_rejected = np.array([(holm_adjusted(family) <= 0.05).any() for family in p])
    assert (p <= 0.05).any(axis=1).mean() == pytest.approx(1 - 0.95**11, abs=0.01)
    assert any_rejected.mean() <= 0.05 + 0.004  # 0.004: three binomial standard errors at 20,000 families


def test_holm_adjusted_leaves_nan_out_of_the_family_and_refuses_what_is_no_p_value():
    adjusted = holm_adjusted([0.01, math.nan, 0.02])
    assert math.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], [0.02, 0.02])  # m = 2, not 3
    assert holm_adjusted([]).size == 0
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        holm_adjusted([0.5, 1.2])
    with pytest.raises(ValueError, match="flat sequence"):
        holm_adjusted([[0.1, 0.2]])
