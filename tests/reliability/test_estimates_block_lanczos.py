"""Top-k eigenvalues of operators with repeated and clustered eigenvalues (block Lanczos, k >= 2).

One start vector spans at most one direction of each eigenspace, so single-vector Lanczos reports a
multiple eigenvalue once and then the next distinct one; a block of b >= k start vectors spans up to b
directions of each. The oracle is numpy.linalg.eigh on the dense matrix.
"""

import json

import numpy as np
import pytest
import torch

from hybridsmooth.cli import main
from hybridsmooth.curvature import lanczos_top_eigs, matrix_operator
from hybridsmooth.curvature.operators import Operator

DT = torch.float64
TOL = 1e-10

# top eigenvalue 5 of multiplicity 3, bottom -6 of multiplicity 2; |-6| > 5 > |-4.8| mixes both ends in LM
REPEATED_ENDS = np.concatenate([[5.0] * 3, [4.5], np.linspace(-2.0, 2.0, 112), [-6.0] * 2, [-4.8, -4.6]])
# clusters 1 + 1e-9, 1 at the top and -1.2, -1.2 + 1e-9 at the (larger in magnitude) bottom
CLUSTERED_ENDS = np.concatenate(
    [[1.0 + 1e-9, 1.0, 0.9, 0.8], np.linspace(-0.5, 0.5, 112), [-1.2, -1.2 + 1e-9, -1.1, -1.05]]
)


def with_spectrum(evals, seed=0):
    evals = torch.as_tensor(evals, dtype=DT)
    Q, _ = torch.linalg.qr(torch.randn(len(evals), len(evals), generator=torch.Generator().manual_seed(seed), dtype=DT))
    return (Q * evals) @ Q.T


def wanted(A, k, which):
    """The k eigenvalues ``which`` asks for, from the dense symmetric eigensolver."""
    ev = np.linalg.eigh(A.numpy())[0]
    key = {"LM": -np.abs(ev), "LA": -ev, "SA": ev}[which]
    return ev[np.argsort(key, kind="stable")[:k]]


def explicit_residuals(A, res):
    return [float(torch.linalg.vector_norm(A @ v - lam * v)) for lam, v in zip(res.estimates, res.vectors.T)]


@pytest.mark.parametrize("which", ["LM", "LA", "SA"])
@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("spectrum", [REPEATED_ENDS, CLUSTERED_ENDS], ids=["repeated", "clustered"])
def test_repeated_and_clustered_ends_match_dense_eigh(spectrum, k, which):
    A = with_spectrum(spectrum)
    res = lanczos_top_eigs(
        matrix_operator(A), k, which=which, tol=TOL, max_iter=len(spectrum), seed=0, return_vectors=True
    )
    assert res.converged and res.residual_kind == "explicit"
    np.testing.assert_allclose(res.estimates, wanted(A, k, which), rtol=0, atol=1e-8)
    true = explicit_residuals(A, res)
    np.testing.assert_allclose(res.residuals, true, rtol=1e-6, atol=1e-14)
    # relative to max|theta| over all Ritz values, which has converged to ||A|| by then
    assert max(true) <= TOL * np.abs(spectrum).max()
    # converged well before the basis fills R^d (where every Ritz value would be exact anyway)
    assert res.iterations < len(spectrum)
    assert res.n_hvp == res.iterations + k  # one explicit residual product per wanted vector


def test_repeated_top_eigenvalue_found_k_times():
    A = with_spectrum(REPEATED_ENDS)
    res = lanczos_top_eigs(matrix_operator(A), 3, which="LA", tol=TOL, max_iter=len(REPEATED_ENDS), return_vectors=True)
    assert res.converged
    np.testing.assert_allclose(res.estimates, [5.0, 5.0, 5.0], rtol=0, atol=1e-8)
    # three orthonormal vectors: the whole three-dimensional eigenspace, not one vector counted thrice
    V = res.vectors
    np.testing.assert_allclose((V.T @ V).numpy(), np.eye(3), atol=1e-8)


@pytest.mark.parametrize("k", [2, 3])
def test_multiple_of_identity_is_a_result_not_an_error(k):
    A = 2.0 * torch.eye(10, dtype=DT)
    res = lanczos_top_eigs(matrix_operator(A), k, which="LM", tol=TOL, seed=0, return_vectors=True)
    # the first block spans an invariant subspace: its Ritz values are exact eigenvalues
    assert res.converged and res.restarts == 0 and res.iterations == res.block_size == k + 1
    np.testing.assert_allclose(res.estimates, [2.0] * k, rtol=1e-14)
    assert max(explicit_residuals(A, res)) <= TOL * 2.0


def test_unreachable_tolerance_restarts_orthogonally_until_the_space_is_exhausted():
    """Below rounding level the explicit test cannot pass, so each closed space triggers a restart from a
    random block orthogonal to the basis; the basis then fills R^d and the answer is honest: the exact
    values, not converged."""
    A = with_spectrum([2.0] * 10)
    res = lanczos_top_eigs(matrix_operator(A), 2, tol=1e-300, seed=0)
    assert not res.converged and res.restarts >= 1 and res.iterations == 10
    np.testing.assert_allclose(res.estimates, [2.0, 2.0], rtol=1e-13)


