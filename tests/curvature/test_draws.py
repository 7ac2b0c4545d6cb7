"""Where the solvers' random vectors are drawn: on the CPU exactly the draws they always made (so no CPU number
moves), on an accelerator by a generator on that device, reproducibly."""

import pytest
import torch

from hybridsmooth.curvature import draws, lanczos_top_eigs
from hybridsmooth.curvature.operators import matrix_operator
from hybridsmooth.curvature.trace import _probes


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_cpu_draws_are_the_former_host_draws_bit_for_bit(dtype):
    gen = draws.generator(7, "cpu")
    assert gen.device.type == "cpu"
    got = draws.normal((3, 50), gen, dtype, "cpu")
    former = torch.randn(3, 50, generator=torch.Generator().manual_seed(7), dtype=torch.float64).to(dtype)
    assert got.dtype == dtype and torch.equal(got, former)
    signs = draws.signs(40, draws.generator(7, "cpu"), dtype, "cpu")
    former_signs = (2 * torch.randint(0, 2, (40,), generator=torch.Generator().manual_seed(7)) - 1).to(torch.float64)
    assert torch.equal(signs, former_signs.to(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(3 * 2**20 + 7,), (2, 2**20 + 1)])
def test_long_cpu_draws_come_in_chunks_with_the_former_bits(dtype, shape, monkeypatch):
    from hybridsmooth.zo import gaussian_chunks

    whole = torch.randn
    sizes = []

    def watched(*args, **kw):
        out = whole(*args, **kw)
        sizes.append(out.numel())
        return out

    former = whole(shape, generator=torch.Generator().manual_seed(11), dtype=torch.float64).to(dtype)
    monkeypatch.setattr(gaussian_chunks.torch, "randn", watched)
    got = draws.normal(shape, draws.generator(11, "cpu"), dtype, "cpu")
    assert got.shape == shape and torch.equal(got, former)
    assert not sizes  # no whole float64 draw: chunks into one buffer


def test_trace_probes_and_lanczos_start_unchanged_on_the_cpu():
    # the probes of Hutchinson and the start of Lanczos as the solvers drew them before draws.py existed
    z = _probes(30, 4, kind="gaussian", seed=3, dtype=torch.float32, device="cpu")
    assert torch.equal(z, torch.randn(4, 30, generator=torch.Generator().manual_seed(3), dtype=torch.float64).float())
    r = _probes(30, 4, kind="rademacher", seed=3, dtype=torch.float32, device="cpu")
    assert set(r.unique().tolist()) == {-1.0, 1.0}
    A = torch.diag(torch.linspace(1.0, 2.0, 20, dtype=torch.float64))
    res = lanczos_top_eigs(matrix_operator(A), 1, max_iter=1, tol=1e-300, explicit_residuals=False)
    v0 = torch.randn(20, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    v0 = v0 / v0.norm()
    assert res.estimates[0] == pytest.approx(float(v0 @ A @ v0), rel=1e-14)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_device_draws_stay_on_the_device_and_repeat_with_the_seed(dtype):
    a = draws.normal((4, 100_000), draws.generator(5, "cuda"), dtype, "cuda")
    b = draws.normal((4, 100_000), draws.generator(5, "cuda"), dtype, "cuda")
    assert a.is_cuda and a.dtype == dtype and torch.equal(a, b)
    m = a.float()
    assert abs(float(m.mean())) < 0.01 and abs(float(m.var()) - 1) < 0.02
    s = draws.signs(100_000, draws.generator(5, "cuda"), dtype, "cuda")
    assert s.is_cuda and set(s.unique().float().tolist()) == {-1.0, 1.0} and abs(float(s.float().mean())) < 0.02
