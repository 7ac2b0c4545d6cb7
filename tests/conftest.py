"""Settings shared by the whole suite."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread(request):
    # Most tests run many small (batched) tensor operations: a second intra-op thread only spins against
    # other processes on a shared 2-core machine (measured ~20x slower under load). Transformer tests
    # (marked llm) do real matrix work and keep torch's own choice. Restored after each test.
    if request.node.get_closest_marker("llm") is not None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
