"""Packed Rademacher signs (zo.signs): exact +-1, fair and independent bits, one draw per 64 signs, and the
chunked add equal to adding the materialised signs, bit for bit, across chunk boundaries."""

from __future__ import annotations

import math

import pytest
import torch

from hybridsmooth.rng import zo_generator
from hybridsmooth.zo.estimators import draw_directions
from hybridsmooth.zo.inplace import zo_step_inplace
from hybridsmooth.zo.inplace_reference import regenerate_directions
from hybridsmooth.zo.signs import (
    ACCELERATOR_CHUNK,
    CHUNK,
    PackedSigns,
    add_direction,
    as_tensor,
    chunk_for,
    draw_signs,
    rademacher,
)

DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]
WIDTH = {torch.float64: 64, torch.float32: 32, torch.bfloat16: 16, torch.float16: 16}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 15, 16, 17, 63, 64, 65, CHUNK - 1, CHUNK, CHUNK + 3, 2 * CHUNK + 41])
def test_chunked_add_is_the_materialised_add_bitwise(dtype, n):
    signs = draw_signs((n,), generator=torch.Generator().manual_seed(n), dtype=dtype)
    u = signs.materialize()
    assert u.dtype == dtype and u.shape == (n,)
    assert bool(((u == 1) | (u == -1)).all())
    x = torch.randn(n, generator=torch.Generator().manual_seed(1)).to(dtype)
    expected = x + 0.3 * u if dtype == torch.float64 else x.clone().add_(u, alpha=0.3)
    add_direction(x, signs, 0.3)
    assert torch.equal(x, expected)


def test_the_chunk_follows_the_device_and_never_changes_a_number():
    assert chunk_for("cpu") == CHUNK and chunk_for("cuda") == ACCELERATOR_CHUNK  # no GPU needed to ask
    n = ACCELERATOR_CHUNK + 2 * CHUNK + 77  # past one accelerator chunk, so both loops cross a boundary
    signs = draw_signs((n,), generator=torch.Generator().manual_seed(9), dtype=torch.bfloat16)
    x = torch.randn(n, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    expected = x.clone().add_(signs.materialize(), alpha=0.25)
    for chunk in (64 * 1024, CHUNK, ACCELERATOR_CHUNK):
        y = x.clone()
        signs.add_to(y, 0.25, chunk=chunk)
        assert torch.equal(y, expected), chunk
    with pytest.raises(ValueError, match="multiple of 64"):
        signs.add_to(x.clone(), 1.0, chunk=100)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_bit_position_is_fair_and_neighbours_uncorrelated(dtype):
    """A word source that never sets its top bit (int64 random_() without the full range) would give one
    sign per word that is always +1: the per-position frequency catches it."""
    w = WIDTH[dtype]
    n_words = 40_000
    u = rademacher((n_words * w,), generator=torch.Generator().manual_seed(5), dtype=dtype).double()
    per_position = (u.reshape(n_words, w) < 0).double().mean(0)  # P(-1) at each bit position
    se = math.sqrt(0.25 / n_words)
    assert float((per_position - 0.5).abs().max()) < 5 * se
    for lag in (1, w - 1, w, 64):
        corr = float((u[:-lag] * u[lag:]).mean())
        assert abs(corr) < 5 / math.sqrt(u.numel()), f"lag {lag}: {corr}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_generator_draw_per_64_bits(dtype):
    n = 1000
    g = torch.Generator().manual_seed(3)
    draw_signs((n,), generator=g, dtype=dtype)
    words = math.ceil(math.ceil(n / WIDTH[dtype]) * WIDTH[dtype] / 64)
    ref = torch.Generator().manual_seed(3)
    torch.empty(words, dtype=torch.int64).random_(-(2**63), None, generator=ref)
    assert torch.equal(g.get_state(), ref.get_state())


def test_same_state_same_signs_and_shapes_kept():
    a = rademacher((7, 11, 3), generator=torch.Generator().manual_seed(2), dtype=torch.float32)
    b = rademacher((7, 11, 3), generator=torch.Generator().manual_seed(2), dtype=torch.float32)
    c = rademacher((7, 11, 3), generator=torch.Generator().manual_seed(4), dtype=torch.float32)
    assert a.shape == (7, 11, 3) and torch.equal(a, b) and not torch.equal(a, c)
    d = draw_directions((7, 11, 3), form="spsa", generator=torch.Generator().manual_seed(2), dtype=torch.float32)
    assert torch.equal(a, d), "draw_directions' spsa form is the packed draw"


def test_non_contiguous_target_and_bad_inputs():
    signs = draw_signs((6, 5), generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    base = torch.zeros(5, 6)
    target = base.T  # non-contiguous view
    signs.add_to(target, 2.0)
    assert torch.equal(base.T, 2.0 * signs.materialize())
    with pytest.raises(ValueError, match="cannot be added"):
        signs.add_to(torch.zeros(30), 1.0)
    with pytest.raises(ValueError, match="packed signs need"):
        draw_signs((4,), generator=torch.Generator(), dtype=torch.int32)
    assert torch.equal(as_tensor(signs), signs.materialize())
    assert isinstance(signs, PackedSigns)


@pytest.mark.parametrize("q", [1, 2])
def test_inplace_step_over_chunk_boundaries(q):
    """The in-place step adds the packed signs in chunks; on tensors larger than a chunk the two noise modes
    still agree bitwise and the directions are those the flat estimators draw."""
    sizes = [CHUNK + 100, 37, 2 * CHUNK - 5]
    results = {}
    for mode in ("regenerate", "buffer"):
        params = [torch.randn(n, generator=torch.Generator().manual_seed(n)) for n in sizes]
        closure = lambda ps=params: sum(float((p * p).sum()) for p in ps)  # noqa: E731
        step = zo_step_inplace(
            params, closure, mu=1e-2, eta=1e-3, run_seed=1, epoch=0, step=2, form="spsa", q=q, noise_mode=mode
        )
        results[mode] = (params, step.phi)
    assert results["regenerate"][1] == results["buffer"][1]
    assert all(torch.equal(a, b) for a, b in zip(results["regenerate"][0], results["buffer"][0]))
    dirs = regenerate_directions(results["buffer"][0], run_seed=1, epoch=0, step=2, form="spsa", q=q)
    gen = zo_generator(1, 0, 2)
    for u_j in dirs:
        for u, n in zip(u_j, sizes):
            assert torch.equal(u, draw_directions((n,), form="spsa", generator=gen, dtype=torch.float32))
