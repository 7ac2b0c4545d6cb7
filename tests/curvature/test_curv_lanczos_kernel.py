"""The one single-vector Lanczos step (curvature.ritz.lanczos_step) behind both the eigen-solver and the
spectral density: same recurrence, same products, same Ritz values."""

import numpy as np
import pytest
import scipy.linalg
import torch

from hybridsmooth.curvature import lanczos_top_eigs, matrix_operator, spectral_density
from hybridsmooth.curvature.density import _lanczos_tridiagonal
from hybridsmooth.curvature.ritz import lanczos_step

DT = torch.float64


def _sym(d, seed):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=DT))
    return (Q * torch.linspace(-2.0, 5.0, d, dtype=DT)) @ Q.T


def test_full_recurrence_reproduces_the_spectrum_with_one_product_per_step():
    A = _sym(15, 0)
    op = matrix_operator(A)
    Q = torch.zeros(16, 15, dtype=DT)
    Q[0] = torch.ones(15, dtype=DT) / 15**0.5
    alpha, beta = [], []
    for j in range(15):
        a, w, b = lanczos_step(op, Q, j)
        alpha.append(a)
        beta.append(b)
        Q[j + 1] = w / b if b > 0 else 0.0
        # w is orthogonal to the basis it was built from (full re-orthogonalisation)
        assert float((Q[: j + 1] @ w).abs().max()) <= 1e-12
    assert op.counter.hvps == 15
    theta = scipy.linalg.eigh_tridiagonal(np.array(alpha), np.array(beta[:-1]))[0]
    np.testing.assert_allclose(theta, np.linalg.eigvalsh(A.numpy()), atol=1e-10)
    assert beta[-1] <= 1e-10  # the Krylov space is R^15: the last residual vanishes


@pytest.mark.parametrize("m", [1, 4, 9])
def test_density_tridiagonal_gives_the_eigen_solvers_ritz_values(m):
    """The same start vector and number of steps: the density's quadrature nodes are the Ritz values the
    eigen-solver computes from its own recurrence, to the last bit, and both spend m products."""
    A = _sym(20, 1)
    v = torch.randn(20, generator=torch.Generator().manual_seed(2), dtype=DT)
    v = v / torch.linalg.vector_norm(v)
    op = matrix_operator(A)
    a, b = _lanczos_tridiagonal(op, v, m)
    assert op.counter.hvps == m and len(a) == m and len(b) == m - 1
    nodes = a if m == 1 else scipy.linalg.eigh_tridiagonal(a, b)[0]
    res = lanczos_top_eigs(matrix_operator(A), 1, which="LA", max_iter=m, tol=1e-300, v0=v, explicit_residuals=False)
    assert res.iterations == m and res.n_hvp == m
    assert res.top == float(nodes.max())


def test_density_stops_where_the_krylov_space_closes():
    op = matrix_operator(3.0 * torch.eye(6, dtype=DT))
    sd = spectral_density(op, n_probes=2, n_steps=5, seed=0)
    assert sd.n_hvp == 2  # one product per probe: A v = 3 v closes the space at once
    np.testing.assert_allclose(sd.nodes[:, 0], [3.0, 3.0], rtol=1e-14)
    np.testing.assert_allclose(sd.weights.sum(axis=1), [1.0, 1.0], rtol=1e-14)
