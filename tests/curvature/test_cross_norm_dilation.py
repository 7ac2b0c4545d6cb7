"""cross_norm must find sigma_max(H_xy) even when the start vector barely sees the top singular pair.

Regression: on SmolLM2 + LoRA at B = 0 the largest-ALGEBRAIC Lanczos on the dilation stopped after two steps
on an interior Ritz value near 0 (the residual test passes relative to |-sigma_max|, already found), and
reported L_xy = 1e-5 where sigma_max >= 49. A tall low-rank B reproduces it exactly.
"""

import torch

from hybridsmooth.curvature import cross_norm, lanczos_top_eigs
from hybridsmooth.curvature.operators import Operator, dilation

SIGMAS = (50.0, 10.0, 1.0)


def _low_rank(m: int, n: int, sigmas, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    U = torch.linalg.qr(torch.randn(m, len(sigmas), generator=g, dtype=torch.float64))[0]
    V = torch.linalg.qr(torch.randn(n, len(sigmas), generator=g, dtype=torch.float64))[0]
    S = torch.tensor(sigmas, dtype=torch.float64)
    cpu = torch.device("cpu")
    B = Operator((m, n), torch.float64, cpu, lambda v: U @ (S * (V.T @ v)), symmetric=False, name="H_xy")
    Bt = Operator((n, m), torch.float64, cpu, lambda v: V @ (S * (U.T @ v)), symmetric=False, name="H_yx")
    return B, Bt


class _Engine:
    def __init__(self, B, Bt):
        self.ops = {"xy": B, "yx": Bt}

    def operator(self, block):
        return self.ops[block]


def test_largest_algebraic_on_the_dilation_can_stop_on_an_interior_value():
    B, Bt = _low_rank(100_000, 50, SIGMAS)
    tops = [lanczos_top_eigs(dilation(B, Bt), 1, which="LA", tol=1e-2, max_iter=5, seed=s).top for s in range(6)]
    assert min(tops) < 1.0 < 49.0 < max(tops)  # the failure the fix avoids, shown on the same operator


def test_cross_norm_finds_sigma_max_from_every_start():
    B, Bt = _low_rank(100_000, 50, SIGMAS)
    for seed in range(6):
        res = cross_norm(_Engine(B, Bt), tol=1e-2, max_iter=5, seed=seed)
        assert abs(res.estimate - SIGMAS[0]) <= 1e-2 * SIGMAS[0], (seed, res.estimate)
        assert res.estimate >= 0
