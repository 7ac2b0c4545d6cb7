"""Input checking and basic contracts of hybridsmooth.zo.estimators (THEORY 2.2)."""

import math

import pytest
import torch

from hybridsmooth.rng import SeedStreams, derive_seed, zo_generator
from hybridsmooth.zo.estimators import FORMS, draw_directions, zo_gradient, zo_gradient_along


def _quadratic(z):
    return 0.5 * (z * z).sum(-1) + z[..., 0]


@pytest.mark.parametrize("form", ["gauss", "Central", "", None, 3])
def test_draw_directions_rejects_unknown_form(form):
    with pytest.raises(ValueError, match="accepted: central, forward, spsa"):
        draw_directions((3,), form=form, generator=zo_generator(0, 0, 0))
    with pytest.raises(ValueError, match="accepted: central, forward, spsa"):
        draw_directions((1, 2, 3), form=form, generator=SeedStreams(0, [0, 1], 0, 0))


@pytest.mark.parametrize("form", ["gauss", "SPSA"])
def test_zo_gradient_rejects_unknown_form(form):
    with pytest.raises(ValueError, match="accepted: central, forward, spsa"):
        zo_gradient(
            _quadratic, torch.zeros(3, dtype=torch.float64), mu=1e-3, form=form, generator=zo_generator(0, 0, 0)
        )


@pytest.mark.parametrize("mu", [0.0, -1e-3, math.nan, math.inf, "a"])
def test_zo_gradient_rejects_bad_mu(mu):
    with pytest.raises(ValueError, match=r"mu must be a finite number > 0"):
        zo_gradient(_quadratic, torch.zeros(3, dtype=torch.float64), mu=mu, generator=zo_generator(0, 0, 0))


@pytest.mark.parametrize("q", [0, -2, 1.5, True])
def test_zo_gradient_rejects_bad_q(q):
    with pytest.raises(ValueError, match=r"q must be an integer >= 1"):
        zo_gradient(_quadratic, torch.zeros(3, dtype=torch.float64), mu=1e-3, q=q, generator=zo_generator(0, 0, 0))


def test_zo_gradient_along_rejects_mis_shaped_directions():
    x = torch.zeros(4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"shape \(q, \*x.shape\)"):
        zo_gradient_along(_quadratic, x, torch.zeros(4, dtype=torch.float64), mu=1e-3)


def test_derive_seed_rejects_negative_keys_and_separates_streams():
    with pytest.raises(ValueError, match="non-negative"):
        derive_seed(1, -1)
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3)
    assert len({derive_seed(1, 2, 3), derive_seed(1, 3, 2), derive_seed(2, 1, 3), derive_seed(1, 2, 4)}) == 4


def test_direction_distributions():
    gen = zo_generator(7, 0, 0)
    v = draw_directions((20000,), form="spsa", generator=gen)
    assert set(v.unique().tolist()) == {-1.0, 1.0}
    assert abs(float(v.mean())) < 5 / math.sqrt(20000)
    u = draw_directions((20000,), form="central", generator=gen)
    # N(0,1): mean 0 (se 1/sqrt N) and variance 1 (se sqrt(2/N))
    assert abs(float(u.mean())) < 5 / math.sqrt(20000)
    assert abs(float(u.var()) - 1) < 5 * math.sqrt(2 / 20000)


@pytest.mark.parametrize("form", FORMS)
def test_zo_gradient_is_zo_gradient_along_its_own_directions(form):
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)  # S = 3 seeds
    est = zo_gradient(_quadratic, x, mu=0.1, form=form, q=4, generator=zo_generator(1, 2, 3))
    assert est.grad.shape == (3, 5) and est.phi.shape == (4, 3) and est.u.shape == (4, 3, 5)
    again = zo_gradient_along(_quadratic, x, est.u, mu=0.1, form=form)
    assert torch.equal(est.grad, again.grad) and torch.equal(est.phi, again.phi)
    # same (seed, epoch, step) -> same estimate, bitwise; another step -> another estimate
    twin = zo_gradient(_quadratic, x, mu=0.1, form=form, q=4, generator=zo_generator(1, 2, 3))
    other = zo_gradient(_quadratic, x, mu=0.1, form=form, q=4, generator=zo_generator(1, 2, 4))
    assert torch.equal(est.grad, twin.grad) and not torch.equal(est.grad, other.grad)


