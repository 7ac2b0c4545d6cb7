"""Check 2 (THEORY 7.2, 4.5, 4.6): the bias of the ZO estimator, its order in mu, and the NS bias bound.

cos-sum (omega = 2): bias = (e^{-omega^2 mu^2/2} - 1) grad phi, O(mu^2).
signed quadratic at x = 0 (L = 1): bias = L mu sqrt(2/pi) per coordinate, norm L mu sqrt(2d/pi), O(mu).

How the bias is measured: the plain mean of g_C has noise ~ sqrt(d)||g||/sqrt(N), far above the cos-sum bias
(~2e-6 ||g|| at mu = 1e-3). We use the control variate g_C - (g^T u) u (same mean, since E(g^T u)u = g),
whose noise is itself O(mu^2), so Monte Carlo resolves the bias at every mu in [1e-3, 1e-1] to a few percent
and the slopes are fitted on measured values, not on the formula. Antithetic pairs would not help here:
g_C(-u) = g_C(u) identically (tested below).
"""

import math

import numpy as np
import pytest
import torch

from hybridsmooth.rng import zo_generator
from hybridsmooth.zo.estimators import draw_directions, zo_gradient_along
from hybridsmooth.zo.instances import cos_sum_instance, signed_quadratic_instance
from hybridsmooth.zo.moments import ns2_bias_bound, z_seed_1_rhs
from hybridsmooth.zo.monte_carlo import monte_carlo_moments, one_sided_check

pytestmark = pytest.mark.theory

MUS = np.geomspace(1e-3, 1e-1, 5)
N = 20_000  # per mu: 1e5 directions per test
K = 5.0


def _measure_bias(inst, x, mu, seed):
    mc = monte_carlo_moments(
        inst.loss, x, mu=float(mu), form="central", n_samples=N, seed=seed, grad=inst.grad(x), control_variate=True
    )
    exact = inst.smoothed_grad(x, float(mu)) - inst.grad(x)
    return mc, exact


def _norm_and_se(bias, se):
    norm = float(bias.norm())
    return norm, float(torch.sqrt(((bias / norm) ** 2 * se**2).sum()))  # delta method


def _slope(mus, values):
    return float(np.polyfit(np.log(mus), np.log(values), 1)[0])


@pytest.mark.parametrize("d", [1, 20])
def test_cos_sum_bias_is_exact_and_second_order(d):
    inst = cos_sum_instance(d, omega=2.0)
    x = torch.randn(d, generator=torch.Generator().manual_seed(d), dtype=torch.float64)
    measured = []
    for i, mu in enumerate(MUS):
        mc, exact = _measure_bias(inst, x, mu, seed=100 + i)
        # exact bias = (e^{-w^2 mu^2/2} - 1) grad phi, coordinate by coordinate, within 5 se
        z = ((mc.bias - exact).abs() / mc.bias_se).max()
        assert float(z) <= K, f"mu={mu:.1e}: max z = {float(z):.2f}"
        norm, se = _norm_and_se(mc.bias, mc.bias_se)
        assert se < 0.1 * norm, "the control variate must resolve the bias (else the slope is noise)"
        measured.append(norm)
        bound = ns2_bias_bound(mu=float(mu), L=inst.L, d=d)
        assert one_sided_check(norm, se, bound).passed  # (NS-2)
        unit = exact / exact.norm()  # g = bias direction
        proj = float(mc.bias @ unit)
        proj_se = float(torch.sqrt((unit**2 * mc.bias_se**2).sum()))
        assert one_sided_check(proj, proj_se, z_seed_1_rhs(mu=float(mu), L=inst.L, d=d, g_norm=1.0)).passed
    slope = _slope(MUS, measured)
    assert abs(slope - 2.0) <= 0.15, f"fitted bias order {slope:.3f}, expected 2"


@pytest.mark.parametrize("d", [1, 20])
def test_signed_quadratic_bias_at_zero_is_first_order(d):
    inst = signed_quadratic_instance(d, L=1.0)
    x = torch.zeros(d, dtype=torch.float64)
    measured = []
    for i, mu in enumerate(MUS):
        mc, exact = _measure_bias(inst, x, mu, seed=200 + i)
        assert torch.allclose(exact, torch.full((d,), mu * math.sqrt(2 / math.pi), dtype=torch.float64))
        z = ((mc.bias - exact).abs() / mc.bias_se).max()
        assert float(z) <= K, f"mu={mu:.1e}: max z = {float(z):.2f}"
        norm, se = _norm_and_se(mc.bias, mc.bias_se)
        expected_norm = inst.L * mu * math.sqrt(2 * d / math.pi)
        assert abs(norm - expected_norm) <= K * se
        measured.append(norm)
        assert one_sided_check(norm, se, ns2_bias_bound(mu=float(mu), L=inst.L, d=d)).passed
    slope = _slope(MUS, measured)
    assert abs(slope - 1.0) <= 0.15, f"fitted bias order {slope:.3f}, expected 1"


def test_signed_quadratic_smoothed_gradient_off_zero():
    """The folded-normal formula for grad phi_mu at a generic x (used by check 4) agrees with Monte Carlo."""
    inst = signed_quadratic_instance(8, L=2.0)
    x = 0.2 * torch.randn(8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mc, exact = _measure_bias(inst, x, 0.1, seed=300)
    assert float(((mc.bias - exact).abs() / mc.bias_se).max()) <= K


def test_central_estimator_is_even_in_the_direction():
    """g_C(-u) = g_C(u) bitwise, so antithetic pairs (u, -u) cannot reduce the central form's variance."""
    inst = cos_sum_instance(5)
    x = torch.randn(5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    u = draw_directions((1, 64, 5), form="central", generator=zo_generator(0, 0, 0))
    a = zo_gradient_along(inst.loss, x.expand(64, 5), u, mu=0.05, form="central").grad
    b = zo_gradient_along(inst.loss, x.expand(64, 5), -u, mu=0.05, form="central").grad
    assert torch.equal(a, b)
    plain = monte_carlo_moments(inst.loss, x, mu=0.05, form="central", n_samples=4000, seed=1)
    pairs = monte_carlo_moments(inst.loss, x, mu=0.05, form="central", n_samples=8000, seed=1, antithetic=True)
    # 4000 pairs of duplicates are 4000 draws: same numbers
    assert torch.allclose(plain.mean, pairs.mean, rtol=0, atol=1e-12) and plain.n_units == pairs.n_units


def test_antithetic_forward_is_the_central_estimator():
    """(g_F(u) + g_F(-u))/2 = g_C(u): antithetic forward pairs give the central bias, to rounding."""
    inst = cos_sum_instance(6)
    x = torch.randn(6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    g = inst.grad(x)
    fwd = monte_carlo_moments(
        inst.loss, x, mu=0.05, form="forward", n_samples=8000, seed=2, grad=g, antithetic=True, control_variate=True
    )
    cen = monte_carlo_moments(
        inst.loss, x, mu=0.05, form="central", n_samples=4000, seed=2, grad=g, control_variate=True
    )
    assert torch.allclose(fwd.bias, cen.bias, rtol=1e-6, atol=1e-12)
    plain_fwd = monte_carlo_moments(
        inst.loss, x, mu=0.05, form="forward", n_samples=4000, seed=2, grad=g, control_variate=True
    )
    # without pairing, the forward form's O(mu) odd noise dominates the bias estimate
    assert float(plain_fwd.bias_se.max()) > 10 * float(fwd.bias_se.max())
