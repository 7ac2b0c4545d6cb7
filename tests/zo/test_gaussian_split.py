"""The split Gaussian stream (zo.gaussian_split): chunks seeded apart and drawn on all threads, the same numbers
whatever the thread count and whether a direction is added in chunks or materialised, the moments of a
Gaussian direction, and ZO steps with it that keep every property of the sequential stream's steps."""

from __future__ import annotations

import os
import signal
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import hybridsmooth.zo.gaussian_split as gs
from hybridsmooth.optim.hybrid_sgd import HybridSGDConfig
from hybridsmooth.zo.gaussian_split import (
    SplitDraw,
    add_split,
    check_stream,
    chunk_seed,
    materialize_split,
    split_directions,
)
from hybridsmooth.zo.inplace import noise, zo_step_inplace
from hybridsmooth.zo.inplace_reference import reference_step, regenerate_directions
from hybridsmooth.zo.signs import as_tensor

SHAPES = [(7,), (300, 5), (2, 2, 2), (1000,)]


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 64 entries, so that small tensors cross many chunk boundaries."""
    monkeypatch.setattr(gs, "SPLIT_CHUNK", 64)


def _params(dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=dtype) for s in SHAPES]


def test_chunk_seeds_of_a_direction_never_repeat_and_spread():
    for base in (0, 1, 2**32 - 1, 123456789):
        seeds = [chunk_seed(base, k) for k in range(200_000)]
        assert len(set(seeds)) == len(seeds)
        assert all(0 <= s < 2**32 for s in seeds)
    # neighbouring bases do not give shifted copies of each other's seeds
    assert len({chunk_seed(0, k) for k in range(1000)} & {chunk_seed(1, k) for k in range(1000)}) < 5


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_added_in_chunks_on_any_number_of_threads_is_the_materialised_direction(small_chunks, dtype, workers):
    params = _params(dtype)
    draws = split_directions([p.shape for p in params], generator=torch.Generator().manual_seed(3), dtypes=[dtype] * 4)
    expected = [p.clone().add_(u.materialize(), alpha=-0.37) for p, u in zip(params, draws)]
    add_split(params, draws, -0.37, workers=workers)
    for got, want in zip(params, expected):
        assert torch.equal(got, want)
    assert [u.offset for u in draws] == [0, 7, 1507, 1515]  # each tensor's place in the block


def test_the_direction_does_not_depend_on_how_the_block_is_cut_into_tensors(small_chunks):
    sizes = [7, 1500, 8, 1000, 64, 1]
    cut = split_directions(
        [(n,) for n in sizes], generator=torch.Generator().manual_seed(4), dtypes=[torch.float32] * 6
    )
    (whole,) = split_directions([(sum(sizes),)], generator=torch.Generator().manual_seed(4), dtypes=[torch.float32])
    assert torch.equal(torch.cat([u.materialize() for u in cut]), whole.materialize())
    targets = [torch.zeros(n) for n in sizes]
    add_split(targets, cut, 1.0, workers=2)
    assert torch.equal(torch.cat(targets), whole.materialize())


def test_a_draw_can_be_used_again_and_the_generator_advances_by_one_draw():
    g = torch.Generator().manual_seed(5)
    (u,) = split_directions([(10_000,)], generator=g, dtypes=[torch.float32])
    after = g.get_state()
    assert torch.equal(u.materialize(), u.materialize())
    g2 = torch.Generator().manual_seed(5)
    torch.randint(0, 2**32, (1,), generator=g2, dtype=torch.int64)
    assert torch.equal(after, g2.get_state())


def test_half_precision_and_strided_targets_add_the_materialised_direction_whole():
    for dtype in (torch.bfloat16, torch.float16):
        x = torch.randn(5000).to(dtype)
        u = SplitDraw((5000,), base=9, offset=0, total=5000, dtype=dtype, chunk=64)
        want = x.clone().add_(u.materialize(), alpha=0.3)
        u.add_to(x, 0.3)
        assert torch.equal(x, want)
    x = torch.randn(80, 60)
    t = x.t()  # not contiguous
    u = SplitDraw(tuple(t.shape), base=9, offset=0, total=4800, dtype=torch.float32, chunk=64)
    want = t.clone().add_(u.materialize(), alpha=0.3)
    u.add_to(t, 0.3)
    assert torch.equal(t, want)


def test_a_mismatched_target_is_refused():
    u = SplitDraw((10,), base=1, offset=0, total=10, dtype=torch.float32)
    with pytest.raises(ValueError, match="cannot be added"):
        u.add_to(torch.zeros(11), 1.0)
    with pytest.raises(ValueError, match="cannot be added"):
        u.add_to(torch.zeros(10, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="2 tensors but 1"):
        add_split([torch.zeros(10), torch.zeros(10)], [u], 1.0)


def test_the_entries_have_gaussian_moments_and_the_chunks_are_independent():
    n, chunk = 2**20, 2**12
    (u,) = split_directions([(n,)], generator=torch.Generator().manual_seed(11), dtypes=[torch.float64], chunk=chunk)
    z = u.materialize().numpy()
    se = 1 / np.sqrt(n)
    assert abs(z.mean()) < 5 * se
    assert abs(z.var() - 1) < 5 * np.sqrt(2) * se
    assert abs((z**4).mean() - 3) < 5 * np.sqrt(96) * se  # Var(z^4) = 105 - 9
    blocks = z.reshape(-1, chunk)
    # consecutive chunks (consecutive seeds) are uncorrelated: the mean of their entrywise products is ~N(0, 1/n)
    cross = (blocks[:-1] * blocks[1:]).mean()
    assert abs(cross) < 5 / np.sqrt(n - chunk)
    assert len({b.tobytes() for b in blocks}) == len(blocks)


def test_the_zo_estimate_on_a_quadratic_has_the_gaussian_moments():
    """On f(x) = g.x + x'Ax/2 the central estimate is exactly (g'u) u: its mean is g and its mean squared norm
    (d + 2) |g|^2 (THEORY 4.1), over the split stream's directions of many steps."""
    d, steps = 40, 4000
    x = [torch.zeros(d, dtype=torch.float64)]
    g = torch.linspace(-1, 1, d, dtype=torch.float64)
    ests = []
    for step in range(steps):
        (u,) = regenerate_directions(x, run_seed=3, epoch=0, step=step, stream="split")[0]
        ests.append((g @ u) * u)
    e = torch.stack(ests)
    mean, se = e.mean(0), e.std(0) / np.sqrt(steps)
    assert torch.all((mean - g).abs() < 5 * se)
    sq = (e**2).sum(1)
    assert abs(sq.mean() - (d + 2) * g.dot(g)) < 5 * sq.std() / np.sqrt(steps)


