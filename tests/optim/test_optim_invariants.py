"""THEORY check 16 and the loop's contracts: FO-point options, determinism, sample usage, RNG hygiene,
divergence handling, config validation."""

import numpy as np
import pandas as pd
import pytest
import torch

from hybridsmooth.objectives.quadratic import make_block_quadratic
from hybridsmooth.optim import METHODS, HybridSGDConfig, fo_block_gradient, run_hybrid_sgd, summarize_run
from hybridsmooth.optim.run_metrics import METRIC_COLUMNS


def _quad(**kw):
    args = dict(dx=6, dy=3, Lx=4.0, Ly=1.0, coupling=0.8, n=5, spread=1.0, seed=2)
    args.update(kw)
    return make_block_quadratic(**args)


@pytest.mark.theory
def test_fo_point_plus_mean_and_variance_exact():
    obj = _quad()
    N, mu = 40000, 0.3
    g = torch.Generator().manual_seed(5)
    x = torch.randn(obj.d_x, generator=g, dtype=torch.float64)
    y = torch.randn(obj.d_y, generator=g, dtype=torch.float64)
    u = torch.randn(N, obj.d_x, generator=g, dtype=torch.float64)
    clean = fo_block_gradient(obj, x, y, 2)
    plus = fo_block_gradient(obj, x.expand(N, -1), y.expand(N, -1), 2, fo_point="plus", mu=mu, u1=u)
    se = plus.std(0) / np.sqrt(N)
    assert bool(((plus.mean(0) - clean).abs() <= 5 * se).all())
    B = obj.H[: obj.d_x, obj.d_x :]
    # on a quadratic the shift is exactly mu B^T u, hence mean 0 and variance mu^2 ||B||_F^2
    torch.testing.assert_close(plus - clean, mu * u @ B, rtol=1e-10, atol=1e-12)
    sq = ((plus - clean) ** 2).sum(-1)
    exact = mu**2 * float((B**2).sum())
    assert abs(float(sq.mean()) - exact) <= 5 * float(sq.std()) / np.sqrt(N)
    sym = fo_block_gradient(obj, x.expand(N, -1), y.expand(N, -1), 2, fo_point="sym", mu=mu, u1=u)
    torch.testing.assert_close(sym, clean.expand(N, -1), rtol=1e-12, atol=1e-12)


