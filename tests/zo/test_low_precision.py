"""The ZO step in low precision (zo.precision): the drift of perturb/restore in plain bf16/fp16/fp32 (the
issue's table, 1M weights of rms 0.02, mu = 1e-3, eta = 0), the exact restore of the master mode and its
agreement with a float32 run, stochastic rounding, and the measured / predicted lost fraction."""

import math

import pytest
import torch

from hybridsmooth.rng import zo_generator
from hybridsmooth.theory.bounds import rounding_noise_terms
from hybridsmooth.zo.inplace import noise, zo_step_inplace_from
from hybridsmooth.zo.precision import (
    CoordinateSample,
    predicted_lost_fraction,
    restore_drift,
    spacing,
    stochastic_round,
)


def _weights(d, dtype=torch.bfloat16, seed=0):
    return (torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 0.02).to(dtype)


def test_spacing_of_bfloat16_and_float16():
    v = torch.tensor([0.02, 1.0, 0.0, -3.0], dtype=torch.float64)
    assert spacing(v, torch.bfloat16)[0] == 2.0**-13  # ~1.2e-4, the number
    assert spacing(v, torch.bfloat16)[1] == 2.0**-7 and spacing(v, torch.float16)[1] == 2.0**-10
    assert spacing(v, torch.bfloat16)[3] == 2.0**-6 and 0 < spacing(v, torch.bfloat16)[2] < 1e-40


# the table (torch 2.13, CPU): relative drift after 1 and 100 steps
@pytest.mark.parametrize(
    "dtype, after_1, after_100",
    [(torch.bfloat16, 3.9e-3, 3.9e-2), (torch.float16, 5e-4, 4.9e-3), (torch.float32, 6e-8, 6e-7)],
)
def test_plain_drift_matches_the_table_in_order_of_magnitude(dtype, after_1, after_100):
    rows = restore_drift(1_000_000, dtype=dtype, steps=(1, 100))
    assert after_1 / 2 < rows[0].drift < 2 * after_1
    assert after_100 / 2 < rows[1].drift < 2 * after_100
    assert rows[1].changed > 0.9  # nearly every weight moved although nothing should have


def test_master_restores_bitwise_and_leaves_x_untouched_at_step_size_zero():
    rows = restore_drift(200_000, dtype=torch.bfloat16, precision="master", steps=(1, 50))
    assert all(r.drift == 0.0 and r.changed == 0.0 for r in rows)


def _quadratic(weights, a):
    # the loss reads the weights as the model would: their bf16 values, summed in float64
    return lambda: float((a * weights[0].to(torch.bfloat16).double().square()).sum())


