"""Oracle: curvlinops' HessianLinearOperator on the same tiny MLP (the oracle extra; never skipped)."""

import math

import curvlinops
import numpy as np
import pytest
import torch
from curv_models import autograd_block_grads, named_views
from torch import nn
from torch.func import functional_call

from hybridsmooth.curvature import hessian_operator
from hybridsmooth.objectives.base import GradientsFromLoss

pytestmark = pytest.mark.oracle

DT = torch.float64


class _MLPObjective(GradientsFromLoss):
    """f = mean squared error of a 3-4-1 tanh MLP; x = first layer, y = second layer."""

    def __init__(self, model, X, T):
        self.model, self.X, self.T = model, X, T
        self.names = [n for n, _ in model.named_parameters()]
        self.shapes = {n: p.shape for n, p in model.named_parameters()}
        self.x_names, self.y_names = self.names[:2], self.names[2:]
        self.d_x = sum(math.prod(self.shapes[n]) for n in self.x_names)
        self.d_y = sum(math.prod(self.shapes[n]) for n in self.y_names)
        self.n, self.weights, self.dtype, self.device, self.name = (
            1,
            torch.ones(1, dtype=DT),
            DT,
            torch.device("cpu"),
            "mlp",
        )

    def _params(self, x, y):
        return named_views(torch.cat([x, y]), self.names, self.shapes)

    def loss(self, x, y, idx=None):
        return nn.functional.mse_loss(functional_call(self.model, self._params(x, y), (self.X,)), self.T)

    def _grad(self, x, y, idx=None):
        return autograd_block_grads(self.loss, x, y)


def test_full_hessian_products_match_curvlinops():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to(DT)
    g = torch.Generator().manual_seed(0)
    X, T = torch.randn(8, 3, generator=g, dtype=DT), torch.randn(8, 1, generator=g, dtype=DT)
    obj = _MLPObjective(model, X, T)
    params = [p for p in model.parameters()]
    theirs = curvlinops.HessianLinearOperator(model, nn.MSELoss(), params, [(X, T)])
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    ours = hessian_operator(obj, flat[: obj.d_x], flat[obj.d_x :], block="full", idx=0)
    v = np.random.default_rng(0).standard_normal(obj.d_x + obj.d_y)
    # curvlinops 3 multiplies torch tensors (a numpy vector is refused); its scipy view takes numpy
    want = (theirs @ torch.as_tensor(v, dtype=DT)).numpy().reshape(-1)
    np.testing.assert_allclose(theirs.to_scipy() @ v, want, rtol=1e-12, atol=1e-14)
    got = ours.matvec(torch.as_tensor(v, dtype=DT)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)