def test_zo_gradient_leaves_global_rng_alone():
    before = torch.get_rng_state()
    zo_gradient(_quadratic, torch.zeros(6, dtype=torch.float64), mu=1e-3, q=3, generator=zo_generator(0, 0, 0))
    assert torch.equal(before, torch.get_rng_state())


# --- per-seed streams (batched runs) -----------------------------------------------------------------


def test_per_seed_gaussian_moments():
    # 1e6 draws: mean 0 (se 1e-3), variance 1 (se sqrt(2/N)), skewness 0 (se sqrt(6/N)), kurtosis 3 (se sqrt(24/N))
    u = draw_directions((2, 1000, 500), form="central", generator=SeedStreams(5, torch.arange(1000), 3, 1))
    assert u.shape == (2, 1000, 500) and u.dtype == torch.float64 and u.is_contiguous()
    N = u.numel()
    z = u.reshape(-1)
    mean, var = float(z.mean()), float(z.var())
    c = (z - mean) / math.sqrt(var)
    assert abs(mean) < 5 / math.sqrt(N)
    assert abs(var - 1) < 5 * math.sqrt(2 / N)
    assert abs(float((c**3).mean())) < 5 * math.sqrt(6 / N)
    assert abs(float((c**4).mean()) - 3) < 5 * math.sqrt(24 / N)
    # the tails: P(|z| > 3) = 0.0026998, i.e. 2700 of 1e6 draws with sd 52
    assert abs(int((z.abs() > 3).sum()) - 0.0026998 * N) < 5 * math.sqrt(0.0026998 * N)


def test_per_seed_gaussian_in_float32():
    u = draw_directions(
        (1, 400, 500), form="forward", generator=SeedStreams(5, torch.arange(400), 0, 0), dtype=torch.float32
    )
    assert u.dtype == torch.float32 and bool(torch.isfinite(u).all())
    N = u.numel()
    assert abs(float(u.double().mean())) < 5 / math.sqrt(N)
    assert abs(float(u.double().var()) - 1) < 5 * math.sqrt(2 / N)


def test_per_seed_rademacher_balance():
    v = draw_directions((3, 1000, 300), form="spsa", generator=SeedStreams(2, torch.arange(1000), 0, 7))
    assert set(v.unique().tolist()) == {-1.0, 1.0}
    N = v.numel()
    assert abs(float(v.mean())) < 5 / math.sqrt(N)
    assert abs(float((v[..., 1:] * v[..., :-1]).mean())) < 5 / math.sqrt(N)  # neighbours uncorrelated


@pytest.mark.parametrize("form", FORMS)
def test_zo_gradient_rows_follow_their_seed_index(form):
    x = torch.randn(10, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ten = zo_gradient(_quadratic, x, mu=0.1, form=form, q=3, generator=SeedStreams(1, torch.arange(10), 2, 3))
    two = zo_gradient(_quadratic, x[[3, 7]], mu=0.1, form=form, q=3, generator=SeedStreams(1, [3, 7], 2, 3))
    assert ten.u.shape == (3, 10, 5) and two.u.shape == (3, 2, 5)
    assert torch.equal(ten.u[:, [3, 7]], two.u) and torch.equal(ten.grad[[3, 7]], two.grad)
    other = zo_gradient(_quadratic, x[[3, 7]], mu=0.1, form=form, q=3, generator=SeedStreams(1, [3, 7], 2, 4))
    assert not torch.equal(other.u, two.u)


def test_per_seed_directions_need_the_seed_dimension_second():
    with pytest.raises(ValueError, match=r"shape \(q, S, \.\.\.\) with S = 3"):
        draw_directions((3, 5), form="central", generator=SeedStreams(0, [0, 1, 2], 0, 0))
    with pytest.raises(ValueError, match=r"S = 3"):
        zo_gradient(
            _quadratic, torch.zeros(4, 5, dtype=torch.float64), mu=1e-3, generator=SeedStreams(0, [0, 1, 2], 0, 0)
        )


def test_per_seed_directions_leave_global_rng_alone():
    before = torch.get_rng_state()
    zo_gradient(
        _quadratic,
        torch.zeros(4, 6, dtype=torch.float64),
        mu=1e-3,
        q=3,
        generator=SeedStreams(0, torch.arange(4), 0, 0),
    )
    assert torch.equal(before, torch.get_rng_state())
