"""THEORY check 10: RR vs with-replacement noise floors of the FO block, exact formulas vs simulation."""

import numpy as np
import pytest
import torch

from hybridsmooth.objectives.quadratic import BlockQuadratic
from hybridsmooth.optim import HybridSGDConfig, run_hybrid_sgd
from hybridsmooth.theory.recursions import (
    gradient_floor,
    loglog_slope,
    rr_epoch_covariance,
    rr_gradient_floor,
    sgd_covariance,
    sgd_gradient_floor,
)

N, D, SEEDS = 6, 3, 2000
ETAS = (0.05, 0.1, 0.2)


def _problem():
    rng = np.random.default_rng(3)
    U, _ = np.linalg.qr(rng.standard_normal((D, D)))
    C = (U * np.array([1.0, 0.6, 0.3])) @ U.T
    C = 0.5 * (C + C.T)
    centres = rng.standard_normal((N, D))
    centres -= centres.mean(0)
    obj = BlockQuadratic(C, centres, 0, x0=torch.zeros(0), y0=torch.zeros(D))  # y_0 = c_bar = 0
    return C, centres, obj


def test_rr_formula_matches_brute_force_average_over_permutations():
    from itertools import permutations

    C, centres, _ = _problem()
    eta = 0.1
    K = np.eye(D) - eta * C
    delta = centres - centres.mean(0)
    vs = []
    for perm in permutations(range(N)):
        v = sum(np.linalg.matrix_power(K, N - 1 - k) @ C @ delta[i] for k, i in enumerate(perm))
        vs.append(np.outer(v, v))
    from hybridsmooth.theory.recursions import rr_epoch_noise_covariance

    np.testing.assert_allclose(rr_epoch_noise_covariance(C, centres, eta), np.mean(vs, 0), rtol=1e-10, atol=1e-14)


@pytest.mark.theory
@pytest.mark.parametrize("order", ["rr", "sgd"])
def test_simulated_floor_matches_exact_and_slopes(order):
    C, centres, obj = _problem()
    epochs = 150
    sims, stationary = [], []
    for eta in ETAS:
        cfg = HybridSGDConfig(method="fo_peft", eta_y=eta, epochs=epochs, order=order, seed=11)
        m = run_hybrid_sgd(obj, cfg, seeds=SEEDS).metrics
        g2 = m.loc[m.epoch == epochs, "grad_norm"].to_numpy() ** 2
        if order == "rr":
            P = rr_epoch_covariance(C, centres, eta, epochs=epochs)
            floor = rr_gradient_floor(C, centres, eta)
        else:
            P = sgd_covariance(C, centres, eta, steps=epochs * N)
            floor = sgd_gradient_floor(C, centres, eta)
        exact = gradient_floor(C, P)
        se = g2.std(ddof=1) / np.sqrt(SEEDS)
        assert abs(g2.mean() - exact) <= 5 * se, (eta, g2.mean(), exact, se)
        assert exact == pytest.approx(floor, rel=1e-3)  # 150 epochs: stationary for these step sizes
        sims.append(g2.mean())
        stationary.append(floor)
    s_exact, s_sim = loglog_slope(ETAS, stationary), loglog_slope(ETAS, sims)
    if order == "rr":
        assert s_exact >= 2 and s_sim >= 2
        assert s_exact == pytest.approx(3, abs=0.3) and s_sim == pytest.approx(3, abs=0.3)
    else:
        assert s_exact == pytest.approx(1, abs=0.1) and s_sim == pytest.approx(1, abs=0.1)
