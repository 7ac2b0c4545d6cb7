import pytest
import torch

from hybridsmooth.optim.orders import ORDER_STREAM_STEP, order_generator, sample_orders
from hybridsmooth.zo.estimators import zo_generator


def _is_perm(rows, n):
    return bool((rows.sort(dim=-1).values == torch.arange(n)).all())


def test_rr_fresh_permutation_every_epoch():
    a = sample_orders("rr", n=7, epoch=0, run_seed=3, batch=50)
    b = sample_orders("rr", n=7, epoch=1, run_seed=3, batch=50)
    assert a.shape == (50, 7) and a.dtype == torch.long
    assert _is_perm(a, 7) and _is_perm(b, 7)
    assert not torch.equal(a, b)
    assert len({tuple(r) for r in a.tolist()}) > 30        # seeds get different permutations
    assert torch.equal(a, sample_orders("rr", n=7, epoch=0, run_seed=3, batch=50))
    assert not torch.equal(a, sample_orders("rr", n=7, epoch=0, run_seed=4, batch=50))


def test_so_reuses_one_permutation_ig_fixed_sgd_with_replacement():
    so = [sample_orders("so", n=6, epoch=t, run_seed=1, batch=8) for t in range(4)]
    assert all(torch.equal(so[0], s) for s in so) and _is_perm(so[0], 6)
    ig = sample_orders("ig", n=5, epoch=9, run_seed=1, batch=3)
    assert torch.equal(ig, torch.arange(5).expand(3, 5))
    sgd = sample_orders("sgd", n=6, epoch=0, run_seed=1, batch=200)
    assert sgd.min() >= 0 and sgd.max() <= 5
    assert not _is_perm(sgd, 6)                            # repeats occur with replacement


def test_order_stream_differs_from_zo_stream_and_global_rng_untouched():
    state = torch.get_rng_state()
    g1 = order_generator(0, 0)
    g2 = zo_generator(0, 0, 0)
    assert not torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))
    assert ORDER_STREAM_STEP >= 2**31
    sample_orders("rr", n=4, epoch=2, run_seed=5, batch=3)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("kwargs, msg", [
    (dict(order="random"), "accepted: rr, so, ig, sgd"),
    (dict(order="rr", n=0), "n >= 1"),
    (dict(order="rr", epoch=-1), "non-negative"),
])
def test_bad_arguments(kwargs, msg):
    base = dict(n=4, epoch=0, run_seed=0, batch=2)
    base.update(kwargs)
    order = base.pop("order")
    with pytest.raises(ValueError, match=msg):
        sample_orders(order, **base)
