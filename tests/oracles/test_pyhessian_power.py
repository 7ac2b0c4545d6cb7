"""PyHessian's published power iteration (its 0.1 package, installed without dependencies) on the same
model and minibatch as ``block_constants``: the same top eigenvalue once both converged."""

import pyhessian  # noqa: F401  (a missing oracle fails the run instead of skipping it)
import pytest
import torch
from oracle_models import classifier_objective

from hybridsmooth.curvature import block_constants
from hybridsmooth.errors import UsageError
from hybridsmooth.oracles.pyhessian_power import pyhessian_power, pyhessian_rule_stop

pytestmark = pytest.mark.oracle


@pytest.mark.parametrize("block", ["xx", "yy"])
def test_top_eigenvalue_agrees_with_block_constants(block):
    obj = classifier_objective(torch.float32)
    run = pyhessian_power(obj, block, max_iter=400, tol=1e-7, seed=0)
    ours = block_constants(obj, blocks=(block,), idx=0)[block]
    assert ours.converged
    # power iteration returns the dominant eigenvalue with its sign; the block norm is its magnitude
    assert abs(run.returned) == pytest.approx(ours.estimate, rel=1e-3)
    assert run.dim == (obj.d_x if block == "xx" else obj.d_y)


def test_its_stopping_rule_is_replayed_from_the_logged_trajectory():
    obj = classifier_objective(torch.float32)
    run = pyhessian_power(obj, "yy", max_iter=200, tol=1e-3, seed=1)
    spent, value = pyhessian_rule_stop(run.history, 1e-3)
    assert (spent, value) == (run.n_hvp, run.returned)


def test_the_caller_state_is_left_as_it_was():
    obj = classifier_objective(torch.float32)
    flags = [p.requires_grad for p in obj.model.parameters()]
    state = torch.random.get_rng_state()
    pyhessian_power(obj, "xx", max_iter=5, seed=3)
    assert [p.requires_grad for p in obj.model.parameters()] == flags
    assert torch.equal(torch.random.get_rng_state(), state)


def test_a_float64_model_is_refused_in_one_line():
    with pytest.raises(UsageError, match="float32"):
        pyhessian_power(classifier_objective(torch.float64), "xx")


def test_a_missing_oracle_names_the_extra_and_the_no_deps_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyhessian" else real(name, *a))
    with pytest.raises(UsageError, match=r"hybridsmooth\[oracle\] && pip install --no-deps PyHessian==0.1"):
        pyhessian_power(classifier_objective(torch.float32), "xx")