def test_sym_run_equals_clean_run_and_plus_differs():
    obj = _quad()
    runs = {
        fp: run_hybrid_sgd(obj, HybridSGDConfig(eta_x=0.01, eta_y=0.3, epochs=5, fo_point=fp, mu=0.1), seeds=4)
        for fp in ("clean", "sym", "plus")
    }
    for col in ("loss", "grad_norm"):
        np.testing.assert_allclose(runs["sym"].metrics[col], runs["clean"].metrics[col], rtol=1e-12)
    torch.testing.assert_close(runs["sym"].y, runs["clean"].y, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(runs["plus"].y, runs["clean"].y, rtol=1e-6, atol=0)


@pytest.mark.parametrize("method", list(METHODS))
def test_same_seed_bitwise_identical(method):
    obj = _quad()
    modes = METHODS[method]
    cfg = HybridSGDConfig(
        method=method,
        eta_x=0.0 if modes[0] == "frozen" else 0.01,
        eta_y=0.0 if modes[1] == "frozen" else 0.2,
        epochs=4,
        seed=9,
    )
    a, b = run_hybrid_sgd(obj, cfg, seeds=3), run_hybrid_sgd(obj, cfg, seeds=3)
    assert list(a.metrics.columns) == list(METRIC_COLUMNS)
    pd.testing.assert_frame_equal(a.metrics.drop(columns="seconds"), b.metrics.drop(columns="seconds"))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    x0, y0 = obj.initial_point(3)
    assert torch.equal(a.x, x0) == (modes[0] == "frozen")
    assert torch.equal(a.y, y0) == (modes[1] == "frozen")
    c = run_hybrid_sgd(obj, HybridSGDConfig(**{**cfg.__dict__, "seed": 10}), seeds=3)
    assert not (torch.equal(c.x, a.x) and torch.equal(c.y, a.y))


class Recording:
    """Wraps an objective and records the per-step sample indices of the FO gradient calls."""

    def __init__(self, obj):
        self.obj, self.calls = obj, []

    def __getattr__(self, name):
        return getattr(self.obj, name)

    def grad(self, x, y, idx=None, *, blocks="xy"):
        if idx is not None:
            self.calls.append(torch.as_tensor(idx).clone())
        return self.obj.grad(x, y, idx, blocks=blocks)


@pytest.mark.parametrize("order", ["rr", "so", "ig"])
def test_each_sample_once_per_epoch(order):
    obj = Recording(_quad())
    n, seeds, epochs = obj.n, 6, 4
    run_hybrid_sgd(obj, HybridSGDConfig(eta_x=0.01, eta_y=0.2, epochs=epochs, order=order), seeds=seeds)
    idx = torch.stack(obj.calls).reshape(epochs, n, seeds)  # one FO call per step
    perms = idx.permute(0, 2, 1)  # (epoch, seed, n)
    assert bool((perms.sort(-1).values == torch.arange(n)).all())
    same = [torch.equal(perms[0], perms[t]) for t in range(1, epochs)]
    assert all(same) if order in ("so", "ig") else not any(same)
    if order == "ig":
        assert bool((perms == torch.arange(n)).all())


def test_global_rng_untouched():
    torch.manual_seed(123)
    np.random.seed(4)
    t_state, n_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    run_hybrid_sgd(_quad(), HybridSGDConfig(eta_x=0.01, eta_y=0.2, epochs=3, order="sgd"), seeds=2)
    assert torch.equal(t_state, torch.get_rng_state())
    assert np.array_equal(n_state, np.random.get_state()[1])


def test_unbatched_run_matches_protocol():
    obj = _quad()
    res = run_hybrid_sgd(obj, HybridSGDConfig(eta_x=0.01, eta_y=0.2, epochs=3), seeds=None)
    assert res.x.shape == (obj.d_x,) and res.y.shape == (obj.d_y,)
    assert len(res.metrics) == 4 and set(res.metrics.seed) == {0}
    assert res.metrics.loss.iloc[-1] < res.metrics.loss.iloc[0]


def test_divergence_stops_keeps_rows_and_names_eta_x_and_limit():
    obj = _quad(dx=20, dy=3, Lx=10.0)
    limit = 2 / (10.0 * 22)
    res = run_hybrid_sgd(obj, HybridSGDConfig(eta_x=20 * limit, eta_y=0.2, epochs=200), seeds=5)
    assert res.diverged and all(e is not None for e in res.diverged_epoch)
    assert max(res.diverged_epoch) < 200
    for s, e in enumerate(res.diverged_epoch):
        rows = res.metrics[res.metrics.seed == s]
        assert list(rows.epoch) == list(range(e + 1))  # rows up to the detection, none after
        assert rows.loss.iloc[-1] > 1e6 * rows.loss.iloc[0] or not np.isfinite(rows.loss.iloc[-1])
        assert (rows.loss.iloc[:-1] <= 1e6 * rows.loss.iloc[0]).all()
    assert f"eta_x={20 * limit:.4g} exceeds the ZO mean-square limit 2/(L_x(d_x+2)) = {limit:.4g}" in res.diagnosis
    assert "eta_y" not in res.diagnosis.split(";")[0]
    s = summarize_run(res)
    assert s["diverged_seeds"] == 5 and s["diagnosis"] == res.diagnosis


def test_converging_run_no_divergence_message():
    res = run_hybrid_sgd(_quad(), HybridSGDConfig(eta_x=0.005, eta_y=0.2, epochs=10), seeds=3)
    assert not res.diverged and res.diagnosis.startswith("no divergence in 3 seeds")


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(eta_x=-0.1, eta_y=0.1), "eta_x must be positive"),
        (dict(eta_x=0.1, eta_y=0.0), "eta_y must be positive"),
        (dict(method="fo_peft", eta_x=0.1, eta_y=0.1), "keeps x frozen: eta_x must be 0"),
        (dict(method="sgd", eta_x=0.1, eta_y=0.1), "accepted: hybrid, fo_full, fo_peft, zo_full, zo_peft"),
        (dict(eta_x=0.1, eta_y=0.1, order="random"), "accepted: rr, so, ig, sgd"),
        (dict(eta_x=0.1, eta_y=0.1, update="joint"), "accepted: jacobi, gauss_seidel"),
        (dict(eta_x=0.1, eta_y=0.1, form="gauss"), "accepted: central, forward, spsa"),
        (dict(method="fo_full", eta_x=0.1, eta_y=0.1, fo_point="plus"), "needs a ZO x block"),
        (dict(eta_x=0.1, eta_y=0.1, mu=0.0), "mu must be"),
        (dict(eta_x=0.1, eta_y=0.1, q=0), "q must be"),
        (dict(eta_x=0.1, eta_y=0.1, divergence_factor=0.5), "divergence_factor"),
        (dict(eta_x=float("nan"), eta_y=0.1), "finite"),
    ],
)
def test_config_validation(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        HybridSGDConfig(**kwargs)
