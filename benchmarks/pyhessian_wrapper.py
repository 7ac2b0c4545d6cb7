"""PyHessian 0.1's power iteration on one block of a ModuleObjective, with every iterate logged.

PyHessian is an optional cross-check, kept out of the project's install (its wheel pins nothing useful and
its requirements would pull another torch). Install it into the venv for the benchmark only:

    .venv/bin/pip install --no-deps PyHessian==0.1          # or the downloaded PyHessian-0.1-py3-none-any.whl

What PyHessian does (pyhessian/hessian.py, single-batch mode): the constructor calls ``model.eval()``,
``loss = criterion(model(inputs), targets)`` and ``loss.backward(create_graph=True)``, then keeps the
first-order gradients ``p.grad`` of every parameter with ``requires_grad`` -- and their graph -- alive.
``eigenvalues(maxIter, tol, top_n)`` is power iteration: each iteration is ONE Hessian-vector product
``torch.autograd.grad(gradsH, params, grad_outputs=v, retain_graph=True)`` through that kept graph, the
Rayleigh quotient lambda = <Hv, v>, and v <- Hv / ||Hv||; it stops when |lambda_i - lambda_{i-1}| /
(|lambda_{i-1}| + 1e-6) < tol and returns lambda_{i-1}. It draws its start vector with the global
``torch.randn``; here that happens inside ``torch.random.fork_rng`` under a fixed seed, so the caller's
global RNG is untouched and a run is reproducible.

The block is chosen the way PyHessian expects it: it differentiates with respect to the parameters with
``requires_grad=True``, so for H_yy only the adapter's parameters (LoRA factors and a trained head) are
switched on, for H_xx only the base weights; the other block is a constant, exactly as in
:class:`hybridsmooth.curvature.HessianAtPoint`. The flags and ``.grad`` fields are restored afterwards.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

INSTALL_HINT = (
    "PyHessian is not installed (optional): `.venv/bin/pip install --no-deps PyHessian==0.1` "
    "(or the PyHessian-0.1 wheel); it is not part of the project's dependencies"
)
Block = Literal["xx", "yy"]


def pyhessian_available() -> bool:
    return importlib.util.find_spec("pyhessian") is not None


class ScoresModel(nn.Module):
    """inputs (a batch dict) -> class scores, through the objective's own model and score function.

    With ``criterion = cross_entropy`` and ``targets = batch['labels']`` this is the objective's loss
    ``obj.loss_fn(model, batch)`` (llm.cross_entropy_loss), on the same parameters.
    """

    def __init__(self, objective):
        super().__init__()
        self.net = objective.model  # registered as a submodule: .eval() and .parameters() reach it
        self.scores_fn = objective.scores_fn

    def forward(self, batch: dict) -> Tensor:
        return self.scores_fn(self.net, batch)


def cross_entropy_criterion(scores: Tensor, targets: Tensor) -> Tensor:
    return nn.functional.cross_entropy(scores, targets)


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


def _block_params(objective, block: Block) -> list[nn.Parameter]:
    if block not in ("xx", "yy"):
        raise ValueError(f"block must be 'xx' or 'yy', got {block!r}")
    return list(objective._x_params if block == "xx" else objective._y_params)


@contextmanager
def _only_block_requires_grad(model: nn.Module, params: list[nn.Parameter]) -> Iterator[None]:
    saved = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    wanted = {id(p) for p in params}
    try:
        for p, _, _ in saved:
            p.requires_grad_(id(p) in wanted)
            p.grad = None
        yield
    finally:
        for p, flag, grad in saved:
            p.grad = grad
            p.requires_grad_(flag)


@contextmanager
def _logged_hvp(log: list) -> Iterator[None]:
    """Replace the hessian_vector_product that pyhessian.hessian imported by one that logs each call:
    its start time, its Rayleigh quotient <Hv, v> and (first call) the start vector v."""
    import importlib

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
    objective, block: Block, *, batch_index: int = 0, max_iter: int = 60, tol: float = 0.0, seed: int = 0
) -> PyHessianRun:
    """Run ``pyhessian.hessian(...).eigenvalues(maxIter=max_iter, tol=tol, top_n=1)`` on H_block of
    minibatch ``batch_index`` of ``objective`` at its current point (its live parameters).

    ``tol=0`` never stops early (the whole trajectory is logged); PyHessian's own default is 1e-3.
    The objective must be a ModuleObjective with a ``scores_fn`` (make_llm_objective's).
    """
    if not pyhessian_available():
        raise RuntimeError(INSTALL_HINT)
    from pyhessian import hessian

    if not 0 <= batch_index < objective.n:
        raise ValueError(f"batch_index must lie in [0, {objective.n}), got {batch_index}")
    if max_iter < 1 or tol < 0:
        raise ValueError(f"need max_iter >= 1 and tol >= 0, got {max_iter}, {tol}")
    batch = objective.batches[batch_index]
    wrapper = ScoresModel(objective)
    params = _block_params(objective, block)
    log: list = []
    with _only_block_requires_grad(wrapper, params), _logged_hvp(log):
        t_setup = time.perf_counter()
        engine = hessian(wrapper, cross_entropy_criterion, data=(batch, batch["labels"]), cuda=False)
        setup = time.perf_counter() - t_setup
        if [id(p) for p in engine.params] != [id(p) for p in params]:
            raise RuntimeError(
                "PyHessian differentiates other parameters than the block's; the requires_grad selection failed"
            )
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
