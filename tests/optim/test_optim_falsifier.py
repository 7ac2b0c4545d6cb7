"""THEORY check 15: individual vs average smoothness. f_1 = (K/2) y^2, f_2 = ((2-K)/2) y^2, f = y^2/2."""

import pytest
import torch

from hybridsmooth.objectives.base import Constants, FiniteSum
from hybridsmooth.optim import HybridSGDConfig, run_hybrid_sgd

K = 100.0


class TwoCurvatures(FiniteSum):
    """n = 2 samples with per-sample Hessians K and 2 - K: L_f = 1 but L_max = K."""

    name = "two-curvatures"

    def __init__(self):
        super().__init__(n=2, d_x=0, d_y=1, constants=Constants(L_y=1.0, L_y_max=K, L_x=0.0), y0=torch.tensor([1.0]))
        self.curv = torch.tensor([K, 2.0 - K], dtype=torch.float64)

    def _sample_losses(self, x, y):
        return 0.5 * self.curv * y**2  # (..., 1) * (2,) -> (..., 2)


def _multiplier(eta):
    return (1 - eta * K) * (1 - eta * (2 - K))


def test_exact_multipliers():
    assert _multiplier(1 / 16) == pytest.approx(-37.40625, rel=1e-15)
    assert _multiplier(1 / (16 * K)) == pytest.approx(0.994921875, rel=1e-15)


@pytest.mark.theory
def test_rr_at_one_over_8nL_f_diverges_and_is_diagnosed():
    obj = TwoCurvatures()
    one = run_hybrid_sgd(obj, HybridSGDConfig(method="fo_peft", eta_y=1 / 16, epochs=1), seeds=4)
    assert torch.allclose(one.y, torch.full((4, 1), _multiplier(1 / 16), dtype=torch.float64), rtol=1e-10, atol=0)
    res = run_hybrid_sgd(obj, HybridSGDConfig(method="fo_peft", eta_y=1 / 16, epochs=50), seeds=4)
    assert res.diverged and res.diverged_epoch == (2, 2, 2, 2)  # loss x 1399 per epoch, threshold 1e6 x
    assert sorted(res.metrics.epoch.unique()) == [0, 1, 2]
    g = res.metrics.groupby("epoch")["grad_norm"].first().to_numpy()
    assert g[1] / g[0] == pytest.approx(abs(_multiplier(1 / 16)), rel=1e-10)
    assert g[2] / g[1] == pytest.approx(abs(_multiplier(1 / 16)), rel=1e-10)
    assert "eta_y=0.0625 exceeds the per-sample FO limit 2/L_y_max = 0.02" in res.diagnosis
    assert "FO limit 2/L_y" not in res.diagnosis.replace("per-sample FO limit 2/L_y_max", "")


@pytest.mark.theory
def test_rr_at_one_over_16K_converges_at_the_exact_rate():
    obj = TwoCurvatures()
    res = run_hybrid_sgd(obj, HybridSGDConfig(method="fo_peft", eta_y=1 / (16 * K), epochs=40, order="rr"), seeds=3)
    assert not res.diverged
    g = res.metrics.groupby("epoch")["grad_norm"].first().to_numpy()
    ratios = g[1:] / g[:-1]
    assert torch.allclose(
        torch.tensor(ratios), torch.full((40,), _multiplier(1 / (16 * K)), dtype=torch.float64), rtol=1e-10, atol=0
    )
