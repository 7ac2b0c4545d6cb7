"""THEORY 3.2-3.5 statements about block constants, checked with the curvature estimators (computed vs theoretical)."""

import math

import numpy as np
import pytest

from hybridsmooth.curvature import HessianAtPoint, cross_norm, joint_condition, lanczos_top_eigs, smallest_valid_lambda
from hybridsmooth.objectives.quadratic import BlockQuadratic, make_block_quadratic

pytestmark = pytest.mark.theory


def _engine(obj, x=None, y=None):
    if x is None:
        x, y = obj.initial_point()
    return HessianAtPoint(obj, x, y, reduce="direct")  # one autograd graph for f (FiniteSum weights are exact)


def test_worked_example_g3_ratio_is_1_9():
    """THEORY 3.3: H = [[1, 0.9], [0.9, 1]], ell = (1, 1): max ratio of (G3) = lambda_max(D^-1/2 H D^-1/2) = 1.9."""
    q = BlockQuadratic(np.array([[1.0, 0.9], [0.9, 1.0]]), np.zeros((1, 2)), 1)
    jc = joint_condition(_engine(q), 1.0, 1.0, tol=1e-13)
    assert jc.lambda_max == pytest.approx(1.9, rel=1e-12)
    assert not jc.holds_upper


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("tau", [0.25, 4.0])
def test_cross_block_control_gives_a_valid_lambda(seed, tau, logistic):
    """THEORY 3.2 item 2: grad^2 f <= diag((L_x + tau L_xy) I, (L_y + L_xy / tau) I) for every tau > 0."""
    if seed == 0:
        e = _engine(logistic)
    else:
        e = _engine(make_block_quadratic(dx=15, dy=6, Lx=3.0, Ly=1.0, coupling=0.8, n=2, seed=seed))
    Lx = abs(lanczos_top_eigs(e.operator("xx"), 1, tol=1e-12).top)
    Ly = abs(lanczos_top_eigs(e.operator("yy"), 1, tol=1e-12).top)
    Lxy = cross_norm(e, tol=1e-12).estimate
    jc = joint_condition(e, Lx + tau * Lxy, Ly + Lxy / tau, tol=1e-12)
    assert jc.lambda_max <= 1.0 + 1e-9
    # and it is not vacuous: without the cross term the condition fails (coupled instances)
    if seed > 0:
        assert joint_condition(e, Lx, Ly, tol=1e-12).lambda_max > 1.0 + 1e-3


def test_convexity_gives_two_lambda(logistic):
    """THEORY 3.2 item 3: grad^2 f >= 0 implies grad^2 f <= 2 blockdiag(L_x I, L_y I)."""
    x, y = logistic.initial_point()
    for k in (0.0, 1.0, 4.0):
        e = _engine(logistic, k * x, k * y)
        Lx = lanczos_top_eigs(e.operator("xx"), 1, tol=1e-12).top
        Ly = lanczos_top_eigs(e.operator("yy"), 1, tol=1e-12).top
        computed = joint_condition(e, 2 * Lx, 2 * Ly, tol=1e-12).lambda_max
        assert computed <= 1.0 + 1e-9


def test_r1_curve_implies_cross_bound(logistic):
    """THEORY 3.5: (R1) with (L_x, L_y) implies ||grad^2_xy f|| <= sqrt(L_x L_y), at every point of the curve."""
    x, y = logistic.initial_point()
    e = _engine(logistic, 2 * x, 2 * y)
    Lxy = cross_norm(e, tol=1e-12).estimate
    for pt in smallest_valid_lambda([e], [0.1, 1.0, 10.0], tol=1e-12):
        assert Lxy <= math.sqrt(pt.L_x * pt.L_y) * (1 + 1e-9)
        # (R1) also implies the block bounds
        assert lanczos_top_eigs(e.operator("xx"), 1, tol=1e-12).top <= pt.L_x * (1 + 1e-9)
