"""Shared settings for the ZO tests."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # The Monte Carlo tests run many small batched ops; on a shared, loaded machine two intra-op threads
    # spin against other processes and run ~20x slower than one. Restored after each test.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
