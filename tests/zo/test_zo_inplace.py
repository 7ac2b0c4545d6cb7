"""Check 16 (THEORY 7.16, 2.2): the MeZO in-place seed trick.

* eta = 0: perturb, perturb, restore leaves float64 params unchanged to <= 4 ulp (|x| + 2 mu |u|) elementwise;
* both noise modes give bitwise-identical updates; same (seed, epoch, step) twice gives bitwise-identical
  results; the global torch RNG state is untouched; an exception in the loss restores the params;
* the in-place step equals the out-of-place estimator (zo_gradient) from the same seed: directions bitwise,
  the update to float rounding (x - mu u is reached as (x + mu u) - 2 mu u in place).
"""

import pytest
import torch

from hybridsmooth.rng import zo_generator
from hybridsmooth.zo.estimators import FORMS, projected_gradient, zo_gradient
from hybridsmooth.zo.inplace import InplaceStep, forward, noise, perturb, update, zo_step_inplace, zo_step_inplace_from
from hybridsmooth.zo.inplace_reference import reference_step, regenerate_directions

SHAPES = [(7,), (3, 5), (2, 2, 2)]


def _params(seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=dtype) for s in SHAPES]


def _loss_of(tensors):
    """A smooth nonconvex loss of several tensors (any leading batch dims before each tensor's shape)."""
    a, b, c = tensors
    return (
        torch.cos(2 * a).sum(-1)
        + 0.5 * (b**2).sum((-2, -1))
        + torch.log(torch.cosh(c)).sum((-3, -2, -1))
        + (a[..., :3] * b[..., 0, :3]).sum(-1)
    )


def _closure(params, calls=None):
    def loss():
        if calls is not None:
            calls.append(1)
        return _loss_of(params)

    return loss


def _ulp_bound(x0, directions, mu):
    eps = torch.finfo(x0[0].dtype).eps
    return [sum(4 * eps * (x.abs() + 2 * mu * u_j[i].abs()) for u_j in directions) for i, x in enumerate(x0)]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mode", ["regenerate", "buffer"])
@pytest.mark.parametrize("mu", [1e-3, 0.3])
@pytest.mark.parametrize("q", [1, 3])
def test_cycle_with_zero_step_restores_params(form, mode, mu, q):
    params = _params(1)
    x0 = [p.clone() for p in params]
    zo_step_inplace(
        params, _closure(params), mu=mu, eta=0.0, run_seed=5, epoch=1, step=2, form=form, q=q, noise_mode=mode
    )
    dirs = regenerate_directions(params, run_seed=5, epoch=1, step=2, form=form, q=q)
    for p, x, tol in zip(params, x0, _ulp_bound(x0, dirs, mu)):
        assert bool(((p - x).abs() <= tol).all()), f"max restore error {float((p - x).abs().max()):.3g}"


def test_cycle_restores_float32_params_too():
    params = _params(2, torch.float32)
    x0 = [p.clone() for p in params]
    zo_step_inplace(params, _closure(params), mu=1e-3, eta=0.0, run_seed=0, epoch=0, step=0)
    dirs = regenerate_directions(params, run_seed=0, epoch=0, step=0)
    for p, x, tol in zip(params, x0, _ulp_bound(x0, dirs, 1e-3)):
        assert bool(((p - x).abs() <= tol).all())


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("q", [1, 3])
def test_noise_modes_agree_bitwise(form, q):
    results = {}
    for mode in ("regenerate", "buffer"):
        params = _params(3)
        step = zo_step_inplace(
            params, _closure(params), mu=1e-2, eta=0.05, run_seed=9, epoch=4, step=7, form=form, q=q, noise_mode=mode
        )
        results[mode] = (params, step)
    (pr, sr), (pb, sb) = results["regenerate"], results["buffer"]
    assert all(torch.equal(a, b) for a, b in zip(pr, pb))
    assert sr.phi == sb.phi and sr.loss_plus == sb.loss_plus and sr.loss_minus == sb.loss_minus
    assert not torch.equal(pr[0], _params(3)[0]), "the update must have moved the params"


