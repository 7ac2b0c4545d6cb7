"""Teardown order: what sits in reference cycles (FSDP2 modules do) is freed while the group still exists."""

import os

import torch.distributed as dist

from hybridsmooth.distributed.launch import close_process_group


class _Cycle:
    """Holds itself, as an FSDP2 module's hooks hold the module; records whether the group outlived it."""

    seen: list = []

    def __init__(self):
        self.me = self

    def __del__(self):
        _Cycle.seen.append(dist.is_initialized())


def test_cyclic_garbage_is_freed_before_the_group_is_destroyed(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(tmp_path, 'rendezvous')}", rank=0, world_size=1)
    _Cycle.seen = []
    _Cycle()  # unreachable at once, but only the cycle collector frees it
    close_process_group()
    assert _Cycle.seen == [True]
    assert not dist.is_initialized()


def test_closing_without_a_group_is_a_no_op():
    assert not dist.is_initialized()
    close_process_group()
    assert not dist.is_initialized()
