"""Partial re-orthogonalisation (``curvature.semi_orthogonality``): the basis stays semi-orthogonal, the Ritz
values are those of full re-orthogonalisation, and most products skip the pass over the basis."""

import math

import numpy as np
import pytest
import torch

from hybridsmooth.curvature import HessianAtPoint, density, lanczos_top_eigs, ritz, semi_orthogonality, spectral_density
from hybridsmooth.curvature.operators import Operator, dilation, matrix_operator
from hybridsmooth.curvature.ritz import lanczos_step
from hybridsmooth.curvature.semi_orthogonality import SemiOrthogonality


def _diagonal_operator(dtype, d: int = 3000, seed: int = 0) -> Operator:
    # three separated top eigenvalues over a dense bulk: the top Ritz values converge within a few dozen steps,
    # and as they do the plain three-term recurrence loses orthogonality against their Ritz vectors
    g = torch.Generator().manual_seed(seed)
    diag = torch.cat([torch.tensor([10.0, 9.9, 9.5]), 5.0 * torch.rand(d - 3, generator=g)]).to(dtype)
    return Operator((d, d), dtype, torch.device("cpu"), lambda v: diag * v, name="diag")


def _worst_orthogonality(op: Operator, steps: int, orth: SemiOrthogonality) -> tuple[float, list[float]]:
    """Runs ``steps`` Lanczos steps under ``orth`` and returns the largest |q_i^T q_k| (i != k) met, and the
    estimates' largest entry after each step."""
    d = op.shape[0]
    Q = torch.empty(steps + 1, d, dtype=op.dtype)
    v = torch.randn(d, generator=torch.Generator().manual_seed(1), dtype=op.dtype)
    Q[0] = v / v.norm()
    worst, estimates = 0.0, []
    for j in range(steps):
        _, w, beta = lanczos_step(op, Q, j, orth)
        Q[j + 1] = w / beta
        worst = max(worst, float((Q[: j + 1].double() @ Q[j + 1].double()).abs().max()))
        estimates.append(float(np.abs(orth.cur[:-1]).max()))
    return worst, estimates


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_basis_stays_semi_orthogonal_and_would_not_without_the_passes(dtype):
    op = _diagonal_operator(dtype)
    eps = torch.finfo(dtype).eps
    orth = SemiOrthogonality(eps)
    worst, _ = _worst_orthogonality(op, 250, orth)
    assert worst <= math.sqrt(eps)
    assert 0 < orth.full_passes < 250 * 0.6
    # the same run with the passes switched off: the loss the estimates guard against is real
    never = SemiOrthogonality(eps)
    never.level = math.inf
    lost, estimates = _worst_orthogonality(op, 250, never)
    assert never.full_passes == 0 and lost > 1e3 * math.sqrt(eps)
    # and the estimates saw it coming: they pass sqrt(eps) no later than the truth does
    assert max(estimates) > math.sqrt(eps)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-8)])
