"""Model-shaped objectives with closed-form Hessians as oracles for ModuleObjective's block products and
block norms: linear regression (2/N X^T X), logistic regression (X^T D X / N), softmax regression."""

import numpy as np
import pytest
import torch
from oracle_models import linear_regression, logistic_regression, softmax_regression

from hybridsmooth.curvature import block_constants, hessian_operator

pytestmark = pytest.mark.oracle
CASES = {"linear": linear_regression, "logistic": logistic_regression, "softmax": softmax_regression}


def _blocks(H: torch.Tensor, d_x: int) -> dict:
    return {"xx": H[:d_x, :d_x], "yy": H[d_x:, d_x:], "xy": H[:d_x, d_x:]}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("block", ["xx", "yy", "xy"])
def test_block_products_equal_the_closed_form(case, block):
    obj, H = CASES[case]()
    want = _blocks(H, obj.d_x)[block]
    op = hessian_operator(obj, obj.x.clone(), obj.y.clone(), block=block, idx=0)
    columns = torch.eye(want.shape[1], dtype=torch.float64)
    got = torch.stack([op.matvec(c) for c in columns], dim=1)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_block_norms_equal_the_closed_form(case):
    obj, H = CASES[case]()
    parts = {k: v.numpy() for k, v in _blocks(H, obj.d_x).items()}
    want = {
        "xx": np.abs(np.linalg.eigvalsh(parts["xx"])).max(),
        "yy": np.abs(np.linalg.eigvalsh(parts["yy"])).max(),
        "xy": np.linalg.svd(parts["xy"], compute_uv=False).max(),
    }
    got = block_constants(obj, idx=0, solver="lanczos")
    for block, value in want.items():
        assert got[block].estimate == pytest.approx(value, rel=1e-9), block
