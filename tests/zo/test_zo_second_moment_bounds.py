"""Check 4 (THEORY 7.4, 4.1, 4.2, 4.4): one-sided second-moment bounds, mean + 4 se <= bound.

Instances: an indefinite quadratic, cos-sum (omega = 2), log-cosh and the signed quadratic, at three random
points and x = 0, mu in {1e-3, 0.3, 1}; both Gaussian forms; d in {1, 10, 100}.
Measured: E||g - grad||^2 <= (D-2) <= (Z-seed-2), E||g||^2 <= (D-1) <= (NS-4); (NS-5) for convex phi.
"""

import pytest
import torch

from hybridsmooth.zo.instances import cos_sum_instance, log_cosh_instance, quadratic_instance, signed_quadratic_instance
from hybridsmooth.zo.moments import d1_second_moment_bound, d2_error_bound, ns4_second_moment_bound, z_seed_2_rhs
from hybridsmooth.zo.monte_carlo import second_moment_bound_checks

pytestmark = pytest.mark.theory

MUS = (1e-3, 0.3, 1.0)
N = 6_000  # 4 points x 3 mu x 6000 = 72k directions per test


def _instance(name, d):
    if name == "quadratic":
        M = torch.randn(d, d, generator=torch.Generator().manual_seed(d), dtype=torch.float64)
        b = torch.randn(d, generator=torch.Generator().manual_seed(d + 1), dtype=torch.float64)
        return quadratic_instance((M + M.T) / (2 * d**0.5), b)
    return {
        "cos-sum": lambda: cos_sum_instance(d, 2.0),
        "log-cosh": lambda: log_cosh_instance(d),
        "signed-quadratic": lambda: signed_quadratic_instance(d, 1.0),
    }[name]()


def _points(d):
    gen = torch.Generator().manual_seed(123 + d)
    return [torch.zeros(d, dtype=torch.float64)] + [
        torch.randn(d, generator=gen, dtype=torch.float64) for _ in range(3)
    ]


@pytest.mark.parametrize("d", [1, 10, 100])
@pytest.mark.parametrize("form", ["central", "forward"])
@pytest.mark.parametrize("name", ["quadratic", "cos-sum", "log-cosh", "signed-quadratic"])
def test_second_moment_bounds(name, form, d):
    inst = _instance(name, d)
    failures = []
    for p, x in enumerate(_points(d)):
        for m, mu in enumerate(MUS):
            checks = second_moment_bound_checks(
                inst.loss, x, grad=inst.grad(x), L=inst.L, mu=mu, form=form, n_samples=N, seed=1000 * p + m
            )
            required = ["D-2", "Z-seed-2", "D-1", "NS-4"] + (["NS-5"] if form == "central" and inst.convex else [])
            failures += [f"{key} at point {p}, mu={mu}: {checks[key]}" for key in required if not checks[key].passed]
    assert not failures, "\n".join(failures)


def test_derived_bounds_are_sharper_than_the_classical_ones():
    """(D-2) <= (Z-seed-2) and (D-1) <= (NS-4) for every d >= 1, whatever ||grad||, mu, L (THEORY 4.1, 4.4)."""
    for d, (g2, mu, L) in ((d, c) for d in range(1, 201) for c in [(0.0, 1.0, 1.0), (1.0, 1e-9, 1.0), (3.0, 0.5, 7.0)]):
        assert d2_error_bound(g2, mu=mu, L=L, d=d) <= z_seed_2_rhs(g2, mu=mu, L=L, d=d)
        assert d1_second_moment_bound(g2, mu=mu, L=L, d=d) <= ns4_second_moment_bound(g2, mu=mu, L=L, d=d)


def test_crude_route_does_not_give_the_seed_constant_at_d1():
    """THEORY 4.1 remark: 2 E||g||^2 + 2||grad||^2 with (NS-4) gives 343 mu^2 L^2 at d = 1, above 108."""
    assert 2 * ns4_second_moment_bound(0.0, mu=1.0, L=1.0, d=1) == pytest.approx(343.0)
    assert z_seed_2_rhs(0.0, mu=1.0, L=1.0, d=1) == pytest.approx(108.0)


def test_bound_check_has_power():
    """A bound that is too small by the measured slack is reported as failed (the check is not vacuous)."""
    inst = _instance("quadratic", 10)
    x = _points(10)[1]
    checks = second_moment_bound_checks(
        inst.loss, x, grad=inst.grad(x), L=inst.L, mu=1e-3, form="central", n_samples=N, seed=0
    )
    c = checks["D-2"]
    assert 1.0 < c.slack < 10.0  # (d+1)||g||^2 measured against 2(d+1)||g||^2 + tiny: slack ~ 2
    from hybridsmooth.zo.monte_carlo import one_sided_check

    assert not one_sided_check(c.computed, c.details["se"], c.theoretical / c.slack * 0.95).passed
