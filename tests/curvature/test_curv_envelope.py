"""Secant estimates, (L0, L1) fits, G_safe and reported suprema."""

import math

import numpy as np
import pytest
import torch

from hybridsmooth.curvature import (
    bootstrap_affine_fit,
    fit_affine_envelope,
    fit_affine_quantile,
    g_safe,
    local_smoothness_pairs,
    secant_along_trajectory,
    secant_ratio,
    supremum_bound,
)
from hybridsmooth.curvature.envelope import AffineFit
from hybridsmooth.objectives.quadratic import make_block_quadratic

DT = torch.float64


def test_secant_ratios_are_bounded_by_block_norms_and_attain_them():
    q = make_block_quadratic(dx=10, dy=4, Lx=5.0, Ly=2.0, coupling=0.5, n=4, seed=0)
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(10, generator=g, dtype=DT) for _ in range(12)]
    ys = [torch.randn(4, generator=g, dtype=DT) for _ in range(12)]
    for block, L in (("x", q.constants.L_x), ("y", q.constants.L_y)):
        sec = secant_along_trajectory(q, xs, ys, block=block, idx=1)
        assert sec.n == 11
        assert np.all(sec.ratios <= L * (1 + 1e-12))
        assert np.all(sec.ratios > 0.05 * L)
    # a move along the top eigenvector of H_xx attains L_x exactly
    evals, evecs = torch.linalg.eigh(q.H[:10, :10])
    z = (xs[0], ys[0])
    zp = (xs[0] + 0.3 * evecs[:, -1], ys[0])
    assert secant_ratio(q, z, zp, block="x", idx=2) == pytest.approx(q.constants.L_x, rel=1e-12)
    with pytest.raises(ValueError, match="differ in block x only"):
        secant_ratio(q, z, (xs[1], ys[1]), block="x")


def test_local_pairs_on_quadratic_are_constant_curvature():
    q = make_block_quadratic(dx=8, dy=3, Lx=3.0, Ly=1.0, coupling=0.2, n=2, seed=1)
    g = torch.Generator().manual_seed(1)
    pts = [(torch.randn(8, generator=g, dtype=DT), torch.randn(3, generator=g, dtype=DT)) for _ in range(4)]
    u, L = local_smoothness_pairs(q, pts, block="x", tol=1e-10)
    np.testing.assert_allclose(L, q.constants.L_x, rtol=1e-8)
    for (x, y), uj in zip(pts, u):
        gx, gy = q.grad(x, y)
        assert uj == pytest.approx(math.sqrt(float(gx @ gx + gy @ gy)), rel=1e-12)


def _affine_data(seed=0, n=200, L0=2.0, L1=0.5):
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 10, n)
    L = L0 + L1 * u - rng.uniform(0, 1, n) ** 3  # below the line, touching it often near the top
    return u, L


def test_envelope_lp_recovers_a_known_affine_bound():
    u, L = _affine_data()
    fit = fit_affine_envelope(u, L)
    assert np.all(fit(u) >= L)  # every point on or under the envelope
    assert fit.L0 == pytest.approx(2.0, abs=0.05)
    assert fit.L1 == pytest.approx(0.5, abs=0.01)
    # the LP objective is no worse than the true line's
    assert np.sum(fit(u)) <= np.sum(2.0 + 0.5 * u) + 1e-9


def test_quantile_fit_tolerates_an_outlier_and_envelope_does_not():
    u, L = _affine_data(seed=1)
    L_out = L.copy()
    L_out[0] = 50.0
    env = fit_affine_envelope(u, L_out)
    qf = fit_affine_quantile(u, L_out, q=0.9)
    assert env(u[0]) >= 50.0 - 1e-9
    assert qf.L0 == pytest.approx(2.0, abs=0.3) and qf.L1 == pytest.approx(0.5, abs=0.05)
    frac_above = np.mean(L_out > qf(u) + 1e-9)
    assert frac_above <= 0.1 + 2 / len(u)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        fit_affine_quantile(u, L, q=1.0)


def test_bootstrap_intervals_contain_the_point_fit():
    u, L = _affine_data(seed=2, n=80)
    fit = bootstrap_affine_fit(u, L, n_boot=60, level=0.9, seed=0)
    lo0, hi0 = fit.L0_interval
    lo1, hi1 = fit.L1_interval
    assert lo0 <= hi0 and lo1 <= hi1
    assert hi0 - lo0 < 1.0 and hi1 - lo1 < 0.2
    assert lo1 <= 0.5 + 0.02 and hi1 >= 0.5 - 0.05


def test_g_safe_matches_the_largest_root():
    fx, fy = AffineFit(3.0, 0.7, "given", 0), AffineFit(1.0, 0.2, "given", 0)
    F = 2.5
    G = g_safe(F, fx, fy)
    # sup{u : u^2 <= 2 (ell_x + ell_y)(2u) F} by brute force on a fine grid
    grid = np.linspace(0, 100, 2_000_001)
    ok = grid**2 <= 2 * ((3.0 + 0.7 * 2 * grid) + (1.0 + 0.2 * 2 * grid)) * F
    assert G == pytest.approx(grid[ok].max(), abs=1e-4)
    assert G**2 == pytest.approx(2 * F * (4.0 + 0.9 * 2 * G), rel=1e-12)
    with pytest.raises(ValueError):
        g_safe(0.0, fx, fy)


def test_robson_whitlock_upper_value_covers_the_end_point():
    rng = np.random.default_rng(0)
    hits = 0
    trials = 2000
    for _ in range(trials):
        s = supremum_bound(rng.uniform(0, 1, 50), level=0.9)
        assert s.maximum <= 1.0 and s.n == 50
        hits += s.upper >= 1.0
    # nominal coverage 0.9 for a density positive at the end point; 5 binomial se of slack
    assert abs(hits / trials - 0.9) <= 5 * math.sqrt(0.09 / trials)
    with pytest.raises(ValueError):
        supremum_bound([1.0])
