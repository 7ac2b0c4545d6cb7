"""Assumption predicates and checks 5-6 (THEORY 3.2, 3.3, 7.5, 7.6)."""

import numpy as np
import pytest
import torch

from hybridsmooth.objectives.counterexamples import make_coupled2
from hybridsmooth.objectives.quadratic import make_block_quadratic
from hybridsmooth.objectives.quartic import make_quartic
from hybridsmooth.theory import assumptions as A
from hybridsmooth.theory.claims import check05_block_descent as c5
from hybridsmooth.theory.claims import check06_generalized_smoothness as c6

pytestmark = pytest.mark.theory


@pytest.fixture(scope="module", params=[0.0, 0.3, 0.9])
def check5(request):
    return request.param, {r.check: r for r in c5.check5_block_descent(request.param)}


def test_check5_exact_values_and_sampling(check5):
    s, res = check5
    for name in (
        "5: sup (BD) ratio = s (exact eig)",
        "5: sup (G3) ratio = 1+s (exact eig)",
        "5: sampled (BD) ratio <= exact sup",
        "5: top-eigvec pair attains sup (BD)",
        "5: (H1) secant ratio <= L_x",
        "5: (H2) secant ratio <= L_y",
        "5: (G1) ratio <= 1",
        "5: (G2) ratio <= 1",
        "5: sampled (G3) ratio <= exact sup 1+s",
        "5: top-eigvec point attains sup (G3)",
        "5: repaired (BD) with 2 Lambda holds",
        "5: repaired (BD) with cross bound (L_x + tau L_xy, L_y + L_xy/tau) holds",
    ):
        assert res[name].verdict == "pass", (name, res[name])
    assert res["5: sup (BD) ratio = s (exact eig)"].computed == pytest.approx(s, abs=1e-8)
    assert res["5: sup (G3) ratio = 1+s (exact eig)"].computed == pytest.approx(1 + s, abs=1e-8)


def test_check5_shows_the_seed_lemma_failure(check5):
    s, res = check5
    bd, g3 = res["5: paper's lemma (BD) with Lambda holds"], res["5: paper's lemma (G3) holds"]
    assert bd.verdict == ("fail" if s > 0 else "pass")
    assert g3.verdict == ("fail" if s > 0 else "pass")
    if s > 0:
        # the carried pair is an exact counterexample: recompute its residual from scratch
        obj = make_coupled2(m=5, a=2.0, c=0.5, s=s, n=1, seed=0)
        z1 = np.array(bd.details["counterexample_z1"])
        H = obj.H.numpy()
        lam = np.r_[np.full(5, 2.0), np.full(5, 0.5)]
        residual = 0.5 * z1 @ H @ z1 - 0.5 * z1 @ (lam * z1)  # z2 = 0: f(z2) = 0, grad f(z2) = 0
        assert residual > 0
        assert residual / (0.5 * z1 @ (lam * z1)) == pytest.approx(s, rel=1e-9)
        frac = res["5: sampled (BD) ratio <= exact sup"].details["fraction_violating_BD"]
        assert abs(frac - 0.5) < 0.025  # by the symmetry (dx, dy) -> (dx, -dy), half of random pairs violate


def test_bilinear_counterexample():
    bad = c5.check5_bilinear(b=1.0, dx=1.0, dy=1.0)
    assert bad.verdict == "fail" and bad.computed == pytest.approx(1.0, rel=1e-15)
    assert c5.check5_bilinear(b=2.0, dx=0.5, dy=3.0).computed == pytest.approx(3.0, rel=1e-15)
    assert c5.check5_bilinear(b=1.0, dx=-1.0, dy=1.0).verdict == "pass"  # b dx dy < 0: this pair is fine


def test_check6_generalized_smoothness():
    res = c6.check6_generalized_smoothness(n_points=10_000)
    for r in res:
        assert r.verdict == "pass", r
    exp = [r for r in res if r.check.startswith("6: envelope exponent")][0]
    assert abs(exp.computed - 2 / 3) <= 0.05
    g23 = [r for r in res if r.check.startswith("6: (G2)") or r.check.startswith("6: (G3)")]
    assert all(r.details["max_rel_gap_on_x0_axis"] < 1e-12 for r in g23)  # equality on x = 0


def test_power_envelope_can_reject_two_thirds():
    u = np.geomspace(1e-3, 1e3, 400)
    c, p = A.fit_power_envelope(u, 2.0 * u**0.9 * np.random.default_rng(0).uniform(0.2, 1.0, u.size))
    assert abs(p - 0.9) < 0.05 and abs(p - 2 / 3) > 0.05


def test_predicates_on_closed_forms():
    q = make_block_quadratic(dx=4, dy=3, n=5, coupling=0.5, seed=1)
    x = torch.randn(7, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    vx, vy = A.sample_variance(q, x, y)
    assert torch.allclose(vx, torch.full_like(vx, q.constants.sigma2_x), rtol=1e-12)
    assert torch.allclose(vy, torch.full_like(vy, q.constants.sigma2_y), rtol=1e-12)
    Hd = A.dense_hessian(q, x[0], y[0], idx=2)
    assert torch.allclose(Hd, q.H, atol=1e-12)
    quart = make_quartic(dx=6, dy=2, n=4, seed=3)
    vx, vy = A.sample_variance(quart, x[:, :1].expand(7, 6), y[:, :2])
    assert torch.allclose(vx, torch.full_like(vx, quart.constants.sigma2_x), rtol=1e-12)
    assert torch.allclose(vy, torch.full_like(vy, quart.constants.sigma2_y), rtol=1e-12)
    c2 = make_coupled2(m=3, a=2.0, c=0.5, s=0.4)
    lo, hi = A.joint_condition_range(c2.H, L_x=2.0, L_y=0.5, d_x=3)
    assert (lo, hi) == pytest.approx((0.6, 1.4), abs=1e-12)
    with pytest.raises(ValueError, match="unbatched"):
        A.dense_hessian(q, x, y)


def test_joint_lambda_pareto_on_coupled2():
    s = 0.4
    c2 = make_coupled2(m=3, a=2.0, c=0.5, s=s)
    rows = A.joint_lambda_pareto(c2.H, d_x=3, ratios=[4.0, 1.0, 0.25])
    # on the ray through (a, c) the smallest (R1) Lambda is (1 + s)(a, c)
    assert rows[0, 1:] == pytest.approx(((1 + s) * 2.0, (1 + s) * 0.5), rel=1e-12)
    for _r, lx, ly in rows:
        lo, hi = A.joint_condition_range(c2.H, L_x=lx, L_y=ly, d_x=3)
        assert max(abs(lo), abs(hi)) == pytest.approx(1.0, rel=1e-12)  # tight: on the boundary of (R1)
        lo, hi = A.joint_condition_range(c2.H, L_x=0.99 * lx, L_y=0.99 * ly, d_x=3)
        assert max(abs(lo), abs(hi)) > 1.0
    with pytest.raises(ValueError, match="positive"):
        A.joint_lambda_pareto(c2.H, d_x=3, ratios=[0.0])
