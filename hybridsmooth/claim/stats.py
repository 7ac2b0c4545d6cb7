"""The statistics of the claim test: bootstrap intervals over seeds, paired differences, their power.

Seeds are the experimental units: each seed fixes the data splits, the adapter's initialisation and the
sample order, and every method runs on every seed, so two methods are compared by their per-seed
differences (a paired design). Intervals are percentile bootstrap intervals over seeds (a private numpy
Generator, so the same numbers always give the same interval). With few seeds a percentile bootstrap is
narrower than it should be; the verdict therefore also reports the paired t interval and takes the wider.
Both lean on a roughly normal mean; the sign-flip test (``sign_flip_p``) does not, and says what few
seeds can show at all: with n pairs its two-sided p-value is never below 2 / 2^n (0.0625 for 5 seeds). Up to
``SIGN_FLIP_EXACT`` pairs it counts every sign pattern (exact); beyond, ``resamples`` seeded draws.
Where two or three seeds fail apart from the rest, the mean speaks for them more than for the typical seed;
``hodges_lehmann`` gives the typical difference with the exact signed-rank interval beside it, and
``seeds_to_detect`` what the next experiment would need at the spread measured, and ``seeds_to_detect_by_rank``
the same for the signed-rank test of the typical seed.
Late collapses (a seed's accuracy falling to chance) are yes/no outcomes per seed: ``exact_mcnemar_p``
compares their counts between two methods on the same seeds.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats

BOOTSTRAP_RESAMPLES = 10_000
SIGN_FLIP_EXACT = 30  # count all 2^n sign patterns up to this many pairs (2 x 2^15 sums), else draw them
SIGN_FLIP_RESAMPLES = 100_000  # the patterns drawn beyond
LEVEL = 0.95
POWER = 0.8
HODGES_LEHMANN_KEYS = ("hodges_lehmann", "hodges_lehmann_low", "hodges_lehmann_high", "hodges_lehmann_level")
SEEDS_MOST = 10_000  # the largest plan seeds_to_detect states; beyond it, inf
EXACT_SIGNED_RANK = 300  # pairs up to which the signed-rank null is counted exactly
RANK_PLAN_DRAWS = 2000  # simulated experiments per seed count in seeds_to_detect_by_rank
RANK_PLAN_MOST = 2000  # the largest plan seeds_to_detect_by_rank states; beyond it, inf


def bootstrap_interval(values, *, level: float = LEVEL, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0):
    """(mean, low, high): the mean of ``values`` and its percentile bootstrap interval (nan for no values)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    if v.size == 1:
        return float(v[0]), math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(resamples, v.size))].mean(axis=1)
    tail = (1 - level) / 2
    return float(v.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def t_interval(values, *, level: float = LEVEL):
    """(mean, low, high) of Student's t interval for the mean (nan below two values)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if v.size < 2:
        return (float(v[0]) if v.size else math.nan), math.nan, math.nan
    half = scipy_stats.t.ppf(1 - (1 - level) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def detectable_difference(differences, *, level: float = LEVEL, power: float = POWER) -> float:
    """The smallest true mean difference a two-sided paired t test at ``1 - level`` detects with probability
    ``power``, given the spread of the observed per-seed differences: (t_{1-a/2} + t_{power}) s / sqrt(n)."""
    d = np.asarray([x for x in differences if np.isfinite(x)], dtype=float)
    if d.size < 2:
        return math.nan
    df = d.size - 1
    factor = scipy_stats.t.ppf(1 - (1 - level) / 2, df) + scipy_stats.t.ppf(power, df)
    return float(factor * d.std(ddof=1) / math.sqrt(d.size))


def seeds_to_detect(
    differences, difference: float, *, level: float = LEVEL, power: float = POWER, most: int = SEEDS_MOST
) -> float:
    """The fewest paired seeds at which ``detectable_difference`` reaches ``difference``, taking the spread of
    the observed per-seed differences as the true one: a plan for the next experiment, as uncertain as that
    spread (few seeds, or a few collapses among them, make it so). inf beyond ``most`` seeds, nan below two
    differences."""
    d = np.asarray([x for x in differences if np.isfinite(x)], dtype=float)
    if d.size < 2 or not difference > 0:
        return math.nan
    sd = d.std(ddof=1)
    n = np.arange(2, most + 1)
    factor = scipy_stats.t.ppf(1 - (1 - level) / 2, n - 1) + scipy_stats.t.ppf(power, n - 1)
    enough = np.nonzero(factor * sd / np.sqrt(n) <= difference)[0]
    return float(n[enough[0]]) if enough.size else math.inf


def _signed_rank_cut(n: int, level: float) -> tuple[int, float]:
    """(cut, achieved level) of the two-sided exact Wilcoxon signed-rank test on n pairs: the smallest rank sum
    whose lower tail under the null reaches (1 - level) / 2 (at least 1), and the level that cut achieves. The
    null counts the sign patterns that give each rank sum, as probabilities halved at each pair so that no
    count overflows; above EXACT_SIGNED_RANK pairs the normal approximation takes over (its error is then
    well below a rank)."""
    m = n * (n + 1) // 2
    if n > EXACT_SIGNED_RANK:
        sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
        cut = max(1, math.floor(m / 2 - scipy_stats.norm.ppf(1 - (1 - level) / 2) * sd + 0.5))
        return cut, float(1 - 2 * scipy_stats.norm.cdf((cut - 0.5 - m / 2) / sd))
    ways = np.zeros(m + 1)
    ways[0] = 1.0
    for rank in range(1, n + 1):
        ways[rank:] = (ways[rank:] + ways[:-rank]) / 2
        ways[:rank] /= 2
    cdf = np.cumsum(ways)
    cut = max(1, int(np.searchsorted(cdf, (1 - level) / 2, side="left")))
    return cut, float(1 - 2 * cdf[cut - 1])


def hodges_lehmann(differences, *, level: float = LEVEL):
    """(estimate, low, high, achieved level) of the typical paired difference: the Hodges-Lehmann estimate (the
    median of the Walsh averages (d_i + d_j) / 2, i <= j) and the interval that inverts the exact Wilcoxon
    signed-rank test (the Walsh averages at the test's critical ranks). It asks only that the differences be
    symmetric about their centre, so two or three seeds that fail apart from the rest move it by a rank, not by
    their size, as they move the mean. The signed-rank statistic takes whole values, so the achieved level is
    the nearest at or above ``level`` (n >= 6 for 95%); below that it is the most the seeds allow, said as such.
    Ties (accuracies are multiples of 1 / n_test) make the level approximate."""
    d = np.sort(np.asarray([x for x in differences if np.isfinite(x)], dtype=float))
    if d.size < 2:
        return (float(d[0]) if d.size else math.nan), math.nan, math.nan, math.nan
    i, j = np.triu_indices(d.size)
    walsh = np.sort((d[i] + d[j]) / 2)
    m = walsh.size
    # the interval keeps the Walsh averages from the critical rank on (at least the extreme ones, when no
    # tail is small enough)
    cut, achieved = _signed_rank_cut(d.size, level)
    return float(np.median(walsh)), float(walsh[cut - 1]), float(walsh[m - cut]), achieved


def signed_rank_rejects(samples, *, level: float = LEVEL) -> np.ndarray:
    """For each row of ``samples`` (paired differences, one row per experiment of n pairs): whether the
    two-sided signed-rank test at ``level`` rejects a zero centre, i.e. whether ``hodges_lehmann``'s interval
    leaves out zero. The rank sum of the positive differences counts the positive Walsh averages, so it is
    compared with the same critical rank; ranks of tied sizes are averaged and a zero difference keeps its rank
    with no sign (where rows have ties, the two agree to within a tied pair). A row of fewer pairs than the
    level needs (n < 6 at 95%) never rejects."""
    s = np.atleast_2d(np.asarray(samples, dtype=float))
    n = s.shape[1]
    cut, achieved = _signed_rank_cut(n, level)
    if achieved < level:
        return np.zeros(s.shape[0], dtype=bool)
    ranks = scipy_stats.rankdata(np.abs(s), axis=1)
    most = n * (n + 1) / 2 - cut  # a rank sum above this leaves fewer than cut Walsh averages on the other side
    return ((ranks * (s > 0)).sum(axis=1) > most) | ((ranks * (s < 0)).sum(axis=1) > most)


def seeds_to_detect_by_rank(
    differences,
    difference: float,
    *,
    level: float = LEVEL,
    power: float = POWER,
    most: int = RANK_PLAN_MOST,
    draws: int = RANK_PLAN_DRAWS,
    seed: int = 0,
) -> float:
    """``seeds_to_detect`` for the typical seed: the fewest paired seeds at which the signed-rank test
    (``signed_rank_rejects``, the test behind ``hodges_lehmann``'s interval) detects a shift of ``difference``
    with probability ``power``. The observed differences, moved so that their Hodges-Lehmann centre is
    ``difference``, stand for the population: ``draws`` experiments of n seeds are drawn from them with
    replacement (the same seeded draws for every n) and the share that reject is the power at n. The search
    doubles n and then bisects, so the answer is exact up to the draws' error (about 0.01 in power at
    0.8). Where two or three seeds fail far from the rest, the t test's plan grows with the failures' size; this
    one only with their share. inf beyond ``most`` seeds, nan below two differences."""
    d = np.asarray([x for x in differences if np.isfinite(x)], dtype=float)
    if d.size < 2 or not difference > 0:
        return math.nan
    population = d - hodges_lehmann(d)[0] + difference

    def enough(n: int) -> bool:
        rng = np.random.default_rng(seed)
        picks = population[rng.integers(0, population.size, size=(draws, n))]
        return bool(signed_rank_rejects(picks, level=level).mean() >= power)

    # the power at n rises with n (up to the draws' error): double to a sufficient n, then bisect below it
    low, high = 1, 2
    while not enough(high):
        if high >= most:
            return math.inf
        low, high = high, min(2 * high, most)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return float(high)


def sign_flip_p(differences, *, resamples: int = SIGN_FLIP_RESAMPLES, seed: int = 0) -> float:
    """Two-sided p-value of the paired permutation test of a zero mean: under the null each per-seed
    difference is as likely negative as positive, so flip their signs in every way (all 2^n patterns up to
    ``SIGN_FLIP_EXACT`` pairs, else ``resamples`` seeded draws) and count the sums at least as far from zero
    as the observed one. Drawn patterns give (1 + count) / (1 + resamples), the observed pattern counted among
    them, as scipy's ``permutation_test`` does: a drawn p-value is then never 0 and is valid at its level (a
    plain share of the draws can reject a true null too often, and gives 0 where no draw reaches the data)."""
    d = np.asarray([x for x in differences if np.isfinite(x)], dtype=float)
    if d.size == 0:
        return math.nan
    # a relative margin so that patterns tying the observed sum in exact arithmetic count as ties
    reach = abs(d.sum()) - 1e-9 * max(1.0, np.abs(d).sum())
    if reach <= 0:
        return 1.0  # every pattern's sum is at least as far from zero
    if d.size <= SIGN_FLIP_EXACT:
        return _patterns_reaching(d, reach) / 2.0**d.size
    signs = np.random.default_rng(seed).choice([-1, 1], size=(resamples, d.size))
    reached = int(np.count_nonzero(np.abs(signs @ d) >= reach))
    return (1 + reached) / (1 + resamples)


def _signed_sums(values: np.ndarray) -> np.ndarray:
    """The 2^k sums of ``values`` under every sign pattern."""
    signs = ((np.arange(2**values.size)[:, None] >> np.arange(values.size)) & 1) * 2 - 1
    return signs @ values


def _patterns_reaching(d: np.ndarray, reach: float) -> int:
    """How many of the 2^n sign patterns give |sum| >= reach > 0, counted without listing them: every sum is a
    sum of the first half's plus one of the second's, so for each first-half sum a the second-half sums b with
    a + b >= reach or a + b <= -reach are found by bisection in the sorted second half (2 x 2^(n/2) sums
    instead of 2^n)."""
    half = d.size // 2
    first, second = _signed_sums(d[:half]), np.sort(_signed_sums(d[half:]))
    above = second.size - np.searchsorted(second, reach - first, side="left")
    below = np.searchsorted(second, -reach - first, side="right")
    return int(above.sum() + below.sum())


def signed_rank_p(differences, *, resamples: int = SIGN_FLIP_RESAMPLES, seed: int = 0) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test of a zero centre, exact given the data: the sign-flip
    test (``sign_flip_p``) of the signed ranks of the differences. Tied sizes share their average rank and a
    zero difference keeps its rank with no sign (Pratt), so ties and zeros, which accuracies in steps of
    1 / n_test make common, need no correction: the null flips the signs of these very ranks. Without ties it is
    the classic exact test (scipy's ``wilcoxon(method="exact")``); beyond ``SIGN_FLIP_EXACT`` pairs the patterns
    are drawn, as in ``sign_flip_p``."""
    d = np.asarray([x for x in differences if np.isfinite(x)], dtype=float)
    if d.size == 0:
        return math.nan
    return sign_flip_p(np.sign(d) * scipy_stats.rankdata(np.abs(d)), resamples=resamples, seed=seed)


def exact_mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value for two yes/no outcomes on the same seeds: ``only_a`` seeds where the
    outcome happened to method a alone, ``only_b`` to b alone; under the null each discordant seed is a fair
    coin (the concordant ones carry no information)."""
    n = int(only_a) + int(only_b)
    if min(only_a, only_b) < 0:
        raise ValueError(f"counts must be non-negative, got {only_a} and {only_b}")
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * scipy_stats.binom.cdf(min(only_a, only_b), n, 0.5)))


def holm_adjusted(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values of a family of tests: sorted ascending, the k-th smallest (k from 0) is
    multiplied by (m - k), capped at 1 and carried up so the order is kept. A test rejects at level alpha with the
    family-wise error held at alpha, whatever the tests' dependence, exactly when its adjusted p-value is at most
    alpha. A NaN p-value (a comparison without a test) is not counted in m and stays NaN."""
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"holm_adjusted takes a flat sequence of p-values, got shape {p.shape}")
    counted = np.flatnonzero(np.isfinite(p))
    if ((p[counted] < 0) | (p[counted] > 1)).any():
        raise ValueError(f"p-values lie in [0, 1], got {p[counted].min()} to {p[counted].max()}")
    adjusted = np.full(p.shape, math.nan)
    running = 0.0
    for rank, i in enumerate(counted[np.argsort(p[counted], kind="stable")]):
        running = max(running, min(1.0, (counted.size - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def paired_difference(a, b, *, higher_is_better: bool = True, seed: int = 0, planned: float | None = None) -> dict:
    """``a - b`` seed by seed (two aligned sequences): the mean difference with its bootstrap and t intervals,
    the verdict for ``a`` against ``b``, the detectable difference, for a ``planned`` difference the paired
    seeds that would detect it at this spread, and the typical difference (``hodges_lehmann``) beside the mean.

    The verdict uses the wider of the two intervals: "better" or "worse" when it excludes zero, else "no
    detectable difference at this power"."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need one value per seed on both sides, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    mean, boot_lo, boot_hi = bootstrap_interval(d, seed=seed)
    _, t_lo, t_hi = t_interval(d)
    lows, highs = [v for v in (boot_lo, t_lo) if np.isfinite(v)], [v for v in (boot_hi, t_hi) if np.isfinite(v)]
    lo, hi = (min(lows), max(highs)) if lows and highs else (math.nan, math.nan)
    if d.size < 2 or not np.isfinite(lo):
        verdict = "too few paired seeds"
    elif lo > 0 or hi < 0:
        verdict = "better" if (lo > 0) == higher_is_better else "worse"
    else:
        verdict = "no detectable difference at this power"
    return {
        "pairs": int(d.size),
        "mean_difference": mean,
        "bootstrap_low": boot_lo,
        "bootstrap_high": boot_hi,
        "t_low": t_lo,
        "t_high": t_hi,
        "low": float(lo),
        "high": float(hi),
        "detectable_difference": detectable_difference(d),
        "seeds_to_detect_planned": seeds_to_detect(d, planned) if planned else math.nan,
        "seeds_to_detect_by_rank": seeds_to_detect_by_rank(d, planned, seed=seed) if planned else math.nan,
        **dict(zip(HODGES_LEHMANN_KEYS, hodges_lehmann(d))),
        "sign_flip_p": sign_flip_p(d),
        "signed_rank_p": signed_rank_p(d),
        "smallest_possible_p": 2.0 / 2**d.size if d.size else math.nan,
        "verdict": verdict,
    }
