"""curvature.secant_run: the one hybrid run with one-block secants (Fig 1 and the real-model checks), its
steps from optim.schedule, and the unbatched ZO estimator it uses."""

import math

import numpy as np
import pytest
import torch

from hybridsmooth.curvature import SecantStep, secant_run
from hybridsmooth.objectives.quadratic import make_block_quadratic
from hybridsmooth.optim.hybrid_sgd import HybridSGDConfig
from hybridsmooth.optim.orders import sample_orders
from hybridsmooth.optim.schedule import step_schedule
from hybridsmooth.rng import zo_generator
from hybridsmooth.zo.estimators import zo_flat_directions, zo_gradient_along, zo_gradient_flat

DT = torch.float64


def _quad():
    return make_block_quadratic(dx=8, dy=3, Lx=6.0, Ly=1.5, coupling=0.5, n=3, seed=4)


def _config(**kw):
    return HybridSGDConfig(
        **{"method": "hybrid", "eta_x": 0.02, "eta_y": 0.2, "mu": 1e-4, "epochs": 0, "seed": 3, **kw}
    )


def test_steps_follow_the_schedule_and_secants_lie_in_the_block_spectra():
    obj, cfg = _quad(), _config(q=2)
    x0, y0 = obj.initial_point()
    keep = (x0.clone(), y0.clone())
    seen = []
    run = secant_run(
        obj,
        x0,
        y0,
        step_schedule(cfg.order, n=obj.n, run_seed=cfg.seed, stop=7),
        cfg,
        at_point=lambda t, x, y: seen.append(t),
    )
    assert torch.equal(x0, keep[0]) and torch.equal(y0, keep[1])  # out of place
    assert seen == list(range(8)) and [s.step for s in run.steps] == list(range(7))
    want = [int(sample_orders(cfg.order, n=obj.n, epoch=t // obj.n, run_seed=cfg.seed)[0, t % obj.n]) for t in range(7)]
    assert [s.sample for s in run.steps] == want and [s.epoch for s in run.steps] == [t // 3 for t in range(7)]
    H = obj.constant_hessian().numpy()
    ex, ey = np.linalg.eigvalsh(H[:8, :8]), np.linalg.eigvalsh(H[8:, 8:])
    for s in run.steps:
        assert isinstance(s, SecantStep) and s.step_x > 0 and s.step_y > 0
        assert ex[0] * (1 - 1e-8) <= s.secant_x <= ex[-1] * (1 + 1e-8)
        assert ey[0] * (1 - 1e-8) <= s.secant_y <= ey[-1] * (1 + 1e-8)
        assert s.grad_norm == pytest.approx(math.hypot(s.grad_x_norm, s.grad_y_norm))


def test_first_x_move_is_along_the_scheduled_direction():
    obj, cfg = _quad(), _config()
    x0, y0 = obj.initial_point()
    run = secant_run(obj, x0, y0, step_schedule(cfg.order, n=obj.n, run_seed=cfg.seed, stop=1), cfg)
    u = torch.randn(x0.shape, generator=zo_generator(cfg.seed, 0, 0), dtype=DT)
    d = run.x - x0
    cos = float(d @ u) / float(torch.linalg.vector_norm(d) * torch.linalg.vector_norm(u))
    assert abs(cos) == pytest.approx(1.0, abs=1e-12)
    assert run.steps[0].step_x == pytest.approx(cfg.eta_x * abs(run.steps[0].phi) * float(u.norm()), rel=1e-12)


def test_on_step_sees_each_record_and_may_stop_the_run():
    obj, cfg = _quad(), _config()
    x0, y0 = obj.initial_point()

    def stop(rec):
        if rec.step == 2:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        secant_run(obj, x0, y0, step_schedule(cfg.order, n=obj.n, run_seed=cfg.seed, stop=6), cfg, on_step=stop)


def test_other_updates_are_rejected():
    obj = _quad()
    x0, y0 = obj.initial_point()
    with pytest.raises(ValueError, match="Jacobi"):
        secant_run(obj, x0, y0, [], _config(update="gauss_seidel"))


@pytest.mark.parametrize("form", ["central", "forward", "spsa"])
def test_flat_estimator_agrees_with_the_batched_one_on_the_same_directions(form):
    g = torch.Generator().manual_seed(0)
    A = torch.randn(6, 6, generator=g, dtype=DT)
    A = A @ A.T
    x = torch.randn(6, generator=g, dtype=DT)
    f = lambda v: 0.5 * (v @ A @ v) if v.dim() == 1 else 0.5 * torch.einsum("...i,ij,...j->...", v, A, v)  # noqa: E731
    pairs = list(zo_flat_directions(f, x, mu=1e-3, q=4, generator=zo_generator(1, 0, 0), form=form))
    U = torch.stack([u for u, _ in pairs])
    batched = zo_gradient_along(f, x, U, mu=1e-3, form=form)
    np.testing.assert_allclose([p for _, p in pairs], batched.phi.numpy(), rtol=1e-9)
    flat = zo_gradient_flat(f, x, mu=1e-3, q=4, generator=zo_generator(1, 0, 0), form=form)
    np.testing.assert_allclose(flat.grad.numpy(), batched.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert flat.u is None and flat.phi.shape == (4,)