@pytest.mark.parametrize("which", ["LM", "SA", "LA"])
def test_partial_gives_the_ritz_values_of_full(dtype, tol, which):
    op = _diagonal_operator(dtype)
    full = lanczos_top_eigs(op, which=which, tol=tol, max_iter=400, reorth="full")
    part = lanczos_top_eigs(op, which=which, tol=tol, max_iter=400, reorth="partial")
    assert full.converged and part.converged
    assert full.reorth == "full" and full.full_passes is None and part.reorth == "partial"
    # both certified by their explicit residuals, and within them of each other
    assert abs(part.top - full.top) <= part.residuals[0] + full.residuals[0]
    assert abs(part.iterations - full.iterations) <= max(2, full.iterations // 10)
    assert part.full_passes < part.iterations
    # and both against the spectrum itself, known exactly: the diagonal
    diag = op.apply(torch.ones(op.shape[0], dtype=dtype)).double()
    exact = {"LM": 10.0, "LA": 10.0, "SA": float(diag.min())}[which]
    assert abs(part.top - exact) <= part.residuals[0] + 1e-6 * 10.0


def test_partial_restarts_and_closed_spaces():
    """A capped basis restarts from its Ritz vector, a closed Krylov space carries on in a fresh direction:
    both keep their answers under partial re-orthogonalisation."""
    g = torch.Generator().manual_seed(11)
    d = 300
    U, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    ev = torch.linspace(-1, 1, d, dtype=torch.float64)
    ev[-1] = 1.2
    A = U @ torch.diag(ev) @ U.T
    capped = lanczos_top_eigs(matrix_operator(A), tol=1e-8, max_iter=400, max_basis=9, reorth="partial")
    assert capped.converged and capped.restarts >= 1 and abs(capped.top - 1.2) <= 1e-8 * 1.2 + capped.residuals[0]
    # eigenvalues 3 (twice) and 1 (many times): the space closes after two steps; the top is 3
    closed = torch.diag(torch.tensor([3.0, 3.0] + [1.0] * 40, dtype=torch.float64))
    res = lanczos_top_eigs(matrix_operator(closed), tol=1e-10, max_iter=42, reorth="partial")
    assert res.converged and abs(res.top - 3.0) <= 1e-10 * 3


def test_auto_chooses_partial_on_large_exact_operators_only(monkeypatch):
    op = _diagonal_operator(torch.float64, d=500)
    assert lanczos_top_eigs(op, tol=1e-8, max_iter=100).reorth == "full"  # below PARTIAL_REORTH_FROM
    monkeypatch.setattr(semi_orthogonality, "PARTIAL_REORTH_FROM", 400)
    assert lanczos_top_eigs(op, tol=1e-8, max_iter=100).reorth == "partial"
    inexact = Operator(op.shape, op.dtype, op.device, op.apply, name="fd", exact_products=False)
    assert lanczos_top_eigs(inexact, tol=1e-8, max_iter=100).reorth == "full"
    # wrappers keep the flag: a dilation of inexact blocks is inexact
    assert not dilation(inexact, inexact).exact_products and dilation(op, op).exact_products
    with pytest.raises(ValueError, match="unknown reorth"):
        lanczos_top_eigs(op, reorth="sometimes")


def test_finite_difference_products_are_marked_inexact(tiny):
    x, y = tiny.initial_point()
    for backend, exact in (("reverse_over_reverse", True), ("finite_difference", False)):
        op = HessianAtPoint(tiny, x, y, idx=0, backend=backend).operator("xx")
        assert op.exact_products is exact


def test_partial_on_a_model_hessian_matches_full(tiny):
    x, y = tiny.initial_point()
    op = HessianAtPoint(tiny, x, y, idx=0, reuse_graph=True).operator("xx")
    full = lanczos_top_eigs(op, tol=1e-8, max_iter=op.shape[0], reorth="full")
    part = lanczos_top_eigs(op, tol=1e-8, max_iter=op.shape[0], reorth="partial")
    assert full.converged and part.converged
    assert abs(part.top - full.top) <= 1e-8 * abs(full.top) + part.residuals[0] + full.residuals[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="eps"):
        SemiOrthogonality(0.0)
    with pytest.raises(ValueError, match="noise"):
        SemiOrthogonality(1e-7, noise=0.5)


def test_the_spectral_density_reorthogonalises_partially_and_keeps_its_nodes(monkeypatch):
    """SLQ's probes follow the eigen-solver's rule: partial on large exact operators. Their Gauss nodes and
    weights are those of full re-orthogonalisation to rounding, and one probe still runs the eigen-solver's
    recurrence to the last bit."""
    g = torch.Generator().manual_seed(2)
    d = 400
    U, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    A = (U * torch.linspace(-2.0, 5.0, d, dtype=torch.float64)) @ U.T
    full = spectral_density(matrix_operator(A), n_probes=3, n_steps=60, seed=1, batch=1)
    calls = []
    real_update = ritz.lanczos_update

    def spy(Q, j, w, orthogonality=None):
        calls.append(orthogonality is not None)
        return real_update(Q, j, w, orthogonality)

    monkeypatch.setattr(semi_orthogonality, "PARTIAL_REORTH_FROM", 100)
    monkeypatch.setattr(density, "lanczos_update", spy)
    part = spectral_density(matrix_operator(A), n_probes=3, n_steps=60, seed=1, batch=1)
    assert calls and all(calls)
    np.testing.assert_allclose(part.nodes, full.nodes, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(part.weights, full.weights, rtol=1e-7, atol=1e-9)
