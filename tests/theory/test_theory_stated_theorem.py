"""The paper's theorem as stated and reconstructed (THEORY 5.4): renderings, H and F, and the M1 eps^-4 mechanism."""

import itertools

import pytest

from hybridsmooth.theory import stated_theorem as S
from hybridsmooth.theory import step_sizes

pytestmark = pytest.mark.theory


@pytest.mark.parametrize(
    "eps,delta,G,eta_x,eta_y",
    list(itertools.product((0.05, 0.3, 0.9), (0.01, 0.2, 0.9), (0.0, 1.0, 30.0), (1e-4, 0.1), (1e-3, 0.5))),
)
def test_Bprime_implies_A_and_dominates_B(eps, delta, G, eta_x, eta_y):
    kw = dict(G=G, gap0=10.0, eta_x=eta_x, eta_y=eta_y, n=8)
    T = {r: S.T_required_stated_value(eps, delta, rendering=r, **kw) for r in S.RENDERINGS}
    assert T["A"] <= T["Bprime"]
    assert T["B"] <= T["Bprime"]  # B' - B = G^2/8 (eps^-2 - 1) >= 0 for eps <= 1


def test_results_carry_uncertain_factors():
    kw = dict(G=1.0, gap0=1.0, eta_x=0.01, eta_y=0.1, n=4)
    r = S.T_required_stated(0.1, 0.1, rendering="A", **kw)
    assert r.uncertain == ("u1", "u2", "u3", "u4") and r.rendering == "A" and isinstance(r.value, int)
    assert "u5" in S.H_const(100, 0.1, G=1.0, sigma2=1.0, n=4, d_x=10).uncertain
    with pytest.raises(ValueError, match="rendering"):
        S.T_required_stated_value(0.1, 0.1, rendering="C", **kw)
    with pytest.raises(ValueError, match="delta"):
        S.T_required_stated_value(0.1, 1.0, **kw)


def test_H_and_F_definitions():
    v = 200 * 4.0 * 10 / 8 + 4.0 + 3.0 / 8
    H = S.H_const_value(1000, 0.1, G=2.0, sigma2=3.0, n=8, d_x=10)
    assert 1000 * v / H**2 == pytest.approx(0.1 / 4, rel=1e-14)  # Chebyshev union bound = delta/4
    F = S.F_const_value(0.1, gap0=10.0, sigma_prime=5.0)
    assert 2 * (10.0 + 5.0) / F == pytest.approx(0.1 / 4, rel=1e-14)  # Markov at F/2 = delta/4


def test_recon_is_minimal_and_scales_eps_minus_4():
    caps = step_sizes.admissible_step_sizes(33.2, 0.5, 8, 10)
    kw = dict(G=2.0, sigma2=3.0, gap0=10.0, n=8, d_x=10, L_x=33.2, L_y=0.5, eta_x_cap=caps.eta_x, eta_y_cap=caps.eta_y)
    Ts = [S.T_required_recon(eps, 0.1, **kw).value for eps in (0.1, 0.05, 0.025)]
    T = Ts[0]
    for t, ok in ((T, True), (T - 1, False)):
        ex, ey = S.recon_step_sizes(t, 0.1, **{k: kw[k] for k in kw if k != "gap0"})
        need = S.T_required_stated_value(0.1, 0.1, G=2.0, gap0=10.0, eta_x=ex, eta_y=ey, n=8)
        assert (t >= need) is ok
    assert Ts[1] / Ts[0] == pytest.approx(16.0, rel=0.01) and Ts[2] / Ts[1] == pytest.approx(16.0, rel=0.01)
    lead = S.T_recon_leading_order(0.025, 0.1, **{k: kw[k] for k in kw if not k.endswith("cap")})
    assert Ts[2] == pytest.approx(lead, rel=0.01)
    assert S.T_required_recon(0.025, 0.1, T_max=10**12, **kw).value is None
