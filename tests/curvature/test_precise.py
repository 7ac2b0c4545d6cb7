"""Norms and inner products of long float32 vectors (curvature.precise) against float64 references: the plain
float32 reductions lose 1e-3 relative at MiniLM's length, which breaks a Lanczos basis' orthonormality."""

import pytest
import torch

from hybridsmooth.curvature import precise


def _long(n: int, seed: int) -> torch.Tensor:
    # a positive offset makes naive float32 accumulation drift, as a squared norm does
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g) + 0.5


def test_norm_dot_project_match_float64_on_a_long_vector():
    n = 6_000_017  # not a multiple of the chunk: the tail counts too
    a, b = _long(n, 0), _long(n, 1)
    ref_norm = float(a.double().norm())
    assert abs(precise.norm(a) - ref_norm) <= 1e-6 * ref_norm
    ref_dot = float(a.double() @ b.double())
    assert abs(precise.dot(a, b) - ref_dot) <= 1e-6 * abs(ref_dot)
    basis = torch.stack([a, b, a - b])
    got = precise.project(basis, b).double()
    ref = basis.double() @ b.double()
    assert torch.allclose(got, ref, rtol=1e-6, atol=1e-6 * float(ref.abs().max()))
    assert precise.row_norms(basis)[1] == precise.norm(b)


def test_short_and_float64_vectors_use_the_plain_reductions():
    v = torch.randn(1000, dtype=torch.float64)
    assert precise.norm(v) == float(torch.linalg.vector_norm(v))
    w = torch.randn(3, 4)
    assert precise.norm(w) == float(torch.linalg.vector_norm(w))
    assert precise.dot(v, v) == float(v @ v)


def test_a_lanczos_basis_on_a_long_operator_stays_orthonormal():
    """Diagonal operator of length 3M in float32: five Lanczos steps keep every |q_i . q_j - delta_ij| at the
    float32 level (plain float32 norms left ||q||^2 - 1 at about 1e-4 here)."""
    from hybridsmooth.curvature.operators import Operator

    n = 3_000_000
    diag = torch.linspace(0.0, 1.0, n) + 0.25

    op = Operator((n, n), torch.float32, torch.device("cpu"), lambda v: diag * v, name="diag")
    assert _orthonormality_error(op, n) < 1e-5


def _orthonormality_error(op, n: int, steps: int = 5) -> float:
    """max |q_i . q_j - delta_ij| of the basis after ``steps`` Lanczos steps from a fixed start."""
    from hybridsmooth.curvature.ritz import lanczos_step

    Q = torch.empty(steps + 1, n)
    v = _long(n, 3)
    Q[0] = v / precise.norm(v)
    for j in range(steps):
        _, w, b = lanczos_step(op, Q, j)
        Q[j + 1] = w / b
    G = Q.double() @ Q.double().T
    return float((G - torch.eye(steps + 1, dtype=torch.float64)).abs().max())


def test_float64_dot_and_distance_match_whole_vector_float64():
    """dot64 / distance64 convert chunk by chunk; they agree with the whole-vector float64 reductions to float64
    rounding, and keep a small difference of two large inner products that float32 chunks would lose."""
    n = 3 * precise.CHUNK64 + 12_345
    a, b = _long(n, 2), _long(n, 3)
    ref_dot = float(a.double() @ b.double())
    assert abs(precise.dot64(a, b) - ref_dot) <= 1e-13 * abs(ref_dot)
    ref_dist = float(torch.linalg.vector_norm(a.double() - b.double()))
    assert abs(precise.distance64(a, b) - ref_dist) <= 1e-13 * ref_dist
    # a step of 1e-4 relative: <g, x + s> - <g, x> = <g, s> holds to float64 rounding of the large dots
    step = 1e-4 * _long(n, 4)
    moved = a + step
    exact = float(b.double() @ (moved.double() - a.double()))
    assert abs((precise.dot64(b, moved) - precise.dot64(b, a)) - exact) <= 1e-9 * abs(exact)


def test_the_batched_projection_of_accelerators_matches_the_cpu_loop_and_float64():
    """On a GPU the chunks are reduced in one batched product instead of a Python loop (one launch, not four
    per chunk); called here on the CPU, it agrees with the loop to float32 rounding per chunk and with the
    float64 reference as closely, tail included, also for a basis that is a slice of a longer storage."""
    n = 7 * precise.CHUNK + 4_321  # a tail after the last full chunk of either length
    store = torch.stack([_long(n, s) for s in range(5)])
    basis, w = store[:3], _long(n, 9)  # rows of a preallocated basis, as Lanczos passes them
    ref = basis.double() @ w.double()
    batched = precise._project64_batched(basis, w)
    loop = precise.project64(basis, w)  # a CPU vector: the loop
    assert batched.dtype == torch.float64 and batched.shape == (3,)
    assert torch.allclose(batched, ref, rtol=1e-6, atol=0)
    assert torch.allclose(batched, loop, rtol=1e-6, atol=0)
    exact = precise._project64_batched(basis[:, : 2 * precise.CHUNK], w[: 2 * precise.CHUNK])  # no tail
    assert torch.allclose(exact, basis[:, : 2 * precise.CHUNK].double() @ w[: 2 * precise.CHUNK].double(), rtol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_project_and_dot_take_the_batched_path_and_match_float64():
    n = 5 * precise.CHUNK + 77
    a, b = _long(n, 0).cuda(), _long(n, 1).cuda()
    ref = float(a.double() @ b.double())
    assert abs(precise.dot(a, b) - ref) <= 1e-6 * abs(ref)
    basis = torch.stack([a, b])
    assert torch.allclose(precise.project(basis, b).double(), basis.double() @ b.double(), rtol=1e-6)


def test_a_lanczos_basis_stays_orthonormal_through_the_batched_projection(monkeypatch):
    """The path a GPU takes, run here on the CPU: every projection and inner product of a Lanczos solve goes
    through the batched product, against rows of the solver's own basis storage; the basis stays orthonormal
    at the float32 level and the top eigenvalue of a diagonal operator comes out."""
    from hybridsmooth.curvature import lanczos_top_eigs
    from hybridsmooth.curvature.operators import Operator

    monkeypatch.setattr(precise, "_takes_batched_path", lambda w: True)
    n = 2_000_003
    diag = torch.linspace(0.0, 1.0, n) + 0.25
    diag[n // 3] = 2.0  # a separated top eigenvalue, which a short solve finds to float32's accuracy
    op = Operator((n, n), torch.float32, torch.device("cpu"), lambda v: diag * v, name="diag")
    res = lanczos_top_eigs(op, 1, max_iter=30, tol=1e-6)
    # some eigenvalue lies within the explicit residual (Bauer-Fike), at float32's level: 1.7e-5 by the loop
    assert abs(res.estimates[0] - 2.0) <= res.residuals[0] <= 1e-4
    diag[n // 3] = 1.25  # the basis check of the test above, on the same path
    assert _orthonormality_error(op, n) < 1e-5
