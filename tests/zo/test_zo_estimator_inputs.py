"""Input checking and basic contracts of hybridsmooth.zo.estimators (THEORY 2.2)."""
import math

import pytest
import torch

from hybridsmooth.zo.estimators import (FORMS, derive_seed, draw_directions, zo_generator, zo_gradient,
                                        zo_gradient_along)


def _quadratic(z):
    return 0.5 * (z * z).sum(-1) + z[..., 0]


@pytest.mark.parametrize("form", ["gauss", "Central", "", None, 3])
def test_draw_directions_rejects_unknown_form(form):
    with pytest.raises(ValueError, match="accepted: central, forward, spsa"):
        draw_directions((3,), form=form, generator=zo_generator(0, 0, 0))


@pytest.mark.parametrize("form", ["gauss", "SPSA"])
def test_zo_gradient_rejects_unknown_form(form):
    with pytest.raises(ValueError, match="accepted: central, forward, spsa"):
        zo_gradient(_quadratic, torch.zeros(3, dtype=torch.float64), mu=1e-3, form=form,
                    generator=zo_generator(0, 0, 0))


@pytest.mark.parametrize("mu", [0.0, -1e-3, math.nan, math.inf, "a"])
def test_zo_gradient_rejects_bad_mu(mu):
    with pytest.raises(ValueError, match=r"mu must be a finite number > 0"):
        zo_gradient(_quadratic, torch.zeros(3, dtype=torch.float64), mu=mu, generator=zo_generator(0, 0, 0))


@pytest.mark.parametrize("q", [0, -2, 1.5, True])
def test_zo_gradient_rejects_bad_q(q):
    with pytest.raises(ValueError, match=r"q must be an integer >= 1"):
        zo_gradient(_quadratic, torch.zeros(3, dtype=torch.float64), mu=1e-3, q=q,
                    generator=zo_generator(0, 0, 0))


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