def test_cross_block_repeated_singular_value_reported_k_times(capsys):
    # coupled2: H_xy = s sqrt(ac) W with W orthogonal, so every singular value of H_xy is 0.3
    rc = main(["estimate", "coupled2", "--blocks", "xy", "--k", "2", "--json"])
    assert rc == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    np.testing.assert_allclose(row["top_k"], [0.3, 0.3], rtol=1e-12)
    assert row["converged"] and row["residual"] <= 1e-10 * 0.3


def test_identity_block_k2_exits_0_with_repeated_eigenvalue(capsys):
    # coupled2: H_xx = 2 I and H_yy = 0.5 I; one start vector closes the Krylov space after one product
    assert main(["estimate", "coupled2", "--k", "2"]) == 0
    table = capsys.readouterr().out.splitlines()[2:]
    assert [line.split()[0] for line in table] == ["xx", "yy", "xy"]
    assert all(line.split()[-2] == "yes" for line in table)  # the converged column
    assert main(["estimate", "coupled2", "--k", "2", "--json"]) == 0
    rows = {r["block"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    np.testing.assert_allclose(rows["xx"]["top_k"], [2.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(rows["yy"]["top_k"], [0.5, 0.5], rtol=1e-12)
    np.testing.assert_allclose(rows["xy"]["top_k"], [0.3, 0.3], rtol=1e-12)


def _nonlinear(A, w, eps=1e-4):
    """v -> A v + eps ||v||^2 w: on unit vectors it adds the fixed vector eps w, which the recurrence
    attributes to the basis; on a combination of basis vectors it does not add up."""
    return Operator(A.shape, A.dtype, A.device, lambda v: A @ v + eps * (v @ v) * w, name="nonlinear")


def _asymmetric(A, E, eps=1e-5):
    """A + eps E with E not symmetric, declared symmetric (as a finite-difference HVP would be)."""
    M = A + eps * E
    return Operator(A.shape, A.dtype, A.device, lambda v: M @ v, name="asymmetric")


@pytest.mark.parametrize("kind", ["nonlinear", "asymmetric"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_converged_false_when_recurrence_small_but_explicit_residual_large(kind, k):
    """Lanczos' recurrence residual ||R s_last|| equals ||A v - theta v|| only for an exactly linear
    symmetric A: it ignores the projections q_i^T A q_j that symmetry says vanish away from the band, and it
    adds up products of single basis vectors as if A were linear. Here the recurrence residual falls below
    tol, yet no Ritz pair is accurate to better than ~1e-5, so ``converged`` must be False; with
    ``explicit_residuals=False`` the recurrence alone (and the old rule) would report convergence."""
    d = 30
    g = torch.Generator().manual_seed(3)
    A = with_spectrum(np.linspace(-1.0, 3.0, d), seed=1)
    op = (
        _nonlinear(A, torch.nn.functional.normalize(torch.randn(d, generator=g, dtype=DT), dim=0))
        if kind == "nonlinear"
        else _asymmetric(A, torch.randn(d, d, generator=g, dtype=DT))
    )
    tol = 1e-8
    blind = lanczos_top_eigs(op, k, which="LA", tol=tol, max_iter=d, explicit_residuals=False)
    assert blind.converged and blind.residual_kind == "lanczos" and max(blind.residuals) <= tol * 3.0
    res = lanczos_top_eigs(op, k, which="LA", tol=tol, max_iter=d)
    assert not res.converged and res.residual_kind == "explicit"
    assert min(res.residuals) > 1e3 * tol * 3.0
    # it kept going to the end of the budget rather than stopping at the first small recurrence residual
    assert res.iterations == d and res.n_hvp > d


class _CountingMatmat(Operator):
    """An operator with a block product (columns in, columns out) that counts one product per column and
    records the block widths it was called with."""

    def matmat(self, V):
        self.counter.add(self.hvps_per_matvec * V.shape[1])
        self.widths.append(V.shape[1])
        return self.apply(V)


def test_block_products_use_matmat_when_available():
    A = with_spectrum(REPEATED_ENDS)
    op = _CountingMatmat(A.shape, DT, A.device, lambda V: A @ V, name="blocked")
    object.__setattr__(op, "widths", [])
    res = lanczos_top_eigs(op, 2, which="LA", tol=TOL, max_iter=len(REPEATED_ENDS))
    assert res.converged
    np.testing.assert_allclose(res.estimates, [5.0, 5.0], rtol=0, atol=1e-8)
    assert max(op.widths) == res.block_size == 3
    # every product, the explicit residuals' included, went through matmat: no column-by-column loop
    assert sum(op.widths) == res.n_hvp == res.iterations + 2


def test_one_start_vector_is_completed_to_a_block():
    A = with_spectrum(REPEATED_ENDS)
    v0 = torch.ones(len(REPEATED_ENDS), dtype=DT)
    res = lanczos_top_eigs(matrix_operator(A), 3, which="LA", tol=TOL, max_iter=len(REPEATED_ENDS), v0=v0, seed=4)
    assert res.converged and res.seed == 4 and res.block_size == 4
    np.testing.assert_allclose(res.estimates, [5.0, 5.0, 5.0], rtol=0, atol=1e-8)
