"""The quartic instance and the (ell_x, ell_y) lemma of THEORY 3.3 (checks 6 and 14)."""

import math

import pytest
import torch

from hybridsmooth.objectives import quartic
from hybridsmooth.problems import make_problem


def lemma_sides(p, x, y):
    """(LHS, RHS) of (G1), (G2), (G3) with ell_x = 3u^(2/3), ell_y = L_y, at points (x, y)."""
    gx, gy = p.grad(x, y)
    nx2, ny2 = (gx**2).sum(-1), (gy**2).sum(-1)
    g = torch.sqrt(nx2 + ny2)
    lx, ly = p.ell_x(2 * g), p.ell_y(2 * g)
    gap = p.loss(x, y) - p.constants.f_star
    return {"G1": (nx2, 2 * lx * gap), "G2": (ny2, 2 * ly * gap), "G3": (0.5 * (nx2 / lx + ny2 / ly), gap)}


def points(dx, dy, N, seed):
    g = torch.Generator().manual_seed(seed)
    rx = torch.exp(torch.empty(N, 1, dtype=torch.float64).uniform_(-7, 2.5, generator=g))
    ry = torch.exp(torch.empty(N, 1, dtype=torch.float64).uniform_(-7, 2.5, generator=g))
    ux = torch.randn(N, dx, generator=g, dtype=torch.float64)
    uy = torch.randn(N, dy, generator=g, dtype=torch.float64)
    return rx * ux / ux.norm(dim=-1, keepdim=True), ry * uy / uy.norm(dim=-1, keepdim=True)


@pytest.mark.theory
@pytest.mark.parametrize("spec", ["quartic:dx=20,dy=5,n=8,Ly=1.0,hetero=0", "quartic:dx=6,dy=3,n=4,Ly=3.0,hetero=2.0"])
def test_generalized_smoothness_lemma_holds(spec):
    p = make_problem(spec)
    x, y = points(p.d_x, p.d_y, 10_000, seed=1)
    # loss - f_star cancels when f* > 0 and the gap is tiny: keep points where that rounding is < 1e-13
    clean = (p.loss(x, y) - p.constants.f_star) >= 1e-3 * p.constants.f_star
    assert int(clean.sum()) > 5000
    for name, (lhs, rhs) in lemma_sides(p, x[clean], y[clean]).items():
        margin = (rhs - lhs) / rhs
        assert float(margin.min()) >= -1e-12, f"{name} violated"
    # equality in (G2) and (G3) on the axis x = 0. f - f* is computed as loss - f_star, which cancels when
    # f* > 0 and ||y|| is small, so the heterogeneous instance is checked where that rounding is < 1e-13.
    keep = y.norm(dim=-1) > (0.3 if p.constants.f_star > 0 else 0.0)
    sides = lemma_sides(p, torch.zeros_like(x[keep]), y[keep])
    for name in ("G2", "G3"):
        lhs, rhs = sides[name]
        torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=0)
    # (G1) is strict: on y = 0, g = ||x||^3 and LHS/RHS = ||x||^6 / ((3/2)(2g)^{2/3}||x||^4) = (2/3) 2^{-2/3}
    if p.constants.f_star == 0:
        lhs, rhs = lemma_sides(p, x, torch.zeros_like(y))["G1"]
        torch.testing.assert_close(lhs / rhs, torch.full_like(lhs, (2 / 3) * 2 ** (-2 / 3)), rtol=1e-12, atol=0)


def brute_force_gradient_max(p, F, *, grid=200_001):
    """max ||grad f|| over G_F = {1/4||x||^4 + 1/2 L_y ||y||^2 <= F} from the objective's own gradient.

    ||grad f|| depends on (||x||, ||y||) only (f - f* is rotation invariant in each block), and grows with
    ||y|| at fixed ||x||, so a grid over ||x|| on the boundary covers the set; random interior points add a check."""
    Ly = p.constants.L_y
    a = torch.linspace(0, (4 * F) ** 0.25, grid, dtype=torch.float64)
    b = torch.sqrt(torch.clamp(2 / Ly * (F - a**4 / 4), min=0))
    ex, ey = torch.zeros(p.d_x, dtype=torch.float64), torch.zeros(p.d_y, dtype=torch.float64)
    ex[0], ey[0] = 1.0, 1.0
    gx, gy = p.grad(a[:, None] * ex, b[:, None] * ey)
    boundary = torch.cat([gx, gy], -1).norm(dim=-1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20_000, p.d_x, generator=g, dtype=torch.float64)
    y = torch.randn(20_000, p.d_y, generator=g, dtype=torch.float64)
    inside = (p.loss(x, y) - p.constants.f_star) <= F
    interior = torch.cat(p.grad(x[inside], y[inside]), -1).norm(dim=-1)
    assert int(inside.sum()) > 100
    return max(float(boundary.max()), float(interior.max()))