@pytest.mark.parametrize("form", ["central", "forward"])
@pytest.mark.parametrize("q", [1, 2])
def test_noise_modes_agree_bitwise_and_match_the_out_of_place_step(small_chunks, form, q):
    def loss_of(ts):
        a, b, c, d = ts
        return torch.cos(2 * a).sum(-1) + 0.5 * (b**2).sum((-2, -1)) + (c**3).sum((-3, -2, -1)) + d.sin().sum(-1)

    def run(mode):
        params = _params()
        res = zo_step_inplace(
            params, lambda: loss_of(params), mu=1e-2, eta=0.1, run_seed=2, epoch=0, step=1, form=form, q=q,
            noise_mode=mode, stream="split",
        )  # fmt: skip
        return params, res

    (a, ra), (b, rb) = run("regenerate"), run("buffer")
    assert ra.phi == rb.phi and all(torch.equal(s, t) for s, t in zip(a, b))
    new, phi = reference_step(
        _params(), loss_of, mu=1e-2, eta=0.1, run_seed=2, epoch=0, step=1, form=form, q=q, stream="split"
    )
    assert np.allclose(ra.phi, phi.numpy(), rtol=1e-9, atol=1e-12)
    for s, t in zip(a, new):
        torch.testing.assert_close(s, t, rtol=1e-10, atol=1e-12)
    sequential = _params()
    seq = zo_step_inplace(
        sequential, lambda: loss_of(sequential), mu=1e-2, eta=0.1, run_seed=2, epoch=0, step=1, form=form, q=q
    )
    assert seq.phi != ra.phi  # another stream: other numbers from the same seed


def test_a_zero_step_restores_the_weights_and_the_thread_count_does_not_change_a_number(small_chunks):
    before = torch.get_num_threads()
    moved = {}
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            params = _params(torch.float32)
            x0 = [p.clone() for p in params]
            res = zo_step_inplace(
                params, lambda: sum(p.sum() for p in params), mu=1e-3, eta=0.0, run_seed=0, epoch=0, step=0,
                stream="split",
            )  # fmt: skip
            for p, p0 in zip(params, x0):
                torch.testing.assert_close(p, p0, rtol=0, atol=1e-6)
            assert res.noise_draws == 3
            moved[threads] = _params(torch.float32)
            zo_step_inplace(
                moved[threads], lambda: sum((p**2).sum() for p in moved[threads]), mu=1e-3, eta=0.05, run_seed=4,
                epoch=1, step=2, stream="split",
            )  # fmt: skip
    finally:
        torch.set_num_threads(before)
    assert not torch.equal(moved[1][1], _params(torch.float32)[1])
    for threads in (2, 3):
        assert all(torch.equal(s, t) for s, t in zip(moved[1], moved[threads]))


