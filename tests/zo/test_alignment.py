"""Alignment of the ZO estimate with the backprop gradient (zo.alignment): the closed form (d + 1)/q on a linear
function first, then the bookkeeping of the shared directions."""

import math

import pytest
import torch

from hybridsmooth.zo.alignment import AlignmentAccumulator, zo_alignment


def test_relative_error_matches_d_plus_1_over_q_on_a_linear_function():
    d = 12
    g = torch.linspace(-1.0, 2.0, d, dtype=torch.float64)
    x = torch.zeros(d, dtype=torch.float64)
    table = zo_alignment([x], lambda: g @ x, [g], qs=(1, 4, 16), reps=150, mu=0.3, seed=5)
    assert list(table.q) == [1, 4, 16] and list(table.groups) == [2400, 600, 150]
    for r in table.itertuples():
        # central differences of a linear f are exact: E||g_q - g||^2 / ||g||^2 = (d + 1)/q (THEORY 4.3)
        assert r.theory == pytest.approx((d + 1) / r.q)
        assert abs(r.rel_err - r.theory) <= 4 * r.rel_err_se, r
        assert 0 < r.cos <= 1
    # more directions: better aligned
    assert table.cos.is_monotonic_increasing
    assert torch.equal(x, torch.zeros(d, dtype=torch.float64))


def test_one_group_by_hand():
    grad = [torch.tensor([3.0, 4.0], dtype=torch.float64)]
    acc = AlignmentAccumulator(grad, qs=[2])
    # g_2 = (1 * e1 + 2 * e2) / 2 = (0.5, 1)
    acc.hook(0, [torch.tensor([1.0, 0.0], dtype=torch.float64)], 1.0, 0.0)
    acc.hook(1, [torch.tensor([0.0, 1.0], dtype=torch.float64)], 2.0, 0.0)
    row = acc.table().iloc[0]
    est = torch.tensor([0.5, 1.0], dtype=torch.float64)
    assert row.groups == 1 and math.isnan(row.cos_se)
    assert row.cos == pytest.approx(float(est @ grad[0] / (est.norm() * 5.0)))
    assert row.rel_err == pytest.approx(float((est - grad[0]).norm() ** 2 / 25.0))


def test_zero_gradient_is_refused():
    with pytest.raises(ValueError, match="zero"):
        AlignmentAccumulator([torch.zeros(3)], qs=[1])
