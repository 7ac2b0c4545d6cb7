"""The statistics of the claim test: bootstrap intervals over seeds, paired differences, their power.

Seeds are the experimental units: each seed fixes the data splits, the adapter's initialisation and the
sample order, and every method runs on every seed, so two methods are compared by their per-seed
differences (a paired design). Intervals are percentile bootstrap intervals over seeds (a private numpy
Generator, so the same numbers always give the same interval). With few seeds a percentile bootstrap is
narrower than it should be; the verdict therefore also reports the paired t interval and takes the wider.
Both lean on a roughly normal mean; the exact sign-flip test (``sign_flip_p``) does not, and says what few
seeds can show at all: with n pairs its two-sided p-value is never below 2 / 2^n (0.0625 for 5 seeds).
Where two or three seeds fail apart from the rest, the mean speaks for them more than for the typical seed;
``hodges_lehmann`` gives the typical difference with the exact signed-rank interval beside it, and
``seeds_to_detect`` what the next experiment would need at the spread measured.
Late collapses (a seed's accuracy falling to chance) are yes/no outcomes per seed: ``exact_mcnemar_p``
compares their counts between two methods on the same seeds.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats

BOOTSTRAP_RESAMPLES = 10_000
SIGN_FLIP_EXACT = 16  # enumerate all 2^n sign patterns up to this many pairs, else draw them
LEVEL = 0.95
POWER = 0.8
HODGES_LEHMANN_KEYS = ("hodges_lehmann", "hodges_lehmann_low", "hodges_lehmann_high", "hodges_lehmann_level")
SEEDS_MOST = 10_000  # the largest plan seeds_to_detect states; beyond it, inf


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
    # the exact null distribution of the signed-rank statistic: how many sign patterns give each rank sum
    # (as probabilities, halved at each seed, so that no count overflows)
    ways = np.zeros(m + 1)
    ways[0] = 1.0
    for rank in range(1, d.size + 1):
        ways[rank:] = (ways[rank:] + ways[:-rank]) / 2
        ways[:rank] /= 2
    cdf = np.cumsum(ways)
    # the smallest rank sum whose lower tail reaches (1 - level) / 2; the interval keeps the Walsh averages
    # from that rank on (at least the extreme ones, when no tail is small enough)
    cut = max(1, int(np.searchsorted(cdf, (1 - level) / 2, side="left")))
    achieved = 1 - 2 * cdf[cut - 1]
    return float(np.median(walsh)), float(walsh[cut - 1]), float(walsh[m - cut]), float(achieved)


def sign_flip_p(differences, *, resamples: int = 100_000, seed: int = 0) -> float:
    """Two-sided p-value of the paired permutation test of a zero mean: under the null each per-seed
    difference is as likely negative as positive, so flip their signs in every way (all 2^n patterns up to
    ``SIGN_FLIP_EXACT`` pairs, else ``resamples`` seeded draws) and count the sums at least as far from zero
    as the observed one."""
    d = np.asarray([x for x in differences if np.isfinite(x)], dtype=float)
    if d.size == 0:
        return math.nan
    if d.size <= SIGN_FLIP_EXACT:
        signs = ((np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1) * 2 - 1
    else:
        signs = np.random.default_rng(seed).choice([-1, 1], size=(resamples, d.size))
    sums = np.abs(signs @ d)
    observed = abs(d.sum())
    # a relative margin so that patterns tying the observed sum in exact arithmetic count as ties
    return float(np.mean(sums >= observed - 1e-9 * max(1.0, np.abs(d).sum())))


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
        **dict(zip(HODGES_LEHMANN_KEYS, hodges_lehmann(d))),
        "sign_flip_p": sign_flip_p(d),
        "smallest_possible_p": 2.0 / 2**d.size if d.size else math.nan,
        "verdict": verdict,
    }
