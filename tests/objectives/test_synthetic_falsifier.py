"""Check 15: individual vs average smoothness, the exact RR epoch multiplier and a simulation of it."""

from fractions import Fraction

import pytest
import torch

from hybridsmooth.objectives.counterexamples import falsifier_epoch_multiplier
from hybridsmooth.problems import make_problem


def simulate_epoch(p, eta, order, y0):
    """One epoch of plain FO steps on the y-block in the given sample order; returns y_end / y0."""
    x = torch.zeros(p.d_x, dtype=torch.float64)
    y = y0.clone()
    for i in order:
        y = y - eta * p.grad(x, y, i)[1]
    return y / y0


@pytest.mark.theory
def test_multiplier_at_the_average_smoothness_step_diverges():
    K = 100
    p = make_problem(f"falsifier:K={K}")
    # eta = 1/(8 n L_f) with the L of f (= 1) that the (C1) cap would use if applied to f, not to the f_i
    eta = Fraction(1, 8 * p.n * int(p.constants.L_y))
    assert eta == Fraction(1, 16)
    m = falsifier_epoch_multiplier(eta, K)
    assert isinstance(m, Fraction)  # exact arithmetic
    assert round(float(m), 1) == -37.4  # THEORY check 15 (rounded there)
    assert m == Fraction(1, 1) - eta * K - eta * (2 - K) + eta * eta * K * (2 - K)
    y0 = torch.tensor([1.0, -0.3], dtype=torch.float64)
    p2 = make_problem(f"falsifier:K={K},dy=2")
    for order in ((0, 1), (1, 0)):  # either RR permutation
        ratio = simulate_epoch(p2, float(eta), order, y0)
        torch.testing.assert_close(ratio, torch.full_like(ratio, float(m)), rtol=1e-10, atol=0)
    assert p.epoch_multiplier(eta) == m


@pytest.mark.theory
def test_multiplier_at_the_per_sample_step_converges():
    K = 100
    p = make_problem(f"falsifier:K={K}")
    eta = Fraction(1, 16 * int(p.constants.L_y_max))  # 1/(16 K) from L_max = K
    m = falsifier_epoch_multiplier(eta, K)
    assert 0 < m < 1
    assert round(float(m), 3) == 0.995  # THEORY check 15
    y0 = torch.tensor([2.0], dtype=torch.float64)
    for order in ((0, 1), (1, 0)):
        ratio = simulate_epoch(p, float(eta), order, y0)
        assert float(ratio) == pytest.approx(float(m), rel=1e-10)


def test_multiplier_is_one_step_of_the_average_when_K_is_one():
    # K = 1 makes both samples equal to f: the epoch is two GD steps on 1/2 y^2
    for eta in (Fraction(1, 3), Fraction(1, 10)):
        assert falsifier_epoch_multiplier(eta, 1) == (1 - eta) ** 2
