"""THEORY check 8 (recursion only): the hybrid's second moment on a coupled quadratic, n = 1, central ZO."""

import numpy as np
import pytest
import torch

from hybridsmooth.objectives.quadratic import BlockQuadratic
from hybridsmooth.optim import HybridSGDConfig, run_hybrid_sgd
from hybridsmooth.theory.recursions import (
    hybrid_second_moment_operator,
    hybrid_second_moment_radius,
    hybrid_second_moment_step,
    hybrid_second_moment_trajectory,
)

DX, DY, SEEDS = 4, 3, 4000


def _problem():
    rng = np.random.default_rng(7)
    G = rng.standard_normal((DX + DY, DX + DY))
    H = G @ G.T / (DX + DY) + 0.1 * np.eye(DX + DY)  # random PSD with cross blocks
    z0 = rng.standard_normal(DX + DY)
    obj = BlockQuadratic(H, np.zeros((1, DX + DY)), DX, x0=torch.tensor(z0[:DX]), y0=torch.tensor(z0[DX:]))
    return H, z0, obj


def test_operator_is_the_step_map():
    H, _, _ = _problem()
    rng = np.random.default_rng(0)
    P = rng.standard_normal((DX + DY,) * 2)
    P = P @ P.T
    Op = hybrid_second_moment_operator(H, DX, 0.05, 0.3)
    np.testing.assert_allclose(
        Op @ P.reshape(-1), hybrid_second_moment_step(P, H, DX, 0.05, 0.3).reshape(-1), rtol=1e-12, atol=1e-12
    )


@pytest.mark.theory
@pytest.mark.parametrize("fx, fy", [(0.5, 0.5), (1.0, 0.8)])
def test_simulation_matches_second_moment_recursion(fx, fy):
    H, z0, obj = _problem()
    Lx = np.linalg.norm(H[:DX, :DX], 2)
    Ly = np.linalg.norm(H[DX:, DX:], 2)
    eta_x, eta_y = fx * 2 / (Lx * (DX + 2)), fy / Ly
    steps = 20
    cfg = HybridSGDConfig(method="hybrid", eta_x=eta_x, eta_y=eta_y, epochs=steps, divergence_factor=1e300)
    m = run_hybrid_sgd(obj, cfg, seeds=SEEDS).metrics
    P = hybrid_second_moment_trajectory(H, DX, eta_x, eta_y, z0, steps)
    for k in (1, 5, 10, 20):
        g2 = m.loc[m.epoch == k, "grad_norm"].to_numpy() ** 2
        gx2 = m.loc[m.epoch == k, "grad_x_norm"].to_numpy() ** 2
        Q = H @ P[k] @ H
        for sample, exact in ((g2, np.trace(Q)), (gx2, np.trace(Q[:DX, :DX]))):
            se = sample.std(ddof=1) / np.sqrt(SEEDS)
            assert abs(sample.mean() - exact) <= 5 * se, (k, sample.mean(), exact, se)


@pytest.mark.theory
def test_theorem_region_lies_inside_exact_stability_region():
    H, _, _ = _problem()
    Lx = np.linalg.norm(H[:DX, :DX], 2)
    Ly = np.linalg.norm(H[DX:, DX:], 2)
    cap_x = 1 / (Lx * max(8, 96 * (DX + 1)))  # (C1)-(C2) with n = 1
    cap_y = 1 / (8 * Ly)
    assert hybrid_second_moment_radius(H, DX, cap_x, cap_y) < 1
    assert hybrid_second_moment_radius(H, DX, 2 / Lx, cap_y) > 1  # the top x mode alone is unstable there
    lo, hi = cap_x, 2 / Lx  # exact boundary along eta_x at eta_y = cap_y
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if hybrid_second_moment_radius(H, DX, mid, cap_y) < 1 else (lo, mid)
    assert lo > 10 * cap_x  # strictly inside, by a wide margin (the caps are worst-case constants)
