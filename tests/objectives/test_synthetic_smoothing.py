"""Exact Gaussian smoothing of the ZO bias instances (THEORY 4.5) against Monte Carlo (antithetic, 5 se)."""

import math

import pytest
import torch

from hybridsmooth.problems import make_problem

N = 100_000


def directions(d, seed):
    return torch.randn(N, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def mc_smoothed_value(p, x, y, mu, seed):
    """E_u f(x + mu u, y) from antithetic pairs (f(x + mu u) + f(x - mu u)) / 2: mean and standard error."""
    u = directions(p.d_x, seed)
    v = 0.5 * (p.loss(x + mu * u, y) + p.loss(x - mu * u, y))
    return float(v.mean()), float(v.std() / math.sqrt(N))


def mc_central_estimate(p, x, y, mu, seed):
    """E of the central ZO estimate [f(x + mu u) - f(x - mu u)]/(2 mu) u (antithetic in u by construction)."""
    u = directions(p.d_x, seed)
    phi = (p.loss(x + mu * u, y) - p.loss(x - mu * u, y)) / (2 * mu)
    g = phi[:, None] * u
    return g.mean(0), g.std(0) / math.sqrt(N)


def assert_within_5se(estimate, se, exact):
    z = (torch.as_tensor(estimate) - torch.as_tensor(exact)).abs() / torch.as_tensor(se)
    assert float(z.max()) <= 5.0, f"Monte Carlo off by {float(z.max()):.2f} se"


@pytest.mark.theory
@pytest.mark.parametrize("mu", [0.05, 0.4])
def test_cossum_smoothed_value_and_bias_match_monte_carlo(mu):
    omega, d = 2.0, 5
    p = make_problem(f"cossum:dx={d},dy=2,omega={omega},Ly=0.5")
    g = torch.Generator().manual_seed(3)
    x = torch.randn(d, generator=g, dtype=torch.float64)
    y = torch.randn(2, generator=g, dtype=torch.float64)
    factor = math.exp(-0.5 * omega**2 * mu**2)
    # closed forms of THEORY 4.5, written out independently of the class
    exact_value = factor * float(torch.cos(omega * x).sum()) + 0.25 * float(y @ y)
    exact_bias = (factor - 1) * (-omega * torch.sin(omega * x))
    assert float(p.smoothed_loss(x, y, mu)) == pytest.approx(exact_value, rel=1e-14)
    torch.testing.assert_close(p.smoothing_bias(x, y, mu), exact_bias, rtol=1e-13, atol=1e-16)

    value, se = mc_smoothed_value(p, x, y, mu, seed=10)
    assert_within_5se(value, se, exact_value)
    mean, se_g = mc_central_estimate(p, x, y, mu, seed=11)
    grad = p.grad(x, y)[0]
    assert_within_5se(mean - grad, se_g, exact_bias)
    if mu >= 0.4:  # the check has power: the bias is many se away from zero
        assert float((exact_bias.abs() / se_g).max()) > 20
    # smoothing gap (NS-1): |f_mu - f| <= (mu^2/2) L d
    gap = abs(exact_value - float(p.loss(x, y)))
    assert gap <= 0.5 * mu**2 * omega**2 * d


@pytest.mark.theory
def test_cossum_gap_is_tight_at_zero_as_mu_shrinks():
    p = make_problem("cossum:dx=3,dy=1,omega=2.0")
    x, y = torch.zeros(3, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    for mu in (1e-1, 1e-2, 1e-3):
        gap = float(p.loss(x, y) - p.smoothed_loss(x, y, mu))
        bound = 0.5 * mu**2 * 4.0 * 3
        assert gap <= bound and gap / bound > 1 - mu**2 * 4.0  # 1 - e^{-a} >= a - a^2/2


@pytest.mark.theory
@pytest.mark.parametrize("mu", [0.1, 0.5])
def test_signedquad_bias_at_zero_is_exact(mu):
    L, d = 2.5, 6
    p = make_problem(f"signedquad:dx={d},dy=1,L={L}")
    x, y = torch.zeros(d, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    expected = L * mu * math.sqrt(2 / math.pi)
    torch.testing.assert_close(
        p.smoothed_grad_x(x, y, mu), torch.full((d,), expected, dtype=torch.float64), rtol=1e-15, atol=0
    )
    assert float(p.smoothing_bias(x, y, mu).norm()) == pytest.approx(L * mu * math.sqrt(2 * d / math.pi), rel=1e-14)
    assert p.bias_norm_at_zero(mu) == pytest.approx(L * mu * math.sqrt(2 * d / math.pi), rel=1e-15)
    mean, se = mc_central_estimate(p, x, y, mu, seed=20)
    assert_within_5se(mean, se, torch.full((d,), expected, dtype=torch.float64))
    assert float((expected / se).min()) > 20  # powered
    # bias norm is within the (NS-2) bound (mu/2) L (d + 3)^{3/2}
    assert p.bias_norm_at_zero(mu) <= 0.5 * mu * L * (d + 3) ** 1.5


@pytest.mark.theory
def test_signedquad_smoothing_away_from_zero_matches_monte_carlo():
    L, d, mu = 1.5, 4, 0.7
    p = make_problem(f"signedquad:dx={d},dy=2,L={L},Ly=3.0")
    x = torch.tensor([0.3, -1.2, 0.05, 2.0], dtype=torch.float64)
    y = torch.tensor([0.5, -0.5], dtype=torch.float64)
    value, se = mc_smoothed_value(p, x, y, mu, seed=30)
    assert_within_5se(value, se, float(p.smoothed_loss(x, y, mu)))
    mean, se_g = mc_central_estimate(p, x, y, mu, seed=31)
    assert_within_5se(mean, se_g, p.smoothed_grad_x(x, y, mu))
    # far from the kink relative to mu the smoothing leaves the gradient L|x| (tails e^{-x^2/2mu^2})
    far = torch.tensor([40.0, -40.0, 40.0, -40.0], dtype=torch.float64)
    torch.testing.assert_close(p.smoothed_grad_x(far, y, mu), p.grad(far, y)[0], rtol=1e-15, atol=0)


def test_bias_order_in_mu():
    """Slopes of log bias vs log mu: 2 for cos-sum (C^3), 1 for the signed quadratic at 0 (exact formulas)."""
    cos = make_problem("cossum:dx=4,dy=1,omega=2.0")
    sq = make_problem("signedquad:dx=4,dy=1")
    x = torch.tensor([0.3, 1.0, -0.7, 2.0], dtype=torch.float64)
    y = torch.zeros(1, dtype=torch.float64)
    mus = torch.logspace(-3, -1, 7, dtype=torch.float64)
    b_cos = torch.stack([cos.smoothing_bias(x, y, float(m)).norm() for m in mus])
    b_sq = torch.stack([sq.smoothing_bias(torch.zeros(4, dtype=torch.float64), y, float(m)).norm() for m in mus])
    slope = lambda b: float(
        torch.linalg.lstsq(
            torch.stack([mus.log(), torch.ones_like(mus)], 1),  # noqa: E731
            b.log().unsqueeze(1),
        ).solution[0]
    )
    assert slope(b_cos) == pytest.approx(2.0, abs=0.05)
    assert slope(b_sq) == pytest.approx(1.0, abs=1e-10)
