"""The closed forms of THEORY 4.3 that the other checks lean on, against exact values and Monte Carlo."""

import dataclasses
import math

import pytest
import torch

from hybridsmooth.zo.moments import (
    gaussian_norm_moment,
    ns6_norm_moment_bounds,
    quadratic_curvature_term,
    quadratic_forward_cross_vector,
    quadratic_forward_curvature_outer,
    rademacher_covariance,
    rademacher_error,
    rademacher_norm_moment,
)
from hybridsmooth.zo.monte_carlo import ScalarEstimate, two_sided_check

pytestmark = pytest.mark.theory


def _mc(values):
    values = values.reshape(values.shape[0], -1)
    return values.mean(0), values.std(0) / math.sqrt(values.shape[0])


@pytest.mark.parametrize("d", [1, 2, 10, 100])
def test_gaussian_norm_moments_closed_forms(d):
    assert gaussian_norm_moment(d, 2) == pytest.approx(d, rel=1e-12)
    assert gaussian_norm_moment(d, 4) == pytest.approx(d * (d + 2), rel=1e-12)
    assert gaussian_norm_moment(d, 6) == pytest.approx(d * (d + 2) * (d + 4), rel=1e-12)
    assert gaussian_norm_moment(d, 8) == pytest.approx(d * (d + 2) * (d + 4) * (d + 6), rel=1e-12)
    e3 = 2 * math.sqrt(2) * math.exp(math.lgamma((d + 3) / 2) - math.lgamma(d / 2))
    assert gaussian_norm_moment(d, 3) == pytest.approx(e3, rel=1e-12)
    for p in (0.5, 1.0, 2.0, 3.0, 4.0, 6.0):
        lo, hi = ns6_norm_moment_bounds(d, p)
        assert lo <= gaussian_norm_moment(d, p) * (1 + 1e-12) and gaussian_norm_moment(d, p) <= hi * (1 + 1e-12)
    assert rademacher_norm_moment(d, 4) == d**2


@pytest.mark.parametrize("d", [1, 10])
def test_gaussian_norm_moment_by_monte_carlo(d):
    u = torch.randn(100_000, d, generator=torch.Generator().manual_seed(d), dtype=torch.float64)
    for p in (1.0, 3.0):
        mean, se = _mc(u.norm(dim=-1) ** p)
        assert two_sided_check(float(mean), float(se), gaussian_norm_moment(d, p)).passed


def test_gaussian_norm_moment_rejects_bad_input():
    with pytest.raises(ValueError, match="d >= 1 and p > -d"):
        gaussian_norm_moment(0, 2)
    with pytest.raises(ValueError, match="p >= 0"):
        ns6_norm_moment_bounds(3, -1)


def test_curvature_terms_by_monte_carlo():
    """T_A = E (u^T A u)^2 (dense A) and the diagonal formula for E[(u^T A u)^2 u u^T] (THEORY 4.3)."""
    gen = torch.Generator().manual_seed(4)
    d = 5
    M = torch.randn(d, d, generator=gen, dtype=torch.float64)
    A = (M + M.T) / 2
    u = torch.randn(100_000, d, generator=gen, dtype=torch.float64)
    quad = ((u @ A) * u).sum(-1)
    mean, se = _mc(quad**2)
    assert two_sided_check(float(mean), float(se), quadratic_curvature_term(A)).passed
    a = torch.randn(d, generator=gen, dtype=torch.float64)
    quad = (a * u * u).sum(-1)
    outer = (quad**2)[:, None, None] * u[:, :, None] * u[:, None, :]
    mean, se = _mc(outer)
    exact = quadratic_forward_curvature_outer(a).reshape(-1)
    assert bool(((mean - exact).abs() <= 5 * se + 1e-12).all())
    # forward cross terms: the scalar one in E||g_F||^2 vanishes (odd, degree 5); the vector
    # E[(g^T u)(u^T A u) u] (degree 4) is tr(A) g + 2 A g, not 0 as THEORY 4.3 words it
    g = torch.randn(d, generator=gen, dtype=torch.float64)
    quad = ((u @ A) * u).sum(-1)
    mean, se = _mc((u @ g) * quad * (u * u).sum(-1))
    assert abs(float(mean)) <= 5 * float(se)
    mean, se = _mc((u @ g)[:, None] * quad[:, None] * u)
    exact = quadratic_forward_cross_vector(g, A)
    assert bool(((mean - exact).abs() <= 5 * se).all())
    assert float(exact.abs().max()) > 20 * float(se.max()), "the vector cross term is resolvably nonzero"


def test_rademacher_covariance_trace_and_symmetry():
    g = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    C = rademacher_covariance(g)
    assert torch.allclose(C, C.T)
    assert float(torch.trace(C)) == pytest.approx(rademacher_error(float(g @ g), 4), rel=1e-12)
    assert float(torch.linalg.eigvalsh(C).min()) >= -1e-12


def test_scalar_estimate_is_frozen():
    est = ScalarEstimate(mean=1.0, se=0.1, n_units=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.mean = 2.0


@pytest.mark.parametrize("d", [1, 10])
def test_central_sq_norm_variance_by_monte_carlo(d):
    """Var(||g_C||^2) = [3(d+4)(d+6) - (d+2)^2] ||g||^4 (the error bar of check 1), with the sample
    variance's own se from the fourth central moment."""
    from hybridsmooth.zo.moments import quadratic_central_sq_norm_variance

    gen = torch.Generator().manual_seed(20 + d)
    g = torch.randn(d, generator=gen, dtype=torch.float64)
    u = torch.randn(100_000, d, generator=gen, dtype=torch.float64)
    X = (u @ g) ** 2 * (u * u).sum(-1)  # ||g_C||^2 on a quadratic
    c = X - X.mean()
    var, m4 = float((c**2).mean()), float((c**4).mean())
    se = math.sqrt((m4 - var**2) / X.shape[0])
    assert two_sided_check(var, se, quadratic_central_sq_norm_variance(float(g @ g), d)).passed
