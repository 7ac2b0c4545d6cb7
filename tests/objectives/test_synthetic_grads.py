"""Closed-form gradients of every synthetic problem against autograd; spec strings; bad input."""

import pytest
import torch

from hybridsmooth.errors import SpecError
from hybridsmooth.objectives import FiniteSum, Objective, counterexamples, quartic, zo_bias
from hybridsmooth.objectives import synthetic as syn
from hybridsmooth.problems import REGISTRY, make_problem, parse_spec

SPECS = [
    "cauchy:dx=5,dy=3,n=6,seed=1",
    "quartic:dx=4,dy=3,n=5,seed=2",
    "cossum:dx=4,dy=2,omega=1.7",
    "signedquad:dx=4,dy=2,L=2.5,start=1",
    "falsifier:dx=2,dy=3,K=7",
    "interpolating:dx=4,dy=3,n=5,m=3,seed=3",
    "bilinear:m=3,b=-1.5",
    "coupled2:m=3,n=4,spread=1,s=0.6",
    "quadratic:dx=4,dy=3,n=5,coupling=0.5",
]
SYNTHETIC_NAMES = ["cauchy", "quartic", "cossum", "signedquad", "falsifier", "interpolating", "bilinear", "coupled2"]


def _points(p, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = 1.5 * torch.randn(2, 3, p.d_x, generator=g, dtype=torch.float64)
    y = 1.5 * torch.randn(3, p.d_y, generator=g, dtype=torch.float64)  # broadcasts against x's batch
    return x, y


@pytest.mark.parametrize("spec", SPECS)
def test_closed_form_grad_matches_autograd(spec):
    p = make_problem(spec)
    assert isinstance(p, Objective) and p.dtype == torch.float64
    x, y = _points(p)
    idx_tensor = torch.tensor([p.n - 1, 0, min(1, p.n - 1)])
    for idx in (None, p.n - 1, idx_tensor):
        gx, gy = p.grad(x, y, idx)
        ax, ay = FiniteSum.grad(p, x, y.expand(2, 3, p.d_y), idx)
        assert gx.shape == (2, 3, p.d_x) and gy.shape == (2, 3, p.d_y)
        torch.testing.assert_close(gx, ax, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(gy, ay, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", SPECS)
def test_loss_index_semantics(spec):
    p = make_problem(spec)
    x, y = _points(p, seed=1)
    per = p.sample_losses(x, y)
    assert per.shape == (2, 3, p.n)
    torch.testing.assert_close(p.loss(x, y), per.mean(-1), rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(p.loss(x, y, p.n - 1), per[..., p.n - 1], rtol=0, atol=0)
    # an unbatched point gives a scalar
    assert p.loss(x[0, 0], y[0]).shape == ()


def test_full_gradient_is_mean_of_sample_gradients():
    # guards the idx=None branch independently of autograd: grad f = (1/n) sum_i grad f_i
    for spec in SPECS:
        p = make_problem(spec)
        x, y = _points(p, seed=2)
        gx, gy = p.grad(x, y)
        sx = sum(p.grad(x, y, i)[0] for i in range(p.n)) / p.n
        sy = sum(p.grad(x, y, i)[1] for i in range(p.n)) / p.n
        torch.testing.assert_close(gx, sx, rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(gy, sy, rtol=1e-12, atol=1e-13)


def test_interpolating_x_gradient_identical_across_samples():
    p = make_problem("interpolating:dx=6,dy=3,n=7,m=4,seed=5")
    g = torch.Generator().manual_seed(7)
    x = 2 * torch.randn(50, 6, generator=g, dtype=torch.float64)
    y = 2 * torch.randn(50, 3, generator=g, dtype=torch.float64)
    full = p.grad(x, y)[0]
    for i in range(p.n):
        assert torch.equal(p.grad(x, y, i)[0], full)  # closed form: bitwise
        auto = FiniteSum.grad(p, x, y, i)[0]  # autograd: to rounding
        torch.testing.assert_close(auto, full, rtol=1e-12, atol=1e-14)
    # the y-gradients do differ, so sigma_y > 0 while sigma_x = 0
    gy = torch.stack([p.grad(x, y, i)[1] for i in range(p.n)])
    assert float((gy - gy.mean(0)).norm()) > 1e-3
    assert p.constants.sigma2_x == 0.0


def test_every_problem_builds_from_its_spec_and_rejects_unknown_keys():
    for name in SYNTHETIC_NAMES:
        assert name in REGISTRY
        p = make_problem(f"{name}:")
        assert p.spec == f"{name}:"
        x, y = p.initial_point(4)
        assert x.shape == (4, p.d_x) and y.shape == (4, p.d_y)
        assert torch.isfinite(p.loss(x, y)).all()
        first_key = next(iter(REGISTRY[name].defaults))
        with pytest.raises(SpecError, match=f"unknown key 'bogus'; accepted: .*{first_key}"):
            parse_spec(f"{name}:bogus=1")


def test_spec_values_reach_the_problem():
    p = make_problem("cauchy:dx=3,dy=2,n=4,seed=9")
    assert (p.d_x, p.d_y, p.n) == (3, 2, 4)
    q = make_problem("cauchy:dx=3,dy=2,n=4,seed=9")
    assert torch.equal(p.A, q.A)  # seeded: reproducible
    r = make_problem("cauchy:dx=3,dy=2,n=4,seed=10")
    assert not torch.equal(p.A, r.A)
    assert make_problem("cossum:omega=3").constants.L_x == pytest.approx(9.0, rel=1e-15)
    assert make_problem("falsifier:K=50").constants.L_y_max == 50.0
    assert make_problem("falsifier:dx=0").d_x == 0


@pytest.mark.parametrize(
    "spec, message",
    [
        ("cossum:omega=-1", "cossum: omega must be a finite positive number, got -1.0"),
        ("cauchy:s=0", "cauchy: s must be a finite positive number, got 0.0"),
        ("cauchy:n=0", "cauchy: n must be an integer >= 1, got 0"),
        ("falsifier:dy=0", "falsifier: dy must be an integer >= 1, got 0"),
        ("interpolating:m=0", "interpolating: m must be an integer >= 1, got 0"),
        ("coupled2:s=-0.1", "coupled2: s must be a finite number >= 0, got -0.1"),
        ("quartic:Ly=0", "quartic: Ly must be a finite positive number"),
        ("signedquad:L=nan", "signedquad: L must be a finite positive number, got nan"),
        ("cauchy:dx=2.5", "not a valid int"),
    ],
)
def test_bad_values_give_one_line_spec_errors(spec, message):
    with pytest.raises(SpecError, match=message) as err:
        make_problem(spec)
    assert "\n" not in str(err.value)


def test_quartic_rejects_uncentred_data():
    a = torch.ones(3, 2, dtype=torch.float64)
    c = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="sum to zero"):
        quartic.QuarticSum(a, c, Ly=1.0)


@pytest.mark.parametrize(
    "builder",
    [
        syn.make_cauchy,
        quartic.make_quartic,
        zo_bias.make_cossum,
        zo_bias.make_signedquad,
        counterexamples.make_falsifier,
        syn.make_interpolating,
        counterexamples.make_bilinear,
        counterexamples.make_coupled2,
    ],
)
def test_float32_builds_keep_their_dtype(builder):
    p = builder(dtype=torch.float32)
    x, y = p.initial_point(2)
    gx, gy = p.grad(x, y, 0)
    assert p.loss(x, y).dtype == gx.dtype == gy.dtype == torch.float32