@pytest.mark.parametrize(
    "form,q,draws", [("central", 1, 3), ("spsa", 1, 3), ("forward", 1, 2), ("central", 3, 11), ("forward", 3, 8)]
)
def test_regenerate_mode_fuses_restore_and_update(form, q, draws):
    """q = 1 central: noise generated 3 times (perturb +, perturb -2, fused restore+update), not 4.
    q directions: 4q - 1 (central), 3q - 1 (forward); the buffer mode draws each direction once."""
    params = _params(4)
    step = zo_step_inplace(params, _closure(params), mu=1e-2, eta=0.1, run_seed=1, epoch=0, step=0, form=form, q=q)
    assert step.noise_draws == draws
    params = _params(4)
    step = zo_step_inplace(
        params, _closure(params), mu=1e-2, eta=0.1, run_seed=1, epoch=0, step=0, form=form, q=q, noise_mode="buffer"
    )
    assert step.noise_draws == q


def test_same_seed_same_result_and_other_seeds_differ():
    outs = []
    for key in [(1, 2, 3), (1, 2, 3), (1, 2, 4), (1, 3, 3), (2, 2, 3)]:
        params = _params(5)
        step = zo_step_inplace(
            params, _closure(params), mu=1e-3, eta=0.1, run_seed=key[0], epoch=key[1], step=key[2], q=2
        )
        outs.append((params, step.phi))
    assert all(torch.equal(a, b) for a, b in zip(outs[0][0], outs[1][0])) and outs[0][1] == outs[1][1]
    for other in outs[2:]:
        assert not torch.equal(outs[0][0][0], other[0][0])


def test_global_rng_state_untouched():
    params = _params(6)
    before = torch.get_rng_state()
    for mode in ("regenerate", "buffer"):
        zo_step_inplace(params, _closure(params), mu=1e-3, eta=0.1, run_seed=0, epoch=0, step=0, q=2, noise_mode=mode)
    assert torch.equal(before, torch.get_rng_state())


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("form,fail_at", [("central", k) for k in (1, 2, 3, 4)] + [("forward", k) for k in (1, 2, 3)])
@pytest.mark.parametrize("mode", ["regenerate", "buffer"])
def test_exception_in_loss_restores_params(fail_at, mode, form):
    """The n-th loss call raises (q = 2: central makes 4 calls, forward 3); the params come back to x (to
    rounding) and the exception propagates."""
    params = _params(7)
    x0 = [p.clone() for p in params]
    calls = []

    def loss():
        calls.append(1)
        if len(calls) == fail_at:
            raise Boom("forward pass failed")
        return _loss_of(params)

    with pytest.raises(Boom):
        zo_step_inplace(params, loss, mu=0.1, eta=0.5, run_seed=0, epoch=0, step=0, form=form, q=2, noise_mode=mode)
    dirs = regenerate_directions(params, run_seed=0, epoch=0, step=0, form=form, q=2)
    for p, x, tol in zip(params, x0, _ulp_bound(x0, dirs, 0.1)):
        assert bool(((p - x).abs() <= tol).all()), f"call {fail_at}: not restored"


