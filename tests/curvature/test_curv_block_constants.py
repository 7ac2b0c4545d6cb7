"""curvature.block_constants against closed forms: a block quadratic's constant Hessian gives L_x, L_y, L_xy
exactly; the noise-key and residual conventions; the tidy table."""

import math

import numpy as np
import pytest
import torch

from hybridsmooth.curvature import BlockConstants, block_constants
from hybridsmooth.curvature.block_constants import BLOCK_SEED_OFFSET, default_tol
from hybridsmooth.objectives.quadratic import make_block_quadratic
from hybridsmooth.problems import make_problem


def _quad(coupling=0.6):
    return make_block_quadratic(dx=12, dy=5, Lx=10.0, Ly=2.0, coupling=coupling, n=3, seed=3)


def _dense_norms(obj):
    H = obj.constant_hessian().numpy()
    d = obj.d_x
    return {"xx": np.linalg.norm(H[:d, :d], 2), "yy": np.linalg.norm(H[d:, d:], 2), "xy": np.linalg.norm(H[:d, d:], 2)}


@pytest.mark.parametrize("solver", ["lanczos", "power", "eigsh"])
def test_block_quadratic_constants_are_exact(solver):
    obj = _quad()
    dense = _dense_norms(obj)
    res = block_constants(obj, *obj.initial_point(), solver=solver, max_iter=5000, tol=1e-12, idx=1)
    assert isinstance(res, BlockConstants) and res.blocks == ("xx", "yy", "xy")
    for e in res.estimates:
        assert e.estimate == pytest.approx(dense[e.block], rel=1e-7), e.block
        assert e.exact == pytest.approx(dense[e.block], rel=1e-12)
        assert e.converged and e.hvps > 0 and e.residual >= 0
    # the construction's own constants: L_x = 10, L_y = 2
    assert res["xx"].estimate == pytest.approx(obj.constants.L_x, rel=1e-7)
    assert res["yy"].estimate == pytest.approx(obj.constants.L_y, rel=1e-7)
    assert res["xy"].estimate == pytest.approx(obj.constants.L_xy, rel=1e-7)


def test_spec_from_the_docstring_gives_its_constants():
    obj = make_problem("quadratic:dx=5,dy=3,Lx=4,Ly=2,n=2,seed=0")
    res = block_constants(obj, *obj.initial_point())
    assert res["xx"].estimate == pytest.approx(4.0, abs=1e-6)
    assert res["yy"].estimate == pytest.approx(2.0, abs=1e-6)


def test_top_k_of_a_block_are_its_largest_magnitude_eigenvalues():
    obj = _quad(0.0)
    H = obj.constant_hessian().numpy()
    ev = np.linalg.eigvalsh(H[: obj.d_x, : obj.d_x])
    want = ev[np.argsort(-np.abs(ev))[:3]]
    res = block_constants(obj, *obj.initial_point(), blocks=("xx",), k=3, tol=1e-11)
    np.testing.assert_allclose(res["xx"].top_k, want, rtol=1e-8)


def test_noise_key_offsets_the_blocks_and_a_mapping_overrides_it():
    obj = _quad()
    x, y = obj.initial_point()
    res = block_constants(obj, x, y, seed=7)
    assert [e.seed for e in res.estimates] == [7 + BLOCK_SEED_OFFSET[b] for b in ("xx", "yy", "xy")]
    assert len({e.seed for e in res.estimates}) == 3
    same = block_constants(obj, x, y, seed={"xx": 4, "yy": 4, "xy": 4})
    assert [e.seed for e in same.estimates] == [4, 4, 4]
    # the seed is the start vector's: the same seed gives the same solve, bit for bit
    again = block_constants(obj, x, y, blocks=("yy",), seed={"yy": 8})
    assert again["yy"].estimate == res["yy"].estimate and again["yy"].hvps == res["yy"].hvps


