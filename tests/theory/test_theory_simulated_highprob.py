"""Check 14 (stopping times, high-probability claims, misuse falsifier) at fast size, and the epoch loop."""

import numpy as np
import pytest
import torch

from hybridsmooth.objectives.quartic import make_quartic
from hybridsmooth.optim import HybridSGDConfig, run_hybrid_sgd
from hybridsmooth.theory.claims import check14_high_probability as c14
from hybridsmooth.theory.epoch_points import epoch_start_points

pytestmark = pytest.mark.theory


def test_epoch_start_points_follow_the_optimizer():
    obj = make_quartic(dx=6, dy=3, n=4)
    cfg = HybridSGDConfig(eta_x=0.01, eta_y=0.05, epochs=5, seed=3)
    xs, ys = epoch_start_points(obj, cfg, seeds=4)
    res = run_hybrid_sgd(obj, cfg, seeds=4)
    gx, gy = obj.grad(xs, ys)
    norms = torch.sqrt((gx**2).sum(-1) + (gy**2).sum(-1)).numpy()  # (T+1, S)
    want = res.metrics.pivot(index="epoch", columns="seed", values="grad_norm").to_numpy()
    np.testing.assert_allclose(norms, want, rtol=1e-12)


def test_check14_claims_hold_and_falsifier_is_reported():
    rows = c14.check14_high_probability(size="fast")
    assert len(rows) == 5
    for r in rows[:4]:
        assert r.verdict in ("pass", "vacuous pass"), r
        assert r.seeds == 150
    tau1, tau2, var, frac = rows[:4]
    assert tau1.details["rate"] == 0.0 and tau1.computed < 0.025  # CP upper with 0 events in 150 runs
    assert 0 < var.computed < var.theoretical
    assert frac.details["T_required"] == 20  # eps solved so that T_required = T
    misuse = rows[4]
    assert "misuse" in misuse.check and misuse.details["step_ratio_vs_theory"] > 1
    assert misuse.details["clopper_pearson_upper"] >= misuse.computed


def test_check14_too_few_seeds_cannot_certify_delta_over_4():
    # 0 events in 50 runs: the Clopper-Pearson upper bound 0.058 exceeds delta/4 = 0.025, so the rate rows fail
    rows = c14.check14_high_probability(size="fast", seeds=50)
    assert rows[0].details["rate"] == 0.0 and rows[0].verdict == "fail"