@pytest.mark.parametrize("q", [1, 3])
@pytest.mark.parametrize("form", FORMS)
def test_matches_zo_gradient_on_a_flat_tensor(form, q):
    """Directions: bitwise those of q successive zo_gradient(q=1) calls on one generator (for q = 1 a
    single call). Update: x - eta * mean_j g_j to float rounding, with a tolerance derived from ulp bounds."""
    d, mu, eta = 37, 1e-3, 0.2
    x = torch.randn(d, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    A = torch.randn(d, d, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    A = (A + A.T) / 2
    loss_fn = lambda z: 0.5 * ((z @ A) * z).sum(-1) + z.sum(-1)  # noqa: E731
    gen = zo_generator(3, 1, 4)
    ests = [zo_gradient(loss_fn, x, mu=mu, form=form, q=1, generator=gen) for _ in range(q)]
    dirs = regenerate_directions([x], run_seed=3, epoch=1, step=4, form=form, q=q)
    for est, u_j in zip(ests, dirs):
        assert torch.equal(est.u[0], u_j[0])
    if q == 1:
        single = zo_gradient(loss_fn, x, mu=mu, form=form, q=1, generator=zo_generator(3, 1, 4))
        assert torch.equal(single.u[0], dirs[0][0])
    params = [x.clone()]
    step = zo_step_inplace(
        params, lambda: loss_fn(params[0]), mu=mu, eta=eta, run_seed=3, epoch=1, step=4, form=form, q=q
    )
    expected = x - eta * torch.stack([e.grad for e in ests]).mean(0)
    # phi differs by (loss rounding at points that differ by <= 4 ulp (|x| + 2 mu |u|)) / mu:
    eps = torch.finfo(torch.float64).eps
    absA = A.abs()
    phi_tol = []
    for u in (e.u[0] for e in ests):
        xp = x.abs() + mu * u.abs()
        dx = 4 * eps * (x.abs() + 2 * mu * u.abs())
        dloss = ((xp @ absA + 1) * dx).sum() + 2 * d * eps * (0.5 * xp @ absA @ xp + xp.sum())
        phi_tol.append(float(2 * dloss / mu))
    for got, e, tol in zip(step.phi, ests, phi_tol):
        assert abs(got - float(e.phi)) <= tol
    tol_x = eta / q * sum(t * e.u[0].abs() for t, e in zip(phi_tol, ests)) + 8 * eps * (x.abs() + 1)
    assert bool(((params[0] - expected).abs() <= tol_x).all())


@pytest.mark.parametrize("form", FORMS)
def test_matches_reference_step_on_several_tensors(form):
    params = _params(10)
    x0 = [p.clone() for p in params]
    step = zo_step_inplace(params, _closure(params), mu=1e-2, eta=0.1, run_seed=2, epoch=0, step=1, form=form, q=2)
    new, phi = reference_step(x0, _loss_of, mu=1e-2, eta=0.1, run_seed=2, epoch=0, step=1, form=form, q=2)
    assert torch.allclose(torch.tensor(step.phi, dtype=torch.float64), phi, rtol=1e-9, atol=1e-9)
    for p, r in zip(params, new):
        assert torch.allclose(p, r, rtol=0, atol=1e-10)


def test_forward_form_uses_given_base_loss_and_counts_passes():
    params = _params(11)
    calls = []
    zo_step_inplace(params, _closure(params, calls), mu=1e-3, eta=0.1, run_seed=0, epoch=0, step=0)
    assert len(calls) == 2  # central: L+, L-
    calls.clear()
    zo_step_inplace(params, _closure(params, calls), mu=1e-3, eta=0.1, run_seed=0, epoch=0, step=0, form="forward", q=3)
    assert len(calls) == 4  # forward: f(x) once, then one per direction
    calls.clear()
    f0 = float(_loss_of(params))
    step = zo_step_inplace(
        params, _closure(params, calls), mu=1e-3, eta=0.0, run_seed=0, epoch=0, step=0, form="forward", loss_at_x=f0
    )
    assert len(calls) == 1 and step.loss_at_x == f0 and step.loss_minus == (f0,)
    assert step.phi[0] == projected_gradient(step.loss_plus[0], f0, mu=1e-3, form="forward")


def test_works_on_module_parameters():
    """Weights that require grad are perturbed under no_grad; a module's forward is the closure."""
    model = torch.nn.Linear(4, 3).double()
    data = torch.randn(8, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    before = [p.detach().clone() for p in model.parameters()]
    loss = lambda: (model(data) ** 2).mean().detach()  # noqa: E731
    step = zo_step_inplace(list(model.parameters()), loss, mu=1e-3, eta=0.0, run_seed=0, epoch=0, step=0)
    assert isinstance(step, InplaceStep) and all(p.requires_grad for p in model.parameters())
    for p, b in zip(model.parameters(), before):
        assert torch.allclose(p, b, rtol=0, atol=1e-14)
    l0 = float(loss())
    for k in range(30):
        zo_step_inplace(list(model.parameters()), loss, mu=1e-3, eta=0.01, run_seed=0, epoch=0, step=k)
    assert float(loss()) < l0


def test_the_four_verbs_compose_to_the_cycle():
    params = _params(12)
    x0 = [p.clone() for p in params]
    gen = zo_generator(0, 0, 0)
    state = gen.get_state()
    perturb(params, noise(params, form="central", generator=gen, state=state), 0.1)
    lp = forward(_closure(params))
    perturb(params, noise(params, form="central", generator=gen, state=state), -0.2)
    lm = forward(_closure(params))
    phi = projected_gradient(lp, lm, mu=0.1, form="central")
    update(params, noise(params, form="central", generator=gen, state=state), 0.1 - 0.3 * phi)
    twin = [p.clone() for p in x0]
    zo_step_inplace(twin, _closure(twin), mu=0.1, eta=0.3, run_seed=0, epoch=0, step=0)
    assert all(torch.equal(a, b) for a, b in zip(params, twin))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(noise_mode="stored"), "accepted: regenerate, buffer"),
        (dict(form="gauss"), "accepted: central, forward, spsa"),
        (dict(mu=0.0), "mu must be a finite number > 0"),
        (dict(q=0), "q must be an integer >= 1"),
        (dict(eta=float("nan")), "eta must be a finite number"),
    ],
)
def test_bad_options_raise(kwargs, match):
    params = _params(13)
    opts = dict(mu=1e-3, eta=0.1, run_seed=0, epoch=0, step=0) | kwargs
    with pytest.raises(ValueError, match=match):
        zo_step_inplace(params, _closure(params), **opts)


