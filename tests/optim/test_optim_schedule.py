"""The step schedule: which sample and which ZO noise step k of epoch t uses, batched or not."""

from itertools import islice

import pytest
import torch

from hybridsmooth.optim import schedule as schedule_module
from hybridsmooth.optim.orders import sample_orders
from hybridsmooth.optim.schedule import epoch_schedule, step_schedule
from hybridsmooth.rng import SeedStreams, zo_generator

N = 7


def _draw(noise) -> torch.Tensor:
    if isinstance(noise, SeedStreams):
        return noise.normal((1, noise.batch, 4))[0]
    return torch.randn(4, generator=noise, dtype=torch.float64)


def _key(step):
    idx = step.idx.tolist() if isinstance(step.idx, torch.Tensor) else step.idx
    return step.epoch, step.k, step.step, idx


@pytest.mark.parametrize("order", ["rr", "so", "ig"])
def test_every_sample_once_per_epoch(order):
    for t in range(3):
        steps = list(epoch_schedule(order, n=N, epoch=t, run_seed=4))
        assert sorted(s.idx for s in steps) == list(range(N))
        assert [(s.epoch, s.k, s.step) for s in steps] == [(t, k, t * N + k) for k in range(N)]
        batched = list(epoch_schedule(order, n=N, epoch=t, run_seed=4, seed_index=torch.arange(5)))
        rows = torch.stack([s.idx for s in batched], dim=1)  # (seeds, n)
        assert torch.equal(rows.sort(dim=1).values, torch.arange(N).expand(5, N))


def _epochs(order):
    return [[s.idx for s in epoch_schedule(order, n=N, epoch=t, run_seed=4)] for t in range(3)]


def test_orders_follow_the_sample_order_rules():
    rr, so, ig = _epochs("rr"), _epochs("so"), _epochs("ig")
    assert rr[0] != rr[1] and so[0] == so[1] == so[2] and ig[0] == list(range(N))
    assert rr[1] == sample_orders("rr", n=N, epoch=1, run_seed=4)[0].tolist()


@pytest.mark.parametrize("start", [0, 1, N - 1, N, N + 3, 3 * N])
def test_step_schedule_from_any_start_is_the_tail_from_zero(start):
    stop = 4 * N + 2
    full = list(step_schedule("rr", n=N, run_seed=2, stop=stop))
    tail = list(step_schedule("rr", n=N, run_seed=2, start=start, stop=stop))
    assert [s.step for s in full] == list(range(stop))
    assert [_key(s) for s in tail] == [_key(s) for s in full[start:]]
    assert all(torch.equal(_draw(a.noise), _draw(b.noise)) for a, b in zip(tail, full[start:]))


def test_step_schedule_walks_the_epoch_schedules_and_runs_on_without_stop():
    walked = list(islice(step_schedule("so", n=N, run_seed=9, start=N - 2), 2 * N))
    epochs = [s for t in (0, 1, 2) for s in epoch_schedule("so", n=N, epoch=t, run_seed=9)][N - 2 : 3 * N - 2]
    assert [_key(s) for s in walked] == [_key(s) for s in epochs]
    assert list(step_schedule("rr", n=N, run_seed=0, start=5, stop=5)) == []
    with pytest.raises(ValueError, match="start"):
        list(step_schedule("rr", n=N, run_seed=0, start=-1))
    with pytest.raises(ValueError, match="start"):
        list(step_schedule("rr", n=N, run_seed=0, start=4, stop=3))


def _noise(epoch=2, k=3, run_seed=5):
    """The first draw of the noise of step k in ``epoch`` (a fresh schedule: a generator is used up by a draw)."""
    return _draw(list(epoch_schedule("rr", n=N, epoch=epoch, run_seed=run_seed))[k].noise)


def test_the_same_run_seed_epoch_and_step_give_the_same_noise():
    a = list(epoch_schedule("rr", n=N, epoch=2, run_seed=5))
    b = list(epoch_schedule("rr", n=N, epoch=2, run_seed=5))
    assert all(torch.equal(_draw(x.noise), _draw(y.noise)) for x, y in zip(a, b))
    assert torch.equal(_noise(), _draw(zo_generator(5, 2, 3)))
    for other in (_noise(k=4), _noise(epoch=3), _noise(run_seed=6)):
        assert not torch.equal(_noise(), other)


def test_batched_rows_do_not_depend_on_the_other_seeds():
    ten = list(epoch_schedule("rr", n=N, epoch=1, run_seed=3, seed_index=torch.arange(10)))
    pair = list(epoch_schedule("rr", n=N, epoch=1, run_seed=3, seed_index=torch.tensor([3, 9])))
    for a, b in zip(ten, pair):
        assert torch.equal(a.idx[[3, 9]], b.idx)
        assert torch.equal(_draw(a.noise)[[3, 9]], _draw(b.noise))


def test_batched_and_unbatched_schedules_are_different_stream_families():
    # a batched row draws from its seed's counter-based stream, an unbatched run from torch.Generators: the
    # fixed order agrees, the random ones are not meant to
    ig = list(epoch_schedule("ig", n=N, epoch=0, run_seed=3))
    ig_rows = list(epoch_schedule("ig", n=N, epoch=0, run_seed=3, seed_index=torch.arange(2)))
    assert all(torch.equal(r.idx, torch.full((2,), s.idx)) for s, r in zip(ig, ig_rows))
    assert all(isinstance(s.noise, torch.Generator) for s in ig)
    assert all(isinstance(r.noise, SeedStreams) for r in ig_rows)


def test_unbatched_orders_do_not_depend_on_the_device(monkeypatch):
    # the noise generator lives on the device; the order is drawn on the CPU whatever the device
    monkeypatch.setattr(schedule_module, "zo_generator", lambda run_seed, epoch, step, device: device)
    on_cpu = list(step_schedule("rr", n=N, run_seed=1, stop=3 * N, device="cpu"))
    elsewhere = list(step_schedule("rr", n=N, run_seed=1, stop=3 * N, device="cuda:0"))
    assert [_key(s) for s in on_cpu] == [_key(s) for s in elsewhere]
    assert elsewhere[0].noise == torch.device("cuda:0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_unbatched_schedule_on_cuda_matches_the_cpu():
    on_cpu = list(step_schedule("sgd", n=N, run_seed=1, stop=2 * N))
    on_gpu = list(step_schedule("sgd", n=N, run_seed=1, stop=2 * N, device="cuda"))
    assert [_key(s) for s in on_cpu] == [_key(s) for s in on_gpu]
    assert on_gpu[0].noise.device.type == "cuda"