def test_master_equals_a_float32_run_rounded_to_bfloat16_within_one_spacing():
    d, k, eta, mu = 50_000, 5, 1e-5, 1e-3  # eta |phi| ~ 5e-5 per unit of u, under the spacing at 0.02
    a = torch.rand(d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x16 = _weights(d)
    master = [x16.float()]
    x32 = [x16.float()]  # the float32 run starts from the same (bf16) point
    for t in range(k):
        zo_step_inplace_from(
            zo_generator(0, 0, t), [x16], _quadratic([x16], a), mu=mu, eta=eta, precision="master", master=master
        )
        zo_step_inplace_from(zo_generator(0, 0, t), x32, _quadratic(x32, a), mu=mu, eta=eta)
        assert torch.equal(x16, master[0].to(torch.bfloat16))  # the weights are the master, rounded
    moved = float((master[0] - x16.float()).abs().max())
    assert moved <= float(spacing(x16.double(), torch.bfloat16).max()) / 2
    # the two iterates differ only by float32 rounding (phi is measured at points rounded to bf16 in both
    # runs; they differ where x - mu u lands on a rounding boundary), so bf16 of them within one spacing
    # (plus that float32 difference, which exceeds the spacing of the tiniest weights)
    apart = (master[0] - x32[0]).double().abs()
    assert float(apart.max()) < 1e-6
    gap = (x16.double() - x32[0].to(torch.bfloat16).double()).abs()
    assert (gap <= spacing(x32[0].double(), torch.bfloat16) + apart).all()
    assert float((x32[0] - _weights(d).float()).abs().max()) > 1e-4  # the steps did move x


def _intended_fraction_kept(precision, d=400_000, steps=20, c=1e-5, mu=1e-3):
    """Steps whose phi is fixed to c (a loss closure answering +c mu, -c mu) with eta = 1: the least-squares
    coefficient of the actual move of x on the intended one, -sum_t c u_t."""
    x = _weights(d)
    x0 = x.double()
    master = [x.float()] if precision == "master" else None
    values = iter([c * mu, -c * mu] * steps)
    intended = torch.zeros(d, dtype=torch.float64)
    for t in range(steps):
        zo_step_inplace_from(
            zo_generator(0, 0, t), [x], lambda: next(values), mu=mu, eta=1.0, precision=precision, master=master
        )
        like = [torch.zeros(d, dtype=master[0].dtype if master else x.dtype)]
        intended -= c * next(noise(like, form="central", generator=zo_generator(0, 0, t))).double()
    moved = (master[0].double() if master else x.double()) - x0
    return float((moved @ intended) / (intended @ intended))


def test_master_and_stochastic_rounding_keep_an_update_below_half_the_spacing():
    # c = 1e-5 < 2^-13 / 2 at 0.02: round to nearest would drop it in a clean restore
    assert _intended_fraction_kept("master") == pytest.approx(1.0, abs=1e-6)
    assert _intended_fraction_kept("stochastic") == pytest.approx(1.0, abs=0.15)


def test_stochastic_round_is_unbiased():
    g = torch.Generator().manual_seed(0)
    v = torch.full((200_000,), 1.0 + 0.3 * 2.0**-7, dtype=torch.float32)
    r = stochastic_round(v, torch.bfloat16, g)
    assert set(r.unique().tolist()) == {1.0, 1.0 + 2.0**-7}
    assert float(r.double().mean()) == pytest.approx(float(v[0]), abs=3e-5)
    h = stochastic_round(-v.double(), torch.float16, g)  # the generic path
    assert float(h.double().mean()) == pytest.approx(-float(v[0]), abs=3e-5)


def test_measured_lost_fraction_and_residue_match_the_prediction():
    d, mu = 500_000, 1e-3
    x = _weights(d)
    probe = CoordinateSample.fixed([x], size=20_000)
    scale = 3e-5  # eta |phi|: a quarter of the bf16 spacing at 0.02
    values = iter([scale * mu, -scale * mu])
    res = zo_step_inplace_from(zo_generator(0, 0, 0), [x], lambda: next(values), mu=mu, eta=1.0, probe=probe)
    predicted = predicted_lost_fraction([_weights(d)], scale)
    assert 0.2 < predicted < 0.9 and res.rounding.lost == pytest.approx(predicted, abs=0.02)
    assert 1e-3 < res.rounding.residue < 1e-2  # the 1-step drift of the table, plus the update's rounding
    norm = float(_weights(d).double().norm())
    assert res.rounding.error_sq == pytest.approx((res.rounding.residue * norm) ** 2, rel=0.1)
    # the same step in float32 loses nothing and leaves a residue ~1e-7
    x32 = _weights(d, torch.float32)
    values = iter([scale * mu, -scale * mu])
    res32 = zo_step_inplace_from(zo_generator(0, 0, 0), [x32], lambda: next(values), mu=mu, eta=1.0, probe=probe)
    assert res32.rounding.lost < 1e-3 and res32.rounding.residue < 1e-6


def test_rounding_noise_term_next_to_the_zo_variance_term():
    rounding, variance = rounding_noise_terms(1e-4, 1e-3, d_x=99, Lambda_x=2.0, sx2=0.5)
    assert rounding == pytest.approx(3 * 2.0 * 1e-4) and variance == pytest.approx(26 * 100 * 2.0 * 1e-6 * 0.5)
    with pytest.raises(ValueError, match="error_sq"):
        rounding_noise_terms(-1.0, 1e-3, d_x=1, Lambda_x=1.0, sx2=1.0)
    assert math.isclose(rounding_noise_terms(0.0, 1e-3, d_x=1, Lambda_x=1.0, sx2=1.0)[0], 0.0)