def test_bad_params_and_losses_raise():
    p = torch.zeros(3, dtype=torch.float64)
    opts = dict(mu=1e-3, eta=0.1, run_seed=0, epoch=0, step=0)
    with pytest.raises(ValueError, match="non-empty list of tensors"):
        zo_step_inplace([], lambda: 0.0, **opts)
    with pytest.raises(ValueError, match="same tensor twice"):
        zo_step_inplace([p, p], lambda: 0.0, **opts)
    with pytest.raises(ValueError, match="floating-point"):
        zo_step_inplace([torch.zeros(3, dtype=torch.long)], lambda: 0.0, **opts)
    with pytest.raises(ValueError, match="must return a scalar"):
        zo_step_inplace([p], lambda: torch.zeros(2), **opts)
    # restored to rounding: 0 + mu u - mu u is within 4 ulp (2 mu |u|) of 0, not necessarily 0 itself
    u = regenerate_directions([p], run_seed=0, epoch=0, step=0)[0][0]
    assert bool((p.abs() <= 4 * torch.finfo(p.dtype).eps * 2e-3 * u.abs()).all()), "a failed step must restore"


@pytest.mark.parametrize("mode", ["regenerate", "buffer"])
def test_a_given_generator_is_the_same_step_as_its_keys(mode):
    """A training loop hands the step its schedule's generator: the step of zo_generator(keys) is the keyed step."""
    keyed, given = _params(4), _params(4)
    a = zo_step_inplace(keyed, _closure(keyed), mu=1e-2, eta=0.1, run_seed=6, epoch=2, step=5, q=2, noise_mode=mode)
    b = zo_step_inplace_from(zo_generator(6, 2, 5), given, _closure(given), mu=1e-2, eta=0.1, q=2, noise_mode=mode)
    assert a.phi == b.phi and a.noise_draws == b.noise_draws
    assert all(torch.equal(p, r) for p, r in zip(keyed, given))


def test_projected_gradient_is_the_estimator_formula_on_floats_and_tensors():
    lp, lm = torch.tensor([1.5, -0.25], dtype=torch.float64), torch.tensor([0.5, 0.75], dtype=torch.float64)
    for form, denominator in (("central", 0.2), ("spsa", 0.2), ("forward", 0.1)):
        assert torch.equal(projected_gradient(lp, lm, mu=0.1, form=form), (lp - lm) / denominator)
        assert projected_gradient(1.5, 0.5, mu=0.1, form=form) == (1.5 - 0.5) / denominator
