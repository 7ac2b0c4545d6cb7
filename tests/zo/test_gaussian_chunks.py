"""Lazy Gaussian directions (zo.gaussian_chunks): drawn and added a chunk at a time with the bits of one whole
draw and add, the generator left where the whole draw leaves it, and a ZO step that never draws a whole tensor
of Gaussian noise on the CPU while its numbers stay those of the whole draws."""

from __future__ import annotations

import pytest
import torch

import hybridsmooth.zo.inplace as inplace
from hybridsmooth.zo.gaussian_chunks import GaussianDraw, chunk_bounds, chunks_apply
from hybridsmooth.zo.inplace import noise, zo_step_inplace
from hybridsmooth.zo.signs import add_direction, as_tensor


def _whole(n, dtype, seed, x, alpha):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(n, generator=g, dtype=dtype)
    return x.clone().add_(u, alpha=alpha), g.get_state()


@pytest.mark.parametrize("n", [16, 17, 31, 32, 48, 1000, 1024 + 15, 4096 + 16, 3 * 1024 + 5])
def test_chunk_bounds_cover_in_groups_of_16_and_the_last_takes_the_remainder(n):
    bounds = chunk_bounds(n, 1024)
    assert bounds[0][0] == 0 and sum(c for _, c in bounds) == n
    assert all(s + c == t for (s, c), (t, _) in zip(bounds, bounds[1:]))
    assert all(c % 16 == 0 for _, c in bounds[:-1]) and bounds[-1][1] >= 16
    assert all(c <= 1024 + 15 for _, c in bounds)


def test_chunk_bounds_refuse_what_the_whole_draw_does_otherwise():
    with pytest.raises(ValueError, match="multiple of 16"):
        chunk_bounds(100, 24)
    with pytest.raises(ValueError, match="draw them whole"):
        chunk_bounds(15, 16)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n, chunk", [(16, 16), (17, 16), (47, 16), (48, 16), (100_003, 1024), (3 * 2**20 + 5, 2**20)])
def test_the_chunked_draw_and_add_are_the_whole_ones_bitwise(dtype, n, chunk, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # the whole add splits over threads; the chunks split elsewhere
    try:
        x = torch.randn(n, generator=torch.Generator().manual_seed(1), dtype=dtype) * 0.05
        expected, state = _whole(n, dtype, 7, x, -0.37)
        g = torch.Generator().manual_seed(7)
        y = x.clone()
        GaussianDraw((n,), generator=g, dtype=dtype, chunk=chunk).add_to(y, -0.37)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(y, expected)
    assert torch.equal(g.get_state(), state)  # the next draw is the one after the whole draw


def test_half_precision_and_strided_targets_take_the_whole_draw():
    assert chunks_apply("cpu", torch.float32) and not chunks_apply("cpu", torch.bfloat16)
    assert not chunks_apply("cuda", torch.float32)  # a Philox generator places draws by offset
    n = 4096 + 3
    for dtype in (torch.bfloat16, torch.float16):
        x = (torch.randn(n, generator=torch.Generator().manual_seed(1)) * 0.05).to(dtype)
        expected, _ = _whole(n, dtype, 3, x, 0.5)
        y = x.clone()
        GaussianDraw((n,), generator=torch.Generator().manual_seed(3), dtype=dtype, chunk=64).add_to(y, 0.5)
        assert torch.equal(y, expected), dtype
    base = torch.randn(64, 70, generator=torch.Generator().manual_seed(2))
    strided = base.t()
    u = torch.randn(70, 64, generator=torch.Generator().manual_seed(4))
    expected = strided.clone().add_(u, alpha=0.1)
    GaussianDraw((70, 64), generator=torch.Generator().manual_seed(4), dtype=torch.float32, chunk=64).add_to(
        strided, 0.1
    )
    assert torch.equal(strided, expected)


def test_a_materialised_draw_is_reused_and_a_second_chunked_draw_refused():
    n = 5000
    d = GaussianDraw((n,), generator=torch.Generator().manual_seed(5), dtype=torch.float32, chunk=1024)
    u = as_tensor(d)
    assert torch.equal(u, torch.randn(n, generator=torch.Generator().manual_seed(5)))
    x = torch.zeros(n)
    add_direction(x, d, 2.0)  # the materialised tensor, not a second draw
    assert torch.equal(x, 2.0 * u)
    fresh = GaussianDraw((n,), generator=torch.Generator().manual_seed(5), dtype=torch.float32, chunk=1024)
    fresh.add_to(torch.zeros(n), 1.0)
    with pytest.raises(RuntimeError, match="drawn already"):
        fresh.add_to(torch.zeros(n), 1.0)
    with pytest.raises(ValueError, match="cannot be added"):
        GaussianDraw((n,), generator=torch.Generator(), dtype=torch.float32).add_to(torch.zeros(n + 1), 1.0)


def test_lazy_noise_refuses_to_skip_a_draw(monkeypatch):
    monkeypatch.setattr(inplace, "GAUSSIAN_CHUNK", 64)
    params = [torch.zeros(100), torch.zeros(200)]
    with pytest.raises(RuntimeError, match="skipped"):
        list(noise(params, form="central", generator=torch.Generator().manual_seed(0), lazy=True))
    for form in ("central", "forward", "spsa"):  # spsa: Rademacher signs, never a Gaussian draw
        lazy = noise(params, form=form, generator=torch.Generator().manual_seed(0), lazy=True)
        whole = noise(params, form=form, generator=torch.Generator().manual_seed(0))
        for u, w in zip(lazy, whole, strict=True):
            assert torch.equal(as_tensor(u), w), form


def _model():
    torch.manual_seed(0)
    # a 1.1M-entry weight, past one chunk of 2^20, beside small ones
    emb, w = torch.randn(1100, 1000) * 0.02, torch.randn(1000, 3) * 0.1
    ids, target = torch.randint(0, 1100, (32,)), torch.randint(0, 3, (32,))

    def loss():
        return torch.nn.functional.cross_entropy(emb[ids] @ w, target)

    return [emb, w], loss


@pytest.mark.parametrize("q", [1, 2])
def test_a_zo_step_never_draws_a_whole_large_tensor_and_keeps_its_numbers(monkeypatch, q):
    params, loss = _model()
    start = [p.clone() for p in params]
    step = dict(mu=1e-3, eta=0.5, run_seed=3, epoch=0, step=4, q=q)
    buffered = zo_step_inplace(params, loss, noise_mode="buffer", **step)  # whole draws, kept
    after_buffer = [p.clone() for p in params]

    for p, s in zip(params, start):
        p.copy_(s)
    largest = []
    randn = torch.randn

    def watched(*args, **kw):
        out = randn(*args, **kw)
        largest.append(out.numel())
        return out

    monkeypatch.setattr(torch, "randn", watched)
    regenerated = zo_step_inplace(params, loss, noise_mode="regenerate", **step)
    assert regenerated.phi == buffered.phi and regenerated.loss_plus == buffered.loss_plus
    assert all(torch.equal(p, b) for p, b in zip(params, after_buffer))
    assert max(largest) < 1100 * 1000  # the large weight's noise came in chunks
