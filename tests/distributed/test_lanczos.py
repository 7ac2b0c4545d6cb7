"""Lanczos on a FSDP2-sharded model (dot products all-reduced) against the single-process solver."""

import torch

from hybridsmooth.curvature.eigen import lanczos_top_eigs
from hybridsmooth.curvature.hvp import hessian_operator
from hybridsmooth.curvature.operators import matrix_operator
from hybridsmooth.distributed.lanczos import sharded_lanczos
from hybridsmooth.distributed.toy import toy_data, toy_objective

from .dist_scenarios import LANCZOS


def test_sharded_lanczos_matches_the_single_process_value(ranks):
    obj = toy_objective([toy_data(LANCZOS["n_examples"])])
    ref = lanczos_top_eigs(hessian_operator(obj, obj.x, obj.y, block="xx", idx=0), tol=1e-10, max_iter=100)
    a, b = ranks[0]["lanczos"], ranks[1]["lanczos"]
    assert a == b  # every rank builds the same tridiagonal matrix from all-reduced scalars
    assert a["converged"] and ref.converged
    # each estimate lies within its explicit residual of an eigenvalue (of H, or of the finite-difference
    # operator, which differs from H by O(h^2) ~ 1e-8 here); add both residuals and that gap
    assert abs(a["estimate"] - ref.top) <= a["residual"] + ref.residuals[0] + 1e-6 * abs(ref.top)
    assert a["residual"] <= LANCZOS["tol"] * abs(a["estimate"])


def test_world_of_one_matches_lanczos_top_eigs_on_a_matrix():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(30, 30, generator=g, dtype=torch.float64)
    M = M + M.T
    res = sharded_lanczos(lambda v: M @ v, 30, tol=1e-10)
    assert res.converged
    assert abs(res.top - lanczos_top_eigs(matrix_operator(M), tol=1e-10).top) <= 1e-8
    assert abs(abs(res.top) - torch.linalg.eigvalsh(M).abs().max()) <= 1e-8
