"""Adjacent views drawn as one tensor: which runs merge, and a step over them that is bitwise the
tensor-by-tensor step (the same signs, losses, weights and generator state)."""

import pytest
import torch

from hybridsmooth.rng import zo_generator
from hybridsmooth.zo.flat_runs import merge_adjacent
from hybridsmooth.zo.inplace import zo_step_inplace_from

SIZES = [(64, 3), (128,), (10, 7), (64,), (5,)]  # 192, 128, 70 (not a multiple of 64), 64, 5


def _views(flat):
    parts = flat.split([torch.Size(s).numel() for s in SIZES])
    return [p.view(s) for p, s in zip(parts, SIZES)]


def test_runs_break_after_a_size_that_is_not_a_multiple_of_64_and_at_rows_and_gaps():
    flat = torch.randn(sum(torch.Size(s).numel() for s in SIZES))
    views = _views(flat)
    merged, rows = merge_adjacent(views, [None] * 5)
    assert [t.numel() for t in merged] == [192 + 128 + 70, 64 + 5] and rows == [None, None]
    assert merged[0].data_ptr() == flat.data_ptr() and merged[1].storage_offset() == 390
    with_rows = [None, torch.tensor([1]), None, None, None]
    merged, rows = merge_adjacent(views, with_rows)
    assert [t.numel() for t in merged] == [192, 128, 70, 69] and rows[1] is with_rows[1]
    apart = [torch.randn(s) for s in SIZES]  # separate allocations never merge
    assert len(merge_adjacent(apart, [None] * 5)[0]) == 5


@pytest.mark.parametrize("mode", ["regenerate", "buffer"])
@pytest.mark.parametrize("q", [1, 2])
def test_a_step_over_merged_views_is_the_tensor_by_tensor_step(mode, q):
    start = torch.randn(sum(torch.Size(s).numel() for s in SIZES), generator=torch.Generator().manual_seed(0))
    target = torch.randn(start.shape, generator=torch.Generator().manual_seed(1))
    flat = start.clone()
    views = _views(flat)  # adjacent views of one buffer: merged inside the step
    apart = [v.clone() for v in _views(start.clone())]  # the same values, separate tensors: never merged
    outs = []
    for params, read in ((views, lambda: flat), (apart, lambda: torch.cat([p.reshape(-1) for p in apart]))):
        gen = zo_generator(4, 0, 7)

        def loss(read=read):
            return ((read() - target) ** 2).sum()

        res = zo_step_inplace_from(gen, params, loss, mu=1e-3, eta=1e-2, form="spsa", q=q, noise_mode=mode)
        outs.append((res, torch.cat([p.reshape(-1) for p in params]), gen.get_state()))
    (a, xa, ga), (b, xb, gb) = outs
    assert a.phi == b.phi and a.loss_plus == b.loss_plus and a.loss_minus == b.loss_minus
    assert torch.equal(xa, xb) and torch.equal(ga, gb)
    assert not torch.equal(xa, start)
