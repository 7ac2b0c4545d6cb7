"""One two-process gloo session for the whole directory: starting processes costs seconds, so every
scenario runs in it once (dist_scenarios.run_all) and each test reads the recorded results."""

import os

import pytest
import torch

from hybridsmooth.distributed.launch import spawn_gloo

from .dist_scenarios import WORLD, run_all


@pytest.fixture(scope="session")
def ranks(tmp_path_factory):
    """The results of every scenario, one dict per rank."""
    out = tmp_path_factory.mktemp("ranks")
    spawn_gloo(run_all, WORLD, str(out))
    return [torch.load(os.path.join(out, f"rank{r}.pt"), weights_only=False) for r in range(WORLD)]
