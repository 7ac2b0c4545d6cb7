"""Check 12 (rate slopes): the fitting helper on exact power laws, then 12a and 12b at fast size."""

import numpy as np
import pytest

from hybridsmooth.theory.claims import check12a_rate_slope as c12a
from hybridsmooth.theory.claims import check12b_interpolating_slope as c12b
from hybridsmooth.theory.run_statistics import fit_loglog_slope

pytestmark = pytest.mark.theory


def test_slope_fit_recovers_an_exact_power_law_and_brackets_a_noisy_one():
    Ts = [32, 64, 128, 256]
    exact = [np.full(5, 3.0 * T**-0.5) for T in Ts]
    fit = fit_loglog_slope(Ts, exact, n_boot=200)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12) and fit.low == pytest.approx(-0.5, abs=1e-12)
    rng = np.random.default_rng(0)
    noisy = [T**-0.75 * np.exp(0.2 * rng.standard_normal(20)) for T in Ts]
    fit = fit_loglog_slope(Ts, noisy, n_boot=500)
    assert fit.low < fit.slope < fit.high and fit.low < -0.75 < fit.high


def test_check12a_slope_is_at_least_minus_one_half():
    (r,) = c12a.check12a_rate_slope(size="fast")
    assert r.verdict == "pass", r.details
    lo, hi = r.details["interval"]
    assert r.computed == hi and lo <= r.details["slope"] <= hi
    phi = np.array(r.details["Phi"])
    assert np.all(np.diff(phi) < 0)  # Phi decreases with T under the schedule


def test_check12b_interpolating_slope_supports_theorem_r():
    (r,) = c12b.check12b_interpolating_slope(size="fast")
    assert r.verdict == "pass", r.details
    assert r.details["supports"].startswith("Theorem R")
    # the bounded-gradient prediction -1/3 lies outside the interval
    assert r.details["interval"][1] < -1 / 3


def test_exact_zo_sgd_recursion_matches_simulation_and_slope():
    rows = c12a.check12a_quadratic_exact(size="fast")
    assert len(rows) == 4
    for r in rows:
        assert r.verdict == "pass", r
    assert rows[-1].computed == pytest.approx(-0.5, abs=0.05)
    # one step of the map (n = 1) equals THEORY's formula written out, P = I
    import numpy as np

    A = np.diag([0.5, 1.0])
    S = np.eye(2) * 0.3
    Mn, bn = c12a.zo_sgd_epoch_map(A, S, 0.1, 1)
    P = np.eye(2).reshape(-1)
    one_step = (Mn @ P + bn).reshape(2, 2)
    manual = (np.eye(2) - 0.1 * 2 * A) + 0.01 * (
        np.trace(A @ (np.eye(2) + S) @ A) * np.eye(2) + 2 * A @ (np.eye(2) + S) @ A
    )
    np.testing.assert_allclose(one_step, manual, rtol=1e-14)
