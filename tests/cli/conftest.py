import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    # The batched problems here are small: a second thread only contends with other jobs on a shared
    # machine (measured 20x slower with 2 threads under load). Restored after each test.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
