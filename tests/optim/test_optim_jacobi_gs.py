"""THEORY check 9: Jacobi vs Gauss-Seidel at per-block steps 1.5/L_b with coupling b = 0.6."""

import numpy as np
import pytest
import torch

from hybridsmooth.objectives.quadratic import BlockQuadratic
from hybridsmooth.optim import HybridSGDConfig, run_hybrid_sgd

B, GAMMA = 0.6, 1.5


def _coupled(m):
    H = np.block([[np.eye(m), B * np.eye(m)], [B * np.eye(m), np.eye(m)]])
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal(2 * m)
    return H, BlockQuadratic(H, np.zeros((1, 2 * m)), m, x0=torch.tensor(z0[:m]), y0=torch.tensor(z0[m:]))


def _iteration_matrix(H, m, update):
    if update == "jacobi":
        return np.eye(2 * m) - GAMMA * H
    Mx = np.eye(2 * m) - GAMMA * np.vstack([H[:m], np.zeros((m, 2 * m))])  # x first
    My = np.eye(2 * m) - GAMMA * np.vstack([np.zeros((m, 2 * m)), H[m:]])  # then y at (x_new, y)
    return My @ Mx


@pytest.mark.theory
@pytest.mark.parametrize("m", [1, 5])
@pytest.mark.parametrize("update, radius", [("jacobi", 1.4), ("gauss_seidel", 0.5)])
def test_growth_rate_matches_spectral_radius(m, update, radius):
    H, obj = _coupled(m)
    M = _iteration_matrix(H, m, update)
    assert np.max(np.abs(np.linalg.eigvals(M))) == pytest.approx(radius, rel=1e-10)
    epochs = 120
    cfg = HybridSGDConfig(
        method="fo_full", eta_x=GAMMA, eta_y=GAMMA, epochs=epochs, update=update, divergence_factor=1e300
    )
    res = run_hybrid_sgd(obj, cfg, seeds=None)
    g = res.metrics["grad_norm"].to_numpy()
    assert len(g) == epochs + 1
    # exact trajectory: the loop must reproduce the iteration matrix
    z = np.r_[obj._x0.numpy(), obj._y0.numpy()]
    exact = [np.linalg.norm(H @ np.linalg.matrix_power(M, k) @ z) for k in range(epochs + 1)]
    np.testing.assert_allclose(g, exact, rtol=1e-9)
    ks = np.arange(20, epochs + 1)
    rate = np.exp(np.polyfit(ks, np.log(g[ks]), 1)[0])
    assert rate == pytest.approx(radius, rel=0.02)


def test_jacobi_divergence_is_detected_but_no_per_block_limit_explains_it():
    _, obj = _coupled(1)
    cfg = HybridSGDConfig(method="fo_full", eta_x=GAMMA, eta_y=GAMMA, epochs=60)
    res = run_hybrid_sgd(obj, cfg, seeds=3)
    assert res.diverged
    # 1.5 < 2/L_b for both blocks: the divergence comes from the cross block, which no per-block limit sees
    assert "no known stability limit is exceeded" in res.diagnosis
