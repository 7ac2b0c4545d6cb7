import pytest

from hybridsmooth.objectives.base import Constants
from hybridsmooth.optim.limits import diagnose, step_limits

C = Constants(L_x=10.0, L_y=1.0, L_x_max=10.0, L_y_max=4.0)


def _by_name(limits):
    return {(l.block, l.name): l for l in limits}


def test_hybrid_limits_values():
    lims = _by_name(step_limits(C, modes=("zo", "fo"), eta_x=0.01, eta_y=0.6, d_x=50, d_y=5, n=16))
    assert lims[("x", "ZO mean-square limit")].value == pytest.approx(2 / (10 * 52))
    assert lims[("x", "Theorem R cap (C2)")].value == pytest.approx(1 / (96 * 51 * 10))
    assert lims[("x", "Theorem R cap (C1)")].value == pytest.approx(1 / (8 * 16 * 10))
    assert lims[("y", "FO limit")].value == pytest.approx(2.0)
    assert lims[("y", "per-sample FO limit")].value == pytest.approx(0.5)
    assert lims[("y", "Theorem R cap (C1)")].value == pytest.approx(1 / (8 * 16 * 4))  # uses L_y_max
    assert lims[("x", "ZO mean-square limit")].exceeded and lims[("y", "per-sample FO limit")].exceeded
    assert not lims[("y", "FO limit")].exceeded


def test_q_directions_relax_the_zo_limit_and_frozen_blocks_have_none():
    lims = _by_name(step_limits(C, modes=("zo", "frozen"), eta_x=0.01, eta_y=0.0, d_x=50, d_y=5, n=1, q=4))
    assert lims[("x", "ZO mean-square limit")].value == pytest.approx(2 * 4 / (10 * (50 + 1 + 4)))
    assert not any(b == "y" for b, _ in lims)
    zo_y = _by_name(step_limits(C, modes=("frozen", "zo"), eta_x=0.0, eta_y=0.1, d_x=50, d_y=5, n=1))
    assert zo_y[("y", "ZO mean-square limit")].value == pytest.approx(2 / (1.0 * 7))


def test_unknown_constants_give_no_limits_and_say_so():
    assert step_limits(Constants(), modes=("zo", "fo"), eta_x=1, eta_y=1, d_x=3, d_y=3, n=2) == ()
    assert "no constants are known" in diagnose((), [3, None])
    assert diagnose((), [None, None]) == "no divergence in 2 seeds"


def test_diagnosis_names_epochs_and_counts():
    lims = step_limits(C, modes=("zo", "fo"), eta_x=0.05, eta_y=0.1, d_x=50, d_y=5, n=16)
    text = diagnose(lims, [7, 7, None, 9])
    assert text.startswith(
        "diverged at epochs 7-9 in 3/4 seeds: eta_x=0.05 exceeds the ZO mean-square limit "
        "2/(L_x(d_x+2)) = 0.003846 (L_x=10, d_x=50)"
    )
