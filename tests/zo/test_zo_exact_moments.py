"""Check 1 (THEORY 7.1, 4.3): exact ZO moments on quadratics, measured by Monte Carlo within 5 se."""

import math

import pytest
import torch

from hybridsmooth.rng import zo_generator
from hybridsmooth.zo.estimators import draw_directions, zo_gradient_along
from hybridsmooth.zo.instances import quadratic_instance
from hybridsmooth.zo.moments import (
    quadratic_central_covariance,
    quadratic_central_error,
    quadratic_central_second_moment,
    quadratic_central_sq_norm_variance,
    quadratic_curvature_term,
    quadratic_forward_error,
    quadratic_forward_second_moment,
    rademacher_covariance,
    rademacher_error,
    rademacher_second_moment,
)
from hybridsmooth.zo.monte_carlo import monte_carlo_moments, two_sided_check

pytestmark = pytest.mark.theory

K = 5.0  # standard errors (THEORY 4.6)
CASES = [(d, mu, kind) for d in (1, 10, 100) for mu in (1e-3, 0.3) for kind in ("diag", "dense")]


def _problem(d, kind, seed):
    gen = torch.Generator().manual_seed(1000 * d + seed + (0 if kind == "diag" else 1))
    if kind == "diag":
        A = torch.diag(2 * torch.randn(d, generator=gen, dtype=torch.float64))
    else:
        M = torch.randn(d, d, generator=gen, dtype=torch.float64)
        A = (M + M.T) / math.sqrt(2 * d)
    b = torch.randn(d, generator=gen, dtype=torch.float64)
    x = torch.randn(d, generator=gen, dtype=torch.float64)
    return quadratic_instance(A, b), A, x


def _n(d):
    # d = 100 with a dense A costs N d^2 per evaluation; 2e4 keeps the test fast and 5 se stays exact
    return 100_000 if d <= 10 else 20_000


def _assert_vector_close(measured, se, exact, what):
    bad = (measured - exact).abs() > K * se + 1e-10 * exact.abs().max().clamp(min=1e-300)
    assert not bool(bad.any()), f"{what}: max z = {float(((measured - exact).abs() / se).max()):.2f}"


def _assert_check(check, what):
    assert check.passed, (
        f"{what}: measured {check.computed:.6g} vs exact {check.theoretical:.6g}, z = {check.details['z']:.2f}"
    )


@pytest.mark.parametrize("d,mu,kind", CASES)
def test_central_moments(d, mu, kind):
    inst, A, x = _problem(d, kind, 0)
    g = inst.grad(x)
    g2 = float(g @ g)
    mc = monte_carlo_moments(
        inst.loss, x, mu=mu, form="central", n_samples=_n(d), seed=11, grad=g, second_moment=d <= 10
    )
    _assert_vector_close(mc.mean, mc.mean_se, g, "E g_C = g")
    # se of E||g_C||^2 from the exact variance, as THEORY 7.1 prescribes
    se_exact = math.sqrt(quadratic_central_sq_norm_variance(g2, d) / mc.n_units)
    _assert_check(
        two_sided_check(mc.sq_norm, se_exact, quadratic_central_second_moment(g2, d), k=K), "E||g_C||^2 = (d+2)||g||^2"
    )
    _assert_check(
        two_sided_check(mc.err_sq_norm, mc.err_sq_norm_se, quadratic_central_error(g2, d), k=K),
        "E||g_C - g||^2 = (d+1)||g||^2",
    )
    if d <= 10:
        exact = quadratic_central_covariance(g) + torch.outer(g, g)  # E[g_C g_C^T] (mean is g)
        _assert_vector_close(mc.second_moment, mc.second_moment_se, exact, "Cov_C = ||g||^2 I + g g^T")


@pytest.mark.parametrize("d,mu,kind", CASES)
def test_forward_moments(d, mu, kind):
    inst, A, x = _problem(d, kind, 1)
    g = inst.grad(x)
    g2, T_A = float(g @ g), quadratic_curvature_term(A)
    mc = monte_carlo_moments(inst.loss, x, mu=mu, form="forward", n_samples=_n(d), seed=12, grad=g)
    _assert_vector_close(mc.mean, mc.mean_se, g, "E g_F = g")
    _assert_check(
        two_sided_check(mc.sq_norm, mc.sq_norm_se, quadratic_forward_second_moment(g2, d, mu=mu, T_A=T_A), k=K),
        "E||g_F||^2 = (d+2)||g||^2 + (mu^2/4)(d+4)T_A",
    )
    _assert_check(
        two_sided_check(mc.err_sq_norm, mc.err_sq_norm_se, quadratic_forward_error(g2, d, mu=mu, T_A=T_A), k=K),
        "E||g_F - g||^2",
    )