@pytest.mark.theory
@pytest.mark.parametrize("F, Ly", [(0.1, 1.0), (1.0, 1.0), (10.0, 0.5), (0.5, 8.0)])
def test_sublevel_gradient_bound_dominates_brute_force(F, Ly):
    p = make_problem(f"quartic:dx=3,dy=2,n=1,Ly={Ly},hetero=0")
    brute = brute_force_gradient_max(p, F)
    exact = p.sublevel_constants(F).G
    assert brute == pytest.approx(exact, rel=1e-12)  # the end points of the grid attain it
    ell_sum = lambda u: quartic.quartic_ell_x(u) + Ly  # noqa: E731  (G1)+(G2): G_safe
    ell_max = lambda u: max(quartic.quartic_ell_x(u), Ly)  # noqa: E731  valid with (G3)
    G_safe = quartic.gradient_bound_on_sublevel_set(ell_sum, F)
    G_max = quartic.gradient_bound_on_sublevel_set(ell_max, F)
    assert G_max <= G_safe
    assert G_max >= brute * (1 - 1e-12)
    # each G solves its defining equation u^2 = 2 ell(2u) F
    for G, ell in ((G_safe, ell_sum), (G_max, ell_max)):
        assert G**2 == pytest.approx(2 * ell(2 * G) * F, rel=1e-12)


def test_gradient_bound_closed_forms_agree_with_bisection():
    for F in (1e-3, 0.7, 25.0):
        G_pow = quartic.gradient_bound_power_ell(3.0, 2 / 3, F)
        assert quartic.gradient_bound_on_sublevel_set(quartic.quartic_ell_x, F) == pytest.approx(G_pow, rel=1e-12)
        L0x, L1x, L0y, L1y = 1.5, 0.3, 0.5, 2.0
        G_l = quartic.gradient_bound_l0l1(F, L0_x=L0x, L1_x=L1x, L0_y=L0y, L1_y=L1y)
        generic = quartic.gradient_bound_on_sublevel_set(lambda u: L0x + L0y + (L1x + L1y) * u, F)
        assert generic == pytest.approx(G_l, rel=1e-12)
    assert quartic.gradient_bound_on_sublevel_set(quartic.quartic_ell_x, 0.0) == 0.0
    with pytest.raises(ValueError, match="sub-quadratic"):
        quartic.gradient_bound_on_sublevel_set(lambda u: u * u, 1.0)
    with pytest.raises(ValueError, match="below 2"):
        quartic.gradient_bound_power_ell(1.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        quartic.gradient_bound_on_sublevel_set(quartic.quartic_ell_x, -1.0)


@pytest.mark.theory
def test_sublevel_constants_per_sample_bounds():
    p = make_problem("quartic:dx=5,dy=3,n=6,Ly=2.0,hetero=1.0,seed=4")
    F = 2.0
    k = p.sublevel_constants(F)
    assert k.R_x == pytest.approx((4 * F) ** 0.25) and k.L_x == pytest.approx(3 * math.sqrt(4 * F))
    g = torch.Generator().manual_seed(5)
    x = 0.7 * torch.randn(50_000, 5, generator=g, dtype=torch.float64)
    y = 0.7 * torch.randn(50_000, 3, generator=g, dtype=torch.float64)
    inside = (p.loss(x, y) - p.constants.f_star) <= F
    x, y = x[inside], y[inside]
    assert x.shape[0] > 1000
    for i in range(p.n):
        gx, gy = p.grad(x, y, i)
        assert float(gx.norm(dim=-1).max()) <= k.G_x_max * (1 + 1e-12)
        assert float(gy.norm(dim=-1).max()) <= k.G_y_max * (1 + 1e-12)
    # attained: x on the sphere ||x|| = R_x aligned with the largest a_i (y = 0), and y aligned against c_i
    i = int(p.a.norm(dim=1).argmax())
    x_star = k.R_x * p.a[i] / p.a[i].norm()
    assert float(p.grad(x_star, torch.zeros(3, dtype=torch.float64), i)[0].norm()) == pytest.approx(
        k.G_x_max, rel=1e-12
    )
    j = int(p.c.norm(dim=1).argmax())
    y_star = -k.R_y * p.c[j] / p.c[j].norm()
    assert float(p.grad(torch.zeros(5, dtype=torch.float64), y_star, j)[1].norm()) == pytest.approx(
        k.G_y_max, rel=1e-12
    )
    # the L_x on G_F bounds the x-Hessian norm 3||x||^2 there
    assert float(3 * (x**2).sum(-1).max()) <= k.L_x * (1 + 1e-12)
