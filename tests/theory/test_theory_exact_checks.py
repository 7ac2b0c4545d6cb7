"""Checks 8 (theorem region inside the exact stability region), 13 (s_exact) and 14 (the F fixed point)."""

import math

import numpy as np
import pytest

from hybridsmooth.theory import bounds, suite
from hybridsmooth.theory.claims import check08_region_inclusion as c8
from hybridsmooth.theory.claims import check13_two_step_speedup as c13
from hybridsmooth.theory.sublevel_fixed_point import check14_F_fixed_point

pytestmark = pytest.mark.theory


def _kron_operator(H, d_x, eta_x, eta_y):
    """The check-8 map as (I - DH) kron (I - DH) + eta_x^2 [vec(I_x) tr-row + (H_x kron H_x)] on row-major vec(P):
    an independent construction of the operator ``recursions`` builds column by column."""
    d = H.shape[0]
    K = np.eye(d) - np.r_[np.full(d_x, eta_x), np.full(d - d_x, eta_y)][:, None] * H
    Hx = np.zeros((d, d))
    Hx[:d_x] = H[:d_x]
    Qxx = np.kron(Hx, Hx)
    Ix = np.zeros((d, d))
    Ix[:d_x, :d_x] = np.eye(d_x)
    return np.kron(K, K) + eta_x**2 * (np.outer(Ix.reshape(-1), Ix.reshape(-1) @ Qxx) + Qxx)


def test_kron_operator_matches_the_recursion():
    from hybridsmooth.theory.recursions import hybrid_second_moment_operator, hybrid_second_moment_step

    rng = np.random.default_rng(3)
    H = c8.random_psd_hessian(4, 3, seed=3)
    W = rng.standard_normal((7, 7))
    P = W @ W.T
    for ex, ey in ((0.01, 0.3), (0.2, 0.05)):
        direct = hybrid_second_moment_step(P, H, 4, ex, ey)
        via = (_kron_operator(H, 4, ex, ey) @ P.reshape(-1)).reshape(7, 7)
        assert np.allclose(via, direct, rtol=1e-12, atol=1e-12)
        assert np.allclose(
            hybrid_second_moment_operator(H, 4, ex, ey), _kron_operator(H, 4, ex, ey), rtol=1e-12, atol=1e-14
        )
        rho = np.max(np.abs(np.linalg.eigvals(_kron_operator(H, 4, ex, ey))))
        assert c8.second_moment_radius(H, 4, ex, ey) == pytest.approx(rho, rel=1e-12)


def test_check8_theorem_region_strictly_inside():
    res = c8.check8_region_inclusion(seeds=range(5))
    assert len(res) == 5
    for r in res:
        assert r.verdict == "pass" and r.computed < 1.0
        d = r.details
        assert d["joint_scale_to_edge"] > 1.0 and d["x_scale_to_edge"] > 1.0 and d["y_scale_to_edge"] > 1.0
        # negative control: just beyond the measured edge the second moment diverges
        H = c8.random_psd_hessian(4, 3, seed=int(r.instance.split("seed=")[1]))
        t = 1.01 * d["joint_scale_to_edge"]
        assert c8.second_moment_radius(H, 4, t * d["cap_x"], t * d["cap_y"]) > 1.0


def test_check13_s_exact():
    for r in c13.check13_s_exact():
        assert r.verdict == "pass", r


@pytest.mark.parametrize("T,mu", [(10, 0.0), (1000, 1e-3), (10**5, 0.0)])
def test_check14_fixed_point(T, mu):
    fp = check14_F_fixed_point(T=T, mu=mu, delta=0.1)
    assert fp.converged and fp.F is not None
    from hybridsmooth.objectives.quartic import make_quartic

    q = make_quartic(dx=20, dy=5, n=8)
    x0, y0 = q.initial_point()
    gap0 = float(q.loss(x0, y0)) - q.constants.f_star
    assert fp.F >= 8 * gap0 / 0.1
    N = bounds.N_epoch(
        fp.eta_x,
        fp.eta_y,
        mu,
        n=8,
        d_x=20,
        Lambda_x=fp.L_x,
        Lambda_y=1.0,
        sx2=q.constants.sigma2_x,
        sy2=q.constants.sigma2_y,
    )
    assert fp.F == pytest.approx(8 / 0.1 * (gap0 + T * N), rel=1e-10)
    assert fp.L_x == pytest.approx(3 * math.sqrt(4 * fp.F), rel=1e-12)
    assert fp.G_x_max == pytest.approx((4 * fp.F) ** 0.75 + float(np.linalg.norm(q.a.numpy(), axis=1).max()), rel=1e-12)


def test_check14_iteration_is_not_monotone_without_smoothing():
    # THEORY check 14 says the iteration is monotone. With mu = 0, N_epoch(eta(F)) decreases in F
    # (eta_x ~ 1/L_x(F)), so the map is decreasing and the iterates oscillate around the fixed point.
    fp = check14_F_fixed_point(T=1000, mu=0.0)
    assert fp.converged and not fp.monotone
    d = np.diff(fp.history)
    assert d[0] > 0 and d[1] < 0
    assert check14_F_fixed_point(T=1000, mu=1e-3).monotone


def test_run_exact_checks_table_fails_only_the_seed_lemmas():
    df = suite.run_exact_checks(n_points=2000, seeds=range(2))
    failed = set(df.check[df.verdict == "fail"])
    assert failed == {
        "5: paper's lemma (BD) with Lambda holds",
        "5: paper's lemma (G3) holds",
        "5: paper's lemma (BD) on b x y with L_x = L_y = 0",
    }
    assert (df.verdict == "fail").sum() == 5  # (BD), (G3) at s = 0.3 and 0.9, and b x y
