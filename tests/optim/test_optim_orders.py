import pytest
import torch

from hybridsmooth.optim.orders import sample_orders
from hybridsmooth.rng import ORDER_STREAM_STEP, order_generator, zo_generator


def _is_perm(rows, n):
    return bool((rows.sort(dim=-1).values == torch.arange(n)).all())


def test_rr_fresh_permutation_every_epoch():
    a = sample_orders("rr", n=7, epoch=0, run_seed=3, batch=50)
    b = sample_orders("rr", n=7, epoch=1, run_seed=3, batch=50)
    assert a.shape == (50, 7) and a.dtype == torch.long
    assert _is_perm(a, 7) and _is_perm(b, 7)
    assert not torch.equal(a, b)
    assert len({tuple(r) for r in a.tolist()}) > 30  # seeds get different permutations
    assert torch.equal(a, sample_orders("rr", n=7, epoch=0, run_seed=3, batch=50))
    assert not torch.equal(a, sample_orders("rr", n=7, epoch=0, run_seed=4, batch=50))


def test_so_reuses_one_permutation_ig_fixed_sgd_with_replacement():
    so = [sample_orders("so", n=6, epoch=t, run_seed=1, batch=8) for t in range(4)]
    assert all(torch.equal(so[0], s) for s in so) and _is_perm(so[0], 6)
    ig = sample_orders("ig", n=5, epoch=9, run_seed=1, batch=3)
    assert torch.equal(ig, torch.arange(5).expand(3, 5))
    sgd = sample_orders("sgd", n=6, epoch=0, run_seed=1, batch=200)
    assert sgd.min() >= 0 and sgd.max() <= 5
    assert not _is_perm(sgd, 6)  # repeats occur with replacement


def test_order_stream_differs_from_zo_stream_and_global_rng_untouched():
    state = torch.get_rng_state()
    g1 = order_generator(0, 0)
    g2 = zo_generator(0, 0, 0)
    assert not torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))
    assert ORDER_STREAM_STEP >= 2**31
    sample_orders("rr", n=4, epoch=2, run_seed=5, batch=3)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(order="random"), "accepted: rr, so, ig, sgd"),
        (dict(order="rr", n=0), "n >= 1"),
        (dict(order="rr", epoch=-1), "non-negative"),
    ],
)
def test_bad_arguments(kwargs, msg):
    base = dict(n=4, epoch=0, run_seed=0, batch=2)
    base.update(kwargs)
    order = base.pop("order")
    with pytest.raises(ValueError, match=msg):
        sample_orders(order, **base)


# --- per-seed orders (batched runs): row b depends on seed index b only ---------------------------------


@pytest.mark.parametrize("order", ["rr", "so", "sgd", "ig"])
def test_per_seed_orders_do_not_depend_on_the_batch(order):
    ten = sample_orders(order, n=7, epoch=2, run_seed=3, seeds=torch.arange(10))
    assert ten.shape == (10, 7) and ten.dtype == torch.long
    assert torch.equal(ten[[3, 7]], sample_orders(order, n=7, epoch=2, run_seed=3, seeds=[3, 7]))
    assert torch.equal(ten[[0]], sample_orders(order, n=7, epoch=2, run_seed=3, seeds=[0], batch=1))
    assert torch.equal(ten, sample_orders(order, n=7, epoch=2, run_seed=3, seeds=range(10), batch=10))
    if order != "ig":
        assert not torch.equal(ten, sample_orders(order, n=7, epoch=2, run_seed=4, seeds=torch.arange(10)))


def test_per_seed_rr_so_sgd_semantics():
    seeds = torch.arange(50)
    rr = [sample_orders("rr", n=7, epoch=t, run_seed=3, seeds=seeds) for t in range(3)]
    assert all(_is_perm(r, 7) for r in rr) and not torch.equal(rr[0], rr[1])
    assert len({tuple(r) for r in rr[0].tolist()}) > 30  # seeds get different permutations
    so = [sample_orders("so", n=7, epoch=t, run_seed=3, seeds=seeds) for t in range(3)]
    assert all(torch.equal(so[0], s) for s in so) and _is_perm(so[0], 7)
    assert torch.equal(so[0], rr[0])  # shuffle once = the epoch-0 shuffle
    sgd = sample_orders("sgd", n=6, epoch=0, run_seed=1, seeds=torch.arange(200))
    assert sgd.min() >= 0 and sgd.max() <= 5 and not _is_perm(sgd, 6)


def _chi2(counts: torch.Tensor) -> float:
    expected = counts.sum() / counts.numel()
    return float(((counts - expected) ** 2 / expected).sum())


def test_per_seed_permutations_are_uniform():
    # first position over 20000 seeds: chi-square with 4 degrees of freedom, P(> 25) ~ 5e-5
    first = sample_orders("rr", n=5, epoch=1, run_seed=8, seeds=torch.arange(20000))[:, 0]
    assert _chi2(torch.bincount(first, minlength=5).double()) < 25
    # all 24 permutations of 4 elements over 24000 seeds: 23 degrees of freedom, P(> 60) ~ 4e-5
    perms = sample_orders("rr", n=4, epoch=0, run_seed=8, seeds=torch.arange(24000))
    code = (perms * torch.tensor([64, 16, 4, 1])).sum(-1)
    counts = torch.bincount(code, minlength=256).double()
    assert int((counts > 0).sum()) == 24 and _chi2(counts[counts > 0]) < 60


def test_per_seed_with_replacement_draws_are_uniform():
    # 6 values, 60000 draws: chi-square with 5 degrees of freedom, P(> 25) ~ 1.4e-4
    draws = sample_orders("sgd", n=6, epoch=4, run_seed=2, seeds=torch.arange(10000))
    assert _chi2(torch.bincount(draws.reshape(-1), minlength=6).double()) < 25


def test_per_seed_orders_leave_global_rng_alone():
    state = torch.get_rng_state()
    for order in ("rr", "sgd"):
        sample_orders(order, n=4, epoch=2, run_seed=5, seeds=[0, 4])
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(seeds=[0, 1, 2], batch=2), "contradicts the 3 seed indices"),
        (dict(seeds=[[0, 1]]), "1-d list of seed indices"),
        (dict(seeds=[-1, 2]), "non-negative"),
    ],
)
def test_bad_seed_arguments(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        sample_orders("rr", n=4, epoch=0, run_seed=0, **kwargs)