def test_residual_conventions():
    """Explicit residuals cost one product per block (k = 1, exact products); the recurrence value is free.
    Both certify the same converged value; the cross block counts two HVPs per product."""
    obj = _quad()
    x, y = obj.initial_point()
    explicit = block_constants(obj, x, y, tol=1e-10)
    recurrence = block_constants(obj, x, y, tol=1e-10, residuals="lanczos")
    for b, per_product in (("xx", 1), ("yy", 1), ("xy", 2)):
        e, r = explicit[b], recurrence[b]
        assert e.solver.residual_kind == "explicit" and r.solver.residual_kind == "lanczos"
        assert e.estimate == pytest.approx(r.estimate, rel=1e-12)
        assert e.iterations == r.iterations and e.hvps == r.hvps + per_product
        assert e.residual <= 1e-10 * e.estimate and r.residual <= 1e-10 * r.estimate
    mixed = block_constants(obj, x, y, residuals={"xx": "lanczos", "yy": "explicit", "xy": "lanczos"})
    assert [e.solver.residual_kind for e in mixed.estimates] == ["lanczos", "explicit", "lanczos"]


def test_power_residual_of_the_cross_block_is_in_singular_value_units():
    obj = _quad()
    res = block_constants(obj, *obj.initial_point(), blocks=("xy",), solver="power", max_iter=5000, tol=1e-12)
    xy = res["xy"]
    assert xy.residual == pytest.approx(xy.solver.residuals[0] / xy.estimate, rel=1e-12)


def test_few_products_give_lower_bounds_with_residuals():
    obj = _quad()
    dense = _dense_norms(obj)
    res = block_constants(obj, *obj.initial_point(), max_iter=2, tol=1e-12)
    for e in res.estimates:
        assert not e.converged and e.iterations == 2
        assert e.estimate <= dense[e.block] * (1 + 1e-12)
        # some eigenvalue lies within the residual of a Ritz value
        assert dense[e.block] - e.estimate <= e.residual * (1 + 1e-9) or e.block == "xy"


def test_to_frame_is_one_row_per_block():
    obj = _quad()
    df = block_constants(obj, *obj.initial_point(), blocks=("yy", "xx")).to_frame()
    assert list(df.block) == ["yy", "xx"] and list(df.quantity) == ["L_y", "L_x"]
    assert {"estimate", "exact", "residual", "converged", "iterations", "hvps", "seconds", "seed", "top_k"} <= set(
        df.columns
    )
    assert "asymmetry" not in df.columns


def test_finite_differences_get_their_defects_measured():
    obj = _quad()
    res = block_constants(obj, *obj.initial_point(), backend="finite_difference", defects=True)
    assert res["xx"].estimate == pytest.approx(_dense_norms(obj)["xx"], rel=1e-6)
    df = res.to_frame()
    assert (df.asymmetry < 1e-8).all() and (df.nonlinearity < 1e-8).all()


def test_default_tolerance_follows_dtype_and_backend():
    assert default_tol(torch.float64, "reverse_over_reverse") == 1e-10
    assert default_tol(torch.float32, "reverse_over_reverse") == 1e-5
    assert default_tol(torch.float64, "finite_difference") == 1e-7


def test_callbacks_bracket_each_solve():
    obj = _quad()
    events = []
    block_constants(
        obj,
        *obj.initial_point(),
        blocks=("xx", "xy"),
        on_block_start=lambda b: events.append(("s", b)),
        on_block_done=lambda b: events.append(("d", b)),
    )
    assert events == [("s", "xx"), ("d", "xx"), ("s", "xy"), ("d", "xy")]


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(blocks=("xz",)), "blocks"),
        (dict(blocks=("xx", "xx")), "blocks"),
        (dict(solver="arnoldi"), "solver"),
        (dict(solver="power", k=2), "k must"),
        (dict(k=0), "k must"),
    ],
)
def test_bad_arguments_are_value_errors(kw, msg):
    obj = _quad()
    with pytest.raises(ValueError, match=msg):
        block_constants(obj, *obj.initial_point(), **kw)


def test_missing_block_is_a_key_error():
    obj = _quad()
    res = block_constants(obj, *obj.initial_point(), blocks=("xx",))
    with pytest.raises(KeyError, match="xy"):
        res["xy"]
    assert math.isfinite(res.hvps)
