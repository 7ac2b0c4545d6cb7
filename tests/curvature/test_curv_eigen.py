"""Eigen-solvers on random symmetric matrices with known spectra."""

import dataclasses

import numpy as np
import pytest
import torch

from hybridsmooth.curvature import eigsh_top, lanczos_top_eigs, matrix_operator, power_iteration

DT = torch.float64


def with_spectrum(evals, seed=0):
    evals = torch.as_tensor(evals, dtype=DT)
    d = len(evals)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=DT))
    return (Q * evals) @ Q.T


SEPARATED = np.concatenate([[10.0, 7.0, 5.0], np.linspace(-2.0, 2.0, 147)])
CLUSTERED = np.concatenate([[5.0, 4.999, 4.998], np.linspace(-1.0, 1.0, 147)])
NEGATIVE_END = np.concatenate([[-8.0, -7.5], np.linspace(-3.0, 4.0, 148)])


def _true_residuals(A, res):
    return [float(torch.linalg.vector_norm(A @ v - lam * v)) for lam, v in zip(res.estimates, res.vectors.T)]


@pytest.mark.parametrize(
    "spec,which,want",
    [
        (SEPARATED, "LM", [10.0, 7.0, 5.0]),
        (CLUSTERED, "LM", [5.0, 4.999, 4.998]),
        (NEGATIVE_END, "LM", [-8.0, -7.5, 4.0]),
        (NEGATIVE_END, "SA", [-8.0, -7.5, -3.0]),
        (NEGATIVE_END, "LA", [4.0, 4.0 - 7.0 / 147, 4.0 - 14.0 / 147]),
    ],
)
def test_lanczos_recovers_known_spectrum(spec, which, want):
    A = with_spectrum(spec)
    res = lanczos_top_eigs(matrix_operator(A), 3, which=which, tol=1e-10, max_iter=150, seed=1, return_vectors=True)
    assert res.converged
    np.testing.assert_allclose(res.estimates, want, rtol=1e-8, atol=1e-9)
    # reported residuals are the true ||A v - lambda v|| and are small
    np.testing.assert_allclose(res.residuals, _true_residuals(A, res), rtol=1e-6, atol=1e-13)
    assert max(res.residuals) <= 1e-8 * abs(want[0])
    assert res.n_hvp == res.iterations + 3  # plus one product per explicit residual
    assert res.seed == 1 and res.seconds >= 0


def test_lanczos_cost_grows_for_clusters_but_stays_well_below_dimension():
    sep = lanczos_top_eigs(matrix_operator(with_spectrum(SEPARATED)), 1, tol=1e-8, max_iter=150)
    clu = lanczos_top_eigs(matrix_operator(with_spectrum(CLUSTERED)), 3, tol=1e-8, max_iter=150)
    assert sep.converged and clu.converged
    assert sep.iterations < 40
    assert clu.iterations < 150


def test_power_iteration_well_separated_and_clustered():
    A = with_spectrum(SEPARATED)
    res = power_iteration(matrix_operator(A), tol=1e-6, max_iter=2000, seed=0)
    assert res.converged and res.estimates[0] == pytest.approx(10.0, rel=1e-10)
    assert res.residuals[0] <= 1e-6 * 10.0
    # the rate is (7/10)^j: the residual criterion needs about log(1e-6)/log(0.7) ~ 40 products
    assert 20 <= res.iterations <= 80 and res.n_hvp == res.iterations
    clustered = power_iteration(matrix_operator(with_spectrum(CLUSTERED)), tol=1e-6, max_iter=300, seed=0)
    assert not clustered.converged  # gap 2e-4: hopeless in 300 products...
    assert clustered.estimates[0] == pytest.approx(5.0, rel=1e-3)  # ...yet the Rayleigh quotient is close


def test_power_iteration_negative_end_and_eigenvalue_change_rule():
    A = with_spectrum(NEGATIVE_END)
    res = power_iteration(matrix_operator(A), tol=1e-8, max_iter=2000)
    assert res.converged and res.estimates[0] == pytest.approx(-8.0, rel=1e-7)
    cheap = power_iteration(matrix_operator(A), tol=1e-4, criterion="eigenvalue_change", max_iter=2000)
    assert cheap.converged and cheap.iterations < res.iterations


