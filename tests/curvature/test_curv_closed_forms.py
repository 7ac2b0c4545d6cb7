"""Block norms, cross norms, joint condition, traces and spectral moments against closed forms."""

import numpy as np
import pytest
import torch

from hybridsmooth.curvature import (
    HessianAtPoint,
    bisect_scale,
    cross_norm,
    hutchinson,
    hutchpp,
    joint_condition,
    lanczos_top_eigs,
    matrix_operator,
    scaled_hessian,
    smallest_valid_lambda,
    spectral_density,
)
from hybridsmooth.objectives.quadratic import make_block_quadratic

DT = torch.float64


def _engine(obj, **kw):
    x, y = obj.initial_point()
    return HessianAtPoint(obj, x, y, **kw)


@pytest.mark.parametrize("coupling", [0.0, 0.4, 0.9])
def test_quadratic_block_norms_and_cross_norm_are_exact(coupling):
    q = make_block_quadratic(dx=30, dy=8, Lx=10.0, Ly=1.0, coupling=coupling, n=5, seed=3)
    e = _engine(q)
    Lx = lanczos_top_eigs(e.operator("xx"), 1, tol=1e-11, max_iter=30)
    Ly = lanczos_top_eigs(e.operator("yy"), 1, tol=1e-11, max_iter=8)
    assert Lx.top == pytest.approx(q.constants.L_x, rel=1e-8)
    assert Ly.top == pytest.approx(q.constants.L_y, rel=1e-8)
    Lxy = cross_norm(e, tol=1e-11)
    assert Lxy.estimate == pytest.approx(q.constants.L_xy, rel=1e-8, abs=1e-12)
    assert Lxy.solver.n_hvp == 2 * (Lxy.solver.iterations + 1)  # the dilation costs two HVPs a product
    if coupling > 0:
        Lxy_pow = cross_norm(e, method="power", tol=1e-10, max_iter=2000)
        assert Lxy_pow.estimate == pytest.approx(q.constants.L_xy, rel=1e-6)


def test_logistic_block_norms_cross_norm_and_trace(logistic):
    x, y = logistic.initial_point()
    H = logistic.exact_hessian(x, y)
    dx = logistic.d_x
    e = HessianAtPoint(logistic, x, y)
    exact_x = float(torch.linalg.matrix_norm(H[:dx, :dx], 2))
    exact_y = float(torch.linalg.matrix_norm(H[dx:, dx:], 2))
    exact_xy = float(torch.linalg.matrix_norm(H[:dx, dx:], 2))
    assert lanczos_top_eigs(e.operator("xx"), 1, tol=1e-11).top == pytest.approx(exact_x, rel=1e-8)
    assert lanczos_top_eigs(e.operator("yy"), 1, tol=1e-11).top == pytest.approx(exact_y, rel=1e-8)
    assert cross_norm(e, tol=1e-11).estimate == pytest.approx(exact_xy, rel=1e-8)
    tr = hutchinson(e.operator("xx"), n_probes=64, seed=0)
    exact_tr = float(torch.trace(H[:dx, :dx]))
    assert abs(tr.estimate - exact_tr) <= 4 * tr.stderr
    assert tr.stderr < 0.2 * exact_tr  # a useful estimate, not a vacuous one
    # per-sample Hessian s_i (1 - s_i) a_i a_i^T is rank one: its norm is its trace
    e3 = HessianAtPoint(logistic, x, y, idx=3)
    H3 = logistic.exact_hessian(x, y, idx=3)
    assert lanczos_top_eigs(e3.operator("full"), 1, tol=1e-12).top == pytest.approx(float(torch.trace(H3)), rel=1e-9)


@pytest.mark.theory
@pytest.mark.parametrize("s", [0.0, 0.3, 0.9])
def test_joint_condition_is_one_plus_s_on_coupled_quadratic(s):
    """THEORY 3.2 counterexample 2: H = [[aI, B], [B^T, cI]], L_x = a, L_y = c:
    lambda_max(M) = 1 + s, lambda_min = 1 - s."""
    a, c = 2.0, 0.5
    q = make_block_quadratic(
        dx=5, dy=5, Lx=a, Ly=c, spectrum_x="isotropic", spectrum_y="isotropic", coupling=s, n=3, seed=1
    )
    e = _engine(q)
    # the block constants are exactly (a, c) ...
    assert lanczos_top_eigs(e.operator("xx"), 1, tol=1e-12).top == pytest.approx(a, rel=1e-12)
    assert lanczos_top_eigs(e.operator("yy"), 1, tol=1e-12).top == pytest.approx(c, rel=1e-12)
    # ... and still grad^2 f is not below Lambda = diag(a I, c I) when s > 0
    jc = joint_condition(e, a, c, tol=1e-12)
    computed, theoretical = jc.lambda_max, 1.0 + s
    assert computed == pytest.approx(theoretical, rel=1e-8)
    assert jc.lambda_min == pytest.approx(1.0 - s, rel=1e-8, abs=1e-10)
    assert jc.holds_upper == (s == 0.0)
    # with 2 Lambda (H is PSD, THEORY 3.2 item 3) the upper condition holds
    assert joint_condition(e, 2 * a, 2 * c, tol=1e-12).lambda_max <= 1.0 + 1e-12


