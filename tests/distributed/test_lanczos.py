"""Lanczos on a FSDP2-sharded model (dot products all-reduced) against the single-process solver, and its
partial re-orthogonalisation and capped basis on an operator split over the ranks whose spectrum is known."""

import pytest
import torch

from hybridsmooth.curvature.eigen import lanczos_top_eigs
from hybridsmooth.curvature.hvp import hessian_operator
from hybridsmooth.curvature.operators import matrix_operator
from hybridsmooth.distributed.lanczos import sharded_lanczos
from hybridsmooth.distributed.toy import toy_data, toy_objective

from .dist_scenarios import LANCZOS, SHARDED_LLM, SPLIT_DIAG, sharded_llm_objective, split_diagonal


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
    # a basis of 4 rows restarts from its Ritz vector, the same on both ranks, and certifies the same value
    capped = a["capped"]
    assert capped == b["capped"] and capped["converged"] and capped["restarts"] >= 1
    assert abs(capped["estimates"][0] - ref.top) <= capped["residuals"][0] + ref.residuals[0] + 1e-6 * abs(ref.top)


@pytest.mark.parametrize("name", ["full", "partial", "partial_capped"])
def test_split_operator_on_two_ranks_finds_its_known_top_eigenvalue(ranks, name):
    a, b = ranks[0]["lanczos"]["split_diag"][name], ranks[1]["lanczos"]["split_diag"][name]
    assert a == b  # the same decisions (passes, restarts, stop) on both ranks, from the same scalars
    assert a["converged"] and a["residuals"][0] <= SPLIT_DIAG["tol"] * 10.0 * 1.01
    # the spectrum is the diagonal: 10 is the top, 9.9 the next, so a certified value lies within its residual
    assert abs(a["estimates"][0] - 10.0) <= a["residuals"][0] + 1e-6 * 10.0


def test_partial_spares_passes_and_a_capped_basis_restarts_on_two_ranks(ranks):
    split = ranks[0]["lanczos"]["split_diag"]
    full, part, capped = split["full"], split["partial"], split["partial_capped"]
    assert full["reorth"] == "full" and full["full_passes"] is None
    assert part["reorth"] == "partial" and part["full_passes"] < part["iterations"]
    assert abs(part["iterations"] - full["iterations"]) <= max(2, full["iterations"] // 10)
    assert capped["restarts"] >= 1 and capped["iterations"] > SPLIT_DIAG["max_basis"]


def test_world_of_one_matches_lanczos_top_eigs_on_a_matrix():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(30, 30, generator=g, dtype=torch.float64)
    M = M + M.T
    res = sharded_lanczos(lambda v: M @ v, 30, tol=1e-10)
    assert res.converged
    assert abs(res.top - lanczos_top_eigs(matrix_operator(M), tol=1e-10).top) <= 1e-8
    assert abs(abs(res.top) - torch.linalg.eigvalsh(M).abs().max()) <= 1e-8


@pytest.mark.parametrize("which", ["LM", "SA"])
def test_world_of_one_partial_and_capped_agree_with_the_spectrum(which):
    diag = split_diagonal()[:3000].double()
    exact = {"LM": 10.0, "SA": float(diag.min())}[which]
    runs = {
        "full": sharded_lanczos(lambda v: diag * v, 3000, which=which, tol=1e-8, max_iter=400),
        "partial": sharded_lanczos(lambda v: diag * v, 3000, which=which, tol=1e-8, max_iter=400, reorth="partial"),
    }
    if which == "LM":  # separated from the rest; the bottom of the bulk is too crowded for a 10-row basis
        runs["capped"] = sharded_lanczos(lambda v: diag * v, 3000, which=which, tol=1e-8, max_iter=400, max_basis=10)
    for name, res in runs.items():
        assert res.converged, name
        assert abs(res.top - exact) <= res.residuals[0] + 1e-9, name
    assert runs["partial"].full_passes < runs["partial"].iterations
    if which == "LM":
        assert runs["capped"].restarts >= 1


def test_sharded_lanczos_refuses_bad_arguments():
    with pytest.raises(ValueError, match="reorth"):
        sharded_lanczos(lambda v: v, 10, reorth="sometimes")
    with pytest.raises(ValueError, match="max_iter"):
        sharded_lanczos(lambda v: v, 10, max_iter=0)
    with pytest.raises(ValueError, match="max_basis"):
        sharded_lanczos(lambda v: v, 10, max_basis=1)


@pytest.mark.parametrize("model", SHARDED_LLM["models"])
def test_sharded_transformer_gives_the_single_process_l_x_up_to_the_finite_difference_bias(ranks, model):
    """A tiny transformer + LoRA with its base weights FSDP2-sharded (blocks, then the root; the LLaMA's embedding
    and head are one tied weight): the sharded estimate of L_x = ||H_xx|| against the single-process one by exact
    products. The finite-difference operator differs from H by O(h^2), which no residual measures; so besides
    the residuals the test asks for that bias to shrink as h^2 (9x for a 3x smaller step)."""
    a, b = ranks[0]["sharded_llm"][model], ranks[1]["sharded_llm"][model]
    assert a == b
    obj = sharded_llm_objective(model)
    assert a["blocks"] == 2 and a["local_dim"] < obj.d_x  # each rank holds a share
    x, y = obj.initial_point()
    ref = lanczos_top_eigs(hessian_operator(obj, x, y, block="xx", idx=0), tol=1e-12, max_iter=200)
    assert ref.converged
    small, large = (a[h] for h in SHARDED_LLM["steps"])
    for res in (small, large):
        assert res["converged"] and res["residuals"][0] <= SHARDED_LLM["tol"] * abs(res["estimates"][0])
    gaps = [abs(r["estimates"][0] - ref.top) for r in (small, large)]
    assert gaps[0] <= 1e-5 * ref.top  # within 1e-5 relative at h = 1e-4
    assert 6.0 < gaps[1] / gaps[0] < 12.0  # O(h^2): 9x for 3x the step