def test_eigsh_bridge_agrees_with_lanczos():
    A = with_spectrum(NEGATIVE_END)
    a = eigsh_top(matrix_operator(A), 2, which="SA")
    b = lanczos_top_eigs(matrix_operator(A), 2, which="SA", tol=1e-10, max_iter=150)
    np.testing.assert_allclose(a.estimates, b.estimates, rtol=1e-9)
    np.testing.assert_allclose(a.estimates, [-8.0, -7.5], rtol=1e-9)
    assert a.n_hvp > 0 and a.converged


def test_invariant_subspace_is_exact():
    A = with_spectrum(np.concatenate([[3.0] * 10, [1.0] * 10]))  # two distinct eigenvalues
    # one start vector: the Krylov space closes after 2 products, holding one copy of each eigenvalue
    one = lanczos_top_eigs(matrix_operator(A), 1, which="LA", tol=1e-12)
    assert one.iterations == 2 and one.converged and one.n_hvp == 3
    np.testing.assert_allclose(one.estimates, [3.0], rtol=1e-12)
    # a block of k + 1 = 3 vectors: it closes after two blocks, holding three copies of each, so the top two
    # eigenvalues are 3 and 3 (3 is a multiple eigenvalue), not 3 and 1
    res = lanczos_top_eigs(matrix_operator(A), 2, which="LA", tol=1e-12)
    assert res.block_size == 3 and res.iterations == 6 and res.converged and res.n_hvp == 6 + 2
    np.testing.assert_allclose(res.estimates, [3.0, 3.0], rtol=1e-12)


def test_results_are_frozen_and_bad_args_fail():
    A = with_spectrum(SEPARATED)
    res = lanczos_top_eigs(matrix_operator(A), 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.converged = False
    with pytest.raises(ValueError, match="accepted: LM, LA, SA"):
        lanczos_top_eigs(matrix_operator(A), 1, which="BE")
    with pytest.raises(ValueError, match="k must lie"):
        lanczos_top_eigs(matrix_operator(A), 0)
    with pytest.raises(ValueError, match="not symmetric"):
        lanczos_top_eigs(matrix_operator(torch.triu(A)), 1)


def _spiked(d: int = 300, top: float = 1.2) -> torch.Tensor:
    g = torch.Generator().manual_seed(11)
    U, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    ev = torch.linspace(-1, 1, d, dtype=torch.float64)
    ev[-1] = top
    return U @ torch.diag(ev) @ U.T


@pytest.mark.parametrize("max_basis", [4, 9, 25])
def test_a_capped_basis_restarts_and_still_converges(max_basis):
    """A basis capped below what the solve needs restarts from its Ritz vector: the same eigenvalue to the
    tolerance, the explicit residual certified, more products than the uncapped solve, restarts counted."""
    from hybridsmooth.curvature.operators import matrix_operator

    A = _spiked()
    free = lanczos_top_eigs(matrix_operator(A), tol=1e-8, max_iter=400)
    capped = lanczos_top_eigs(matrix_operator(A), tol=1e-8, max_iter=400, max_basis=max_basis)
    assert free.converged and capped.converged and free.restarts == 0
    assert capped.restarts >= 1 and capped.iterations >= free.iterations
    assert abs(capped.top - 1.2) <= 1e-8 * 1.2 + capped.residuals[0]
    assert capped.residuals[0] <= 1e-8 * 1.2
    with pytest.raises(ValueError, match="max_basis must be >= 2"):
        lanczos_top_eigs(matrix_operator(A), max_basis=1)


def test_the_default_basis_is_cut_to_the_free_memory(monkeypatch):
    """With little free memory the basis keeps what fits (at least 4 rows) and the solve restarts."""
    from hybridsmooth.curvature import ritz
    from hybridsmooth.curvature.operators import matrix_operator

    A = _spiked()
    row = A.shape[0] * 8
    monkeypatch.setattr(ritz, "_available_bytes", lambda device: int(6 * row / ritz.BASIS_MEMORY_FRACTION))
    assert ritz.basis_capacity(A.shape[0], 100, dtype=torch.float64, device="cpu") == 6
    res = lanczos_top_eigs(matrix_operator(A), tol=1e-8, max_iter=400)
    assert res.converged and res.restarts >= 1
    monkeypatch.setattr(ritz, "_available_bytes", lambda device: 0)
    assert ritz.basis_capacity(A.shape[0], 100, dtype=torch.float64, device="cpu") == 4
    monkeypatch.setattr(ritz, "_available_bytes", lambda device: None)
    assert ritz.basis_capacity(A.shape[0], 100, dtype=torch.float64, device="cpu") == 100