def test_smallest_valid_lambda_along_rays_matches_dense_and_bisection():
    q = make_block_quadratic(dx=12, dy=6, Lx=4.0, Ly=1.0, coupling=0.7, n=3, seed=2)
    H = q.H
    e = _engine(q)
    ratios = [0.5, 4.0, 20.0]
    curve = smallest_valid_lambda([e], ratios, side="two_sided", tol=1e-12)
    for r, point in zip(ratios, curve):
        d = torch.cat([torch.full((12,), r, dtype=DT), torch.ones(6, dtype=DT)]) ** -0.5
        M = d[:, None] * H * d[None, :]
        t_exact = float(torch.linalg.matrix_norm(M, 2))
        assert point.L_y == pytest.approx(t_exact, rel=1e-9)
        assert point.L_x == pytest.approx(r * t_exact, rel=1e-9)
        # a bisection with the (R1) predicate at the dense level finds the same scale
        ev = torch.linalg.eigvalsh(M)

        def valid(t):
            return bool(ev.abs().max() <= t)

        assert bisect_scale(valid, lo=0.0, hi=100.0, rtol=1e-10) == pytest.approx(t_exact, rel=1e-9)
    # more coupling forces a larger Lambda on the same ray than the block norms alone
    assert curve[1].L_x > q.constants.L_x or curve[1].L_y > q.constants.L_y
    with pytest.raises(ValueError, match="positive"):
        smallest_valid_lambda([e], [-1.0])


def test_smallest_valid_lambda_over_points_takes_the_maximum(logistic):
    x, y = logistic.initial_point()
    engines = [HessianAtPoint(logistic, x * k, y * k) for k in (0.0, 1.0, 3.0)]
    (pt,) = smallest_valid_lambda(engines, [2.0], tol=1e-10)
    assert pt.L_y == pytest.approx(max(pt.per_point), rel=1e-12)
    assert len(set(round(v, 8) for v in pt.per_point)) == 3


def test_hutchpp_is_exact_for_low_rank_and_beats_hutchinson():
    g = torch.Generator().manual_seed(0)
    U = torch.randn(200, 5, generator=g, dtype=DT)
    A = U @ U.T
    res = hutchpp(matrix_operator(A), n_matvecs=30, seed=0)
    assert res.estimate == pytest.approx(float(torch.trace(A)), rel=1e-10)
    assert res.n_hvp == 30
    # a decaying spectrum: Hutch++ error well below Hutchinson's at the same budget
    Q, _ = torch.linalg.qr(torch.randn(200, 200, generator=g, dtype=DT))
    B = (Q * (1.0 / torch.arange(1, 201, dtype=DT) ** 2)) @ Q.T
    exact = float(torch.trace(B))
    errs_pp = [abs(hutchpp(matrix_operator(B), n_matvecs=30, seed=s).estimate - exact) for s in range(10)]
    errs_h = [abs(hutchinson(matrix_operator(B), n_probes=30, seed=s).estimate - exact) for s in range(10)]
    assert np.mean(errs_pp) < 0.5 * np.mean(errs_h)


def test_slq_moments_match_traces_of_powers(logistic):
    x, y = logistic.initial_point()
    H = logistic.exact_hessian(x, y)
    e = HessianAtPoint(logistic, x, y)
    op = e.operator("full")
    dens = spectral_density(op, n_probes=20, n_steps=8, seed=0)
    d = H.shape[0]
    g = torch.Generator().manual_seed(0)
    Z = (2 * torch.randint(0, 2, (20, d), generator=g) - 1).to(DT)  # the same Rademacher probes
    for k in (1, 2, 3):
        est, se = dens.moment(k)
        Hk = torch.linalg.matrix_power(H, k)
        # Gauss quadrature with m = 8 nodes is exact for degree <= 15: equals the probe average exactly
        probe_avg = float(((Z @ Hk) * Z).sum(1).mean() / d)
        assert est == pytest.approx(probe_avg, rel=1e-9)
        assert abs(est - float(torch.trace(Hk)) / d) <= 4 * se
    assert np.allclose(dens.weights.sum(1), 1.0)
    grid = np.linspace(-1.0, 2.0, 3001)
    rho = dens.on_grid(grid, sigma=0.02)
    assert np.trapezoid(rho, grid) == pytest.approx(1.0, abs=1e-3)
    assert dens.n_hvp == 20 * 8


def test_scaled_hessian_is_symmetric_and_scaled(logistic):
    x, y = logistic.initial_point()
    e = HessianAtPoint(logistic, x, y)
    op = scaled_hessian(e, 4.0, 0.25)
    H = logistic.exact_hessian(x, y)
    d = torch.cat([torch.full((logistic.d_x,), 0.5, dtype=DT), torch.full((logistic.d_y,), 2.0, dtype=DT)])
    v = torch.linspace(-1, 1, H.shape[0], dtype=DT)
    assert torch.allclose(op.matvec(v), d * (H @ (d * v)), atol=1e-14)
    assert op.symmetric
    with pytest.raises(ValueError, match="positive"):
        scaled_hessian(e, 0.0, 1.0)
