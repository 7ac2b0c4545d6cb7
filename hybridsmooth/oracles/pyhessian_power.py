"""PyHessian 0.1's power iteration on one block of a model objective, with every iterate logged.

What PyHessian does (pyhessian/hessian.py, single-batch mode): the constructor calls ``model.eval()``,
``loss = criterion(model(inputs), targets)`` and ``loss.backward(create_graph=True)``, then keeps the
first-order gradients ``p.grad`` of every parameter with ``requires_grad`` -- and their graph -- alive.
``eigenvalues(maxIter, tol, top_n)`` is power iteration: each iteration is ONE Hessian-vector product
``torch.autograd.grad(gradsH, params, grad_outputs=v, retain_graph=True)`` through that kept graph, the
Rayleigh quotient lambda = <Hv, v>, and v <- Hv / ||Hv||; it stops when |lambda_i - lambda_{i-1}| /
(|lambda_{i-1}| + 1e-6) < tol and returns lambda_{i-1}. It draws its start vector with the global
``torch.randn`` in float32 (so it runs on float32 models only); here that happens inside
``torch.random.fork_rng`` under a fixed seed, so the caller's global RNG is untouched and a run is
reproducible.

The block is chosen the way PyHessian expects it: it differentiates with respect to the parameters with
``requires_grad=True``, so for H_yy only the adapter's parameters are switched on, for H_xx only the base
weights; the other block is a constant, exactly as in :class:`hybridsmooth.curvature.HessianAtPoint`.
"""

from __future__ import annotations

import importlib
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import UsageError
from . import require
from .scores_model import ScoresModel, batch_at, block_params, cross_entropy_criterion, only_requires_grad


@dataclass(frozen=True)
class PyHessianRun:
    """One PyHessian ``eigenvalues`` call.

    ``history[i]`` is the Rayleigh quotient after HVP i+1; ``elapsed[i]`` the seconds from the start of the
    call until that estimate was available (the start of the next HVP, or the end of the call).
    ``returned`` is what PyHessian itself returned (under its own tol rule); ``setup_seconds`` is the
    constructor's forward + create_graph backward; ``v0`` the start vector, flattened in the block's layout.
    """

    history: tuple[float, ...]
    elapsed: tuple[float, ...]
    returned: float
    seconds: float
    setup_seconds: float
    n_hvp: int
    v0: Tensor
    dim: int


@contextmanager
def _logged_hvp(log: list) -> Iterator[None]:
    """Replace the hessian_vector_product that pyhessian.hessian imported by one that logs each call:
    its start time, its Rayleigh quotient <Hv, v> and (first call) the start vector v."""
    # pyhessian/__init__.py rebinds the name `hessian` to the class; fetch the module itself
    ph = importlib.import_module("pyhessian.hessian")
    original = ph.hessian_vector_product

    def logged(gradsH, params, v):
        start = time.perf_counter()
        hv = original(gradsH, params, v)
        lam = float(sum(torch.sum(h * w) for h, w in zip(hv, v)))
        log.append((start, lam, None if log else [t.detach().clone() for t in v]))
        return hv

    ph.hessian_vector_product = logged
    try:
        yield
    finally:
        ph.hessian_vector_product = original


def pyhessian_power(
    objective, block: str, *, batch_index: int = 0, max_iter: int = 60, tol: float = 0.0, seed: int = 0
) -> PyHessianRun:
    """Run ``pyhessian.hessian(...).eigenvalues(maxIter=max_iter, tol=tol, top_n=1)`` on H_block of
    minibatch ``batch_index`` of ``objective`` at its current point (its live parameters).

    ``tol=0`` never stops early (the whole trajectory is logged); PyHessian's own default is 1e-3.
    The objective must be a float32 ModuleObjective with a ``scores_fn`` (make_llm_objective's).
    """
    require("pyhessian", "PyHessian's power iteration")
    from pyhessian import hessian

    if max_iter < 1 or tol < 0:
        raise UsageError(f"need max_iter >= 1 and tol >= 0, got {max_iter}, {tol}")
    if objective.dtype != torch.float32:
        raise UsageError(f"PyHessian draws float32 vectors and runs on float32 models only, got {objective.dtype}")
    batch = batch_at(objective, batch_index)
    wrapper, params, log = ScoresModel(objective), block_params(objective, block), []
    with only_requires_grad(wrapper, params), _logged_hvp(log):
        t_setup = time.perf_counter()
        with warnings.catch_warnings():
            # its backward(create_graph=True) ties each .grad to its Parameter; only_requires_grad resets
            # the .grad fields on the way out, which breaks that cycle
            warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")
            engine = hessian(wrapper, cross_entropy_criterion, data=(batch, batch["labels"]), cuda=False)
        setup = time.perf_counter() - t_setup
        if [id(p) for p in engine.params] != [id(p) for p in params]:
            raise RuntimeError("PyHessian differentiates other parameters than the block's")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            values, _ = engine.eigenvalues(maxIter=max_iter, tol=tol, top_n=1)
            t_end = time.perf_counter()
        del engine  # frees the kept first-order graph before the flags are restored
    starts = [entry[0] for entry in log]
    elapsed = tuple(s - t0 for s in starts[1:]) + (t_end - t0,)
    v0 = torch.cat([t.reshape(-1) for t in log[0][2]])
    return PyHessianRun(
        tuple(entry[1] for entry in log), elapsed, float(values[0]), t_end - t0, setup, len(log), v0, v0.numel()
    )


def pyhessian_rule_stop(history, tol: float = 1e-3) -> tuple[int, float] | None:
    """(HVPs spent, value returned) where PyHessian's rule |l_i - l_{i-1}| / (|l_{i-1}| + 1e-6) < tol
    stops on this trajectory (it returns l_{i-1}), or None if it never does."""
    for i in range(1, len(history)):
        if abs(history[i - 1] - history[i]) / (abs(history[i - 1]) + 1e-6) < tol:
            return i + 1, history[i - 1]
    return None