def test_the_pool_leaves_this_thread_and_new_threads_their_thread_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        add_split(
            [torch.zeros(10_000)],
            [SplitDraw((10_000,), base=1, offset=0, total=10_000, dtype=torch.float32, chunk=64)],
            1.0,
        )
        seen = []
        t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        t.start()
        t.join()
        assert torch.get_num_threads() == 2 and seen == [2]
    finally:
        torch.set_num_threads(before)


def test_the_stream_is_checked_and_the_sign_form_has_one():
    assert check_stream("split", "central") == "split"
    with pytest.raises(ValueError, match="unknown ZO noise stream"):
        check_stream("fast", "central")
    with pytest.raises(ValueError, match="spsa form's packed"):
        check_stream("split", "spsa")
    p = [torch.zeros(4)]
    with pytest.raises(ValueError, match="spsa form's packed"):
        zo_step_inplace(p, lambda: 0.0, mu=1e-3, eta=0.1, run_seed=0, epoch=0, step=0, form="spsa", stream="split")
    with pytest.raises(ValueError, match="needs a ZO block"):
        HybridSGDConfig(method="fo_peft", eta_y=0.1, zo_stream="split")
    with pytest.raises(ValueError, match="spsa form's packed"):
        HybridSGDConfig(method="hybrid", eta_x=1e-3, eta_y=0.1, form="spsa", zo_stream="split")


def test_the_split_stream_is_refused_on_a_gpu():
    gpu = SimpleNamespace(device=torch.device("cuda"))  # only its device is read before the refusal
    with pytest.raises(ValueError, match="on cuda use the sequential stream"):
        split_directions([(10,)], generator=gpu, dtypes=[torch.float32])


def test_lazy_and_whole_noise_of_the_split_stream_are_the_same_numbers(small_chunks):
    params = _params(torch.float32)
    g = torch.Generator().manual_seed(8)
    state = g.get_state()
    whole = list(noise(params, form="central", generator=g, stream="split"))
    lazy = list(noise(params, form="central", generator=g, state=state, lazy=True, stream="split"))
    assert all(isinstance(u, SplitDraw) for u in lazy)
    assert all(torch.equal(w, as_tensor(u)) for w, u in zip(whole, lazy))


def test_a_chunk_spanning_tensors_of_two_dtypes_is_drawn_in_each(small_chunks):
    dtypes = [torch.float32, torch.float64, torch.float32]
    draws = split_directions([(50,), (30,), (100,)], generator=torch.Generator().manual_seed(6), dtypes=dtypes)
    targets = [torch.zeros(n, dtype=d) for n, d in zip((50, 30, 100), dtypes)]
    add_split(targets, draws, 1.0, workers=2)
    assert all(torch.equal(t, u.materialize()) for t, u in zip(targets, draws))
    # chunk 0 (entries 0-63) serves the first two tensors: the float64 piece is the same generator's float64 draw
    g = torch.Generator().manual_seed(chunk_seed(draws[0].base, 0))
    assert torch.equal(targets[1][:14], torch.empty(64, dtype=torch.float64).normal_(generator=g)[50:64])
    # the last chunk (entries 128-179) is drawn at its own length, 52
    g.manual_seed(chunk_seed(draws[0].base, 2))
    assert torch.equal(targets[2][48:], torch.empty(52).normal_(generator=g))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_draws_with_a_pool_of_its_own():
    x = torch.zeros(10_000)
    draw = SplitDraw((10_000,), base=3, offset=0, total=10_000, dtype=torch.float32, chunk=64)
    add_split([x], [draw], 1.0, workers=2)  # the parent's pool exists now
    time.sleep(0.2)  # and its threads wait idle: a child that reused the pool would hand them work in vain
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a pass through the inherited pool would hang; report what it computed
        try:
            y = torch.zeros(10_000)
            add_split([y], [draw], 1.0, workers=2)
            os.write(write, b"1" if torch.equal(x, y) else b"0")
        finally:
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 60
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child's noise pass never finished")
        time.sleep(0.05)
    assert os.read(read, 1) == b"1"


def test_a_whole_direction_drawn_on_all_threads_is_each_tensors_materialised_direction(small_chunks):
    dtypes = [torch.float32, torch.float32, torch.bfloat16, torch.float64]
    draws = split_directions(SHAPES, generator=torch.Generator().manual_seed(12), dtypes=dtypes)
    whole = materialize_split(draws)
    assert all(w.shape == u.shape and w.dtype == u.dtype for w, u in zip(whole, draws))
    assert all(torch.equal(w, u.materialize()) for w, u in zip(whole, draws))
