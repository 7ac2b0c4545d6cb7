"""The SLQ density with its probes run side by side (one batched product per Lanczos step): the same nodes and
weights as one probe at a time, the same products counted, the dense spectrum's moments, and a default batch
that stays within the memory a Krylov basis may take."""

import numpy as np
import pytest
import torch

from hybridsmooth.curvature import HessianAtPoint, density, matrix_operator, ritz, spectral_density
from hybridsmooth.curvature.density import probes_per_batch
from hybridsmooth.curvature.operators import Operator

DT = torch.float64


def _sym(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=DT))
    return (Q * torch.linspace(-2.0, 5.0, d, dtype=DT)) @ Q.T


def _counting(M: torch.Tensor) -> tuple[Operator, list]:
    """A matrix operator that records how many columns each batched product took."""
    calls: list[int] = []

    def many(V):
        calls.append(V.shape[1])
        return M @ V

    return Operator((M.shape[0],) * 2, M.dtype, M.device, lambda v: M @ v, apply_many=many), calls


@pytest.mark.parametrize("batch", [2, 3, 7])
def test_batched_probes_give_the_one_at_a_time_density(batch):
    A = _sym(40, 0)
    one = spectral_density(matrix_operator(A), n_probes=7, n_steps=12, seed=3, batch=1)
    op, calls = _counting(A)
    many = spectral_density(op, n_probes=7, n_steps=12, seed=3, batch=batch)
    np.testing.assert_allclose(many.nodes, one.nodes, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(many.weights, one.weights, rtol=1e-9, atol=1e-12)
    assert many.n_hvp == one.n_hvp == 7 * 12
    # every step of a full batch is one batched product; a lone probe left over takes matvec
    assert calls and max(calls) == min(batch, 7) and sum(calls) <= 7 * 12


def test_batched_density_has_the_dense_moments_and_integrates_to_one():
    """12 steps from each probe are exact for polynomials of degree <= 23: the first moments are the probes'
    Hutchinson estimates of tr(A^k)/d, which tend to the dense values; the rows stay probability weights."""
    A = _sym(30, 1)
    eig = np.linalg.eigvalsh(A.numpy())
    sd = spectral_density(matrix_operator(A), n_probes=200, n_steps=12, seed=0, batch=8)
    np.testing.assert_allclose(sd.weights.sum(axis=1), 1.0, rtol=1e-12)
    for k in (1, 2, 3):
        m, se = sd.moment(k)
        assert abs(m - np.mean(eig**k)) <= 4 * se, (k, m, np.mean(eig**k), se)


def test_probes_that_close_early_leave_the_batch_without_extra_products():
    # rank-2 spectrum: every Krylov space closes after two products, whatever the batch
    u = torch.nn.functional.normalize(torch.randn(2, 9, generator=torch.Generator().manual_seed(0), dtype=DT), dim=1)
    A = 2.0 * torch.outer(u[0], u[0]) - 1.0 * torch.outer(u[1], u[1])
    op, calls = _counting(A)
    sd = spectral_density(op, n_probes=4, n_steps=6, seed=1, batch=4)
    assert sd.n_hvp <= 4 * 3  # closes after at most the rank + 1 products
    assert calls[0] == 4
    assert sd.nodes.max() <= 2.0 + 1e-10 and sd.nodes.min() >= -1.0 - 1e-10


def test_hessian_blocks_batched_density_agrees_with_one_probe_at_a_time(tiny):
    for block in ("xx", "yy"):
        e = HessianAtPoint(tiny, *tiny.initial_point())
        one = spectral_density(e.operator(block), n_probes=4, n_steps=5, seed=0, batch=1)
        many = spectral_density(e.operator(block), n_probes=4, n_steps=5, seed=0, batch=4)
        assert e.batched and e.batch_error is None  # the batched product ran, not its per-column fallback
        np.testing.assert_allclose(many.nodes, one.nodes, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(many.weights, one.weights, rtol=1e-8, atol=1e-12)


def test_default_batch_follows_the_free_memory(monkeypatch):
    d, steps = 1000, 10
    row = d * 4
    monkeypatch.setattr(ritz, "_available_bytes", lambda device: int(25 * row / ritz.BASIS_MEMORY_FRACTION))
    assert probes_per_batch(d, 8, steps, dtype=torch.float32, device="cpu") == 2  # 25 rows: two bases of 10
    monkeypatch.setattr(ritz, "_available_bytes", lambda device: 0)
    assert probes_per_batch(d, 8, steps, dtype=torch.float32, device="cpu") == 1  # never below one probe
    monkeypatch.setattr(ritz, "_available_bytes", lambda device: None)
    assert probes_per_batch(d, 20, steps, dtype=torch.float32, device="cpu") == 8  # the product's own cap
    assert probes_per_batch(d, 3, steps, dtype=torch.float32, device="cpu") == 3
    # on the CPU long vectors run one probe at a time (batching measured slower there)
    long = density.CPU_BATCH_BYTES // 4 // 3  # three float32 vectors fit
    assert probes_per_batch(long, 8, steps, dtype=torch.float32, device="cpu") == 3
    assert probes_per_batch(4 * long, 8, steps, dtype=torch.float32, device="cpu") == 1


@pytest.mark.parametrize("batch", [0, -1, 1.5, True])
def test_a_bad_batch_is_refused(batch):
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        spectral_density(matrix_operator(_sym(5, 0)), n_probes=2, n_steps=2, batch=batch)