@pytest.mark.parametrize("d,kind", [(d, k) for d in (1, 10, 100) for k in ("diag", "dense")])
def test_forward_curvature_term_alone_at_the_stationary_point(d, kind):
    """At g = 0 the forward estimator is pure curvature, (mu/2)(u^T A u) u, so the T_A term is all there is."""
    inst, A, _ = _problem(d, kind, 2)
    x_star = torch.linalg.solve(A, -inst.grad(torch.zeros(d, dtype=torch.float64)))
    g = inst.grad(x_star)
    assert float(g.norm()) < 1e-8 * (1 + float(x_star.norm()))
    mu, T_A = 0.3, quadratic_curvature_term(A)
    mc = monte_carlo_moments(inst.loss, x_star, mu=mu, form="forward", n_samples=_n(d), seed=13)
    exact = quadratic_forward_second_moment(0.0, d, mu=mu, T_A=T_A)
    assert exact > 0
    _assert_check(two_sided_check(mc.sq_norm, mc.sq_norm_se, exact, k=K), "E||g_F||^2 at g = 0")
    _assert_vector_close(mc.mean, mc.mean_se, torch.zeros(d, dtype=torch.float64), "E g_F = 0 at g = 0")


@pytest.mark.parametrize("d,mu,kind", CASES)
def test_rademacher_moments(d, mu, kind):
    inst, A, x = _problem(d, kind, 3)
    g = inst.grad(x)
    g2 = float(g @ g)
    mc = monte_carlo_moments(inst.loss, x, mu=mu, form="spsa", n_samples=_n(d), seed=14, grad=g, second_moment=d <= 10)
    _assert_vector_close(mc.mean, mc.mean_se, g, "E g_S = g")
    _assert_check(
        two_sided_check(mc.sq_norm, mc.sq_norm_se, rademacher_second_moment(g2, d), k=K), "E||g_S||^2 = d||g||^2"
    )
    # at d = 1, g_S = (g v) v = g exactly: the error is 0 up to rounding of ||g||^2
    _assert_check(
        two_sided_check(mc.err_sq_norm, mc.err_sq_norm_se, rademacher_error(g2, d), k=K, atol=1e-12 * g2),
        "E||g_S - g||^2 = (d-1)||g||^2",
    )
    if d <= 10:
        exact = rademacher_covariance(g) + torch.outer(g, g)
        _assert_vector_close(mc.second_moment, mc.second_moment_se, exact, "Cov_S")


@pytest.mark.parametrize("mu", [1e-3, 0.3])
def test_central_estimator_is_exactly_the_projection_on_a_quadratic(mu):
    """g_C = (g^T u) u for every mu, to float rounding (relative 1e-8, THEORY 7 conventions)."""
    inst, A, x = _problem(10, "dense", 4)
    g = inst.grad(x)
    u = draw_directions((1, 500, 10), form="central", generator=zo_generator(0, 0, 0))
    est = zo_gradient_along(inst.loss, x.expand(500, 10), u, mu=mu, form="central").grad
    exact = (u[0] @ g).unsqueeze(-1) * u[0]
    assert torch.allclose(est, exact, rtol=1e-8, atol=1e-8 * float(exact.abs().max()))
    # forward: g_F = (g^T u) u + (mu/2)(u^T A u) u exactly
    est_f = zo_gradient_along(inst.loss, x.expand(500, 10), u, mu=mu, form="forward").grad
    exact_f = exact + 0.5 * mu * (((u[0] @ A) * u[0]).sum(-1)).unsqueeze(-1) * u[0]
    assert torch.allclose(est_f, exact_f, rtol=1e-8, atol=1e-8 * float(exact_f.abs().max()))


def test_monte_carlo_detects_a_mis_scaled_estimator():
    """The 5-se checks have power: a 2% scale error in the estimator fails the second-moment check."""
    inst, A, x = _problem(10, "dense", 5)
    g = inst.grad(x)
    g2 = float(g @ g)
    scaled = lambda z: 1.02 * inst.loss(z)  # noqa: E731
    mc = monte_carlo_moments(scaled, x, mu=1e-3, form="central", n_samples=100_000, seed=15)
    se_exact = math.sqrt(quadratic_central_sq_norm_variance(g2, 10) / mc.n_units)
    assert not two_sided_check(mc.sq_norm, se_exact, quadratic_central_second_moment(g2, 10), k=K).passed


@pytest.mark.slow
@pytest.mark.parametrize("mu,kind", [(1e-3, "diag"), (0.3, "dense")])
def test_central_covariance_entrywise_at_d100(mu, kind):
    """The d = 100 version of the covariance check (10^4 entries, ~6 s each); d <= 10 covers it fast."""
    inst, A, x = _problem(100, kind, 0)
    g = inst.grad(x)
    mc = monte_carlo_moments(inst.loss, x, mu=mu, form="central", n_samples=20_000, seed=11, grad=g, second_moment=True)
    _assert_vector_close(
        mc.second_moment, mc.second_moment_se, quadratic_central_covariance(g) + torch.outer(g, g), "Cov_C at d = 100"
    )
