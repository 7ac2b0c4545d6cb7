"""Reshuffling hybrid SGD (THEORY 2.1) and its baselines, as configurations of one loop.

One step on sample i at z = (x, y), for a method that updates x by ZO and y by FO (``hybrid``):

    g_x = (1/q) sum_j phi_j u_j,  phi_j = [f_i(x + mu u_j, y) - f_i(x - mu u_j, y)] / (2 mu)   (THEORY 2.2)
    g_y = grad_y f_i(x_read, y)        x_read = x (Jacobi) or x - eta_x g_x (Gauss-Seidel)      (THEORY 2.3)
    x <- x - eta_x g_x,   y <- y - eta_y g_y

``fo_point`` moves the FO evaluation: ``plus`` uses grad_y f_i(x_read + mu u_1, y) (the point of the "+"
forward pass), ``sym`` the average over x_read +- mu u_1. The other methods swap a block's rule: FO
(exact per-sample gradient), ZO (the estimator above) or frozen.

All seeds run as one batched computation: x has shape (S, d_x), y (S, d_y), sample indices are a
LongTensor (S,) per step, and seed index b draws its orders and noise from its own counter-based stream
keyed by (run seed, b, epoch, step) (``rng.SeedStreams``), so its run does not depend on the batch. The
loop takes every step's sample and noise from ``optim.schedule.epoch_schedule``.
With ``seeds=None`` the blocks have no batch dimension (one run; this is also the path of torch models,
whose parameters carry no batch dimension).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import pandas as pd
import torch
from torch import Tensor

from ..objectives.base import Objective
from ..rng import as_seed_indices
from ..zo.estimators import FORMS, Form, ZOEstimate, zo_gradient
from ..zo.precision import ZO_PRECISIONS
from .limits import BlockMode, StepLimit, diagnose, step_limits
from .orders import ORDERS, Order
from .run_metrics import RunResult, divergence_threshold, full_metrics, metrics_frame
from .schedule import epoch_schedule

Method = Literal["hybrid", "fo_full", "fo_peft", "zo_full", "zo_peft"]
Update = Literal["jacobi", "gauss_seidel"]
FOPoint = Literal["clean", "plus", "sym"]

# method -> (rule of the x block, rule of the y block)
METHODS: dict[str, tuple[BlockMode, BlockMode]] = {
    "hybrid": ("zo", "fo"),
    "fo_full": ("fo", "fo"),
    "fo_peft": ("frozen", "fo"),
    "zo_full": ("zo", "frozen"),
    "zo_peft": ("frozen", "zo"),
}
UPDATES: tuple[str, ...] = ("jacobi", "gauss_seidel")
FO_POINTS: tuple[str, ...] = ("clean", "plus", "sym")


def _choice(name: str, value: str, accepted) -> None:
    if value not in accepted:
        raise ValueError(f"unknown {name} {value!r}; accepted: {', '.join(accepted)}")


@dataclass(frozen=True)
class HybridSGDConfig:
    """Everything that defines a run except the objective and the number of seeds (THEORY 2.1)."""

    method: Method = "hybrid"
    eta_x: float = 0.0
    eta_y: float = 0.0
    epochs: int = 20
    order: Order = "rr"
    update: Update = "jacobi"
    fo_point: FOPoint = "clean"
    form: Form = "central"
    mu: float = 1e-3
    q: int = 1
    seed: int = 0
    # one default for every kind of run (synthetic and model): a run has diverged once its loss exceeds this
    # multiple of its start loss. A wide margin, because a seed frozen by mistake (a noisy ZO run rising for
    # a while near its step-size limit) would bias every mean over seeds, while a run that truly diverges
    # grows geometrically and crosses 1e6 a few epochs or steps after 1e3. Figures that want an earlier stop
    # set their own factor.
    divergence_factor: float = 1e6
    # how the in-place ZO step of a torch model handles the weights' precision (zo.precision): "plain" moves
    # the weights in their own dtype, "master" keeps a float32 copy of the ZO block as the iterate,
    # "stochastic" rounds the update stochastically. Left out of a run's identity while "plain"
    # (RunDescription.to_dict), so runs described before it existed keep their hashes.
    zo_precision: str = "plain"

    def __post_init__(self):
        _choice("method", self.method, tuple(METHODS))
        _choice("sample order", self.order, ORDERS)
        _choice("update", self.update, UPDATES)
        _choice("fo_point", self.fo_point, FO_POINTS)
        _choice("ZO estimator form", self.form, FORMS)
        for block, mode in zip("xy", METHODS[self.method]):
            eta = getattr(self, f"eta_{block}")
            if not isinstance(eta, (int, float)) or not math.isfinite(eta):
                raise ValueError(f"eta_{block} must be a finite number, got {eta!r}")
            if mode == "frozen" and eta != 0:
                raise ValueError(f"method {self.method} keeps {block} frozen: eta_{block} must be 0, got {eta}")
            # a ZO block at step size 0 is a control: its forward passes run, its weights move only by the
            # rounding of perturb-and-restore (the claim test's hybrid at eta_x = 0 against FO-PEFT)
            if mode != "frozen" and not (eta > 0 or (mode == "zo" and eta == 0)):
                raise ValueError(f"method {self.method} updates {block}: eta_{block} must be positive, got {eta}")
        if self.fo_point != "clean" and METHODS[self.method] != ("zo", "fo"):
            raise ValueError(
                f"fo_point {self.fo_point!r} needs a ZO x block and an FO y block "
                f"(method hybrid), got method {self.method}"
            )
        if not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {self.epochs!r}")
        if not (isinstance(self.mu, (int, float)) and math.isfinite(self.mu) and self.mu > 0):
            raise ValueError(f"the smoothing radius mu must be a finite positive number, got {self.mu!r}")
        if not isinstance(self.q, int) or self.q < 1:
            raise ValueError(f"the number of ZO directions q must be an integer >= 1, got {self.q!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (isinstance(self.divergence_factor, (int, float)) and self.divergence_factor > 1):
            raise ValueError(f"divergence_factor must be a number > 1, got {self.divergence_factor!r}")
        _choice("zo_precision", self.zo_precision, ZO_PRECISIONS)
        if self.zo_precision != "plain" and "zo" not in self.modes:
            raise ValueError(f"zo_precision {self.zo_precision!r} needs a ZO block; method {self.method} has none")

    @property
    def modes(self) -> tuple[BlockMode, BlockMode]:
        return METHODS[self.method]


def config_step_limits(objective: Objective, config: HybridSGDConfig) -> tuple[StepLimit, ...]:
    """The step-size limits that ``objective``'s known constants set for the rules and step sizes of ``config``."""
    return step_limits(
        objective.constants,
        modes=config.modes,
        eta_x=config.eta_x,
        eta_y=config.eta_y,
        d_x=objective.d_x,
        d_y=objective.d_y,
        n=objective.n,
        q=config.q,
    )


class ZOStep(Protocol):
    """Replaceable ZO block step: returns the new block and the estimate (an in-place variant for torch
    models may perturb and update the parameters it is given and return them)."""

    def __call__(
        self,
        loss_fn: Callable[[Tensor], Tensor],
        v: Tensor,
        *,
        eta: float,
        mu: float,
        form: Form,
        q: int,
        generator: torch.Generator,
    ) -> tuple[Tensor, ZOEstimate]: ...


def zo_step(
    loss_fn: Callable[[Tensor], Tensor],
    v: Tensor,
    *,
    eta: float,
    mu: float,
    form: Form,
    q: int,
    generator: torch.Generator,
) -> tuple[Tensor, ZOEstimate]:
    """v <- v - eta g_v with the two-point estimate g_v of THEORY 2.2 (out of place, batched)."""
    est = zo_gradient(loss_fn, v, mu=mu, form=form, q=q, generator=generator)
    return v - eta * est.grad, est


def grad_y_only(objective: Objective, x: Tensor, y: Tensor, idx) -> Tensor:
    """grad_y f_idx(x, y); a torch model leaves the x block out of autograd (no graph over the base weights)."""
    return objective.grad(x, y, idx, blocks="y")[1]


def fo_block_gradient(
    objective: Objective,
    x: Tensor,
    y: Tensor,
    idx,
    *,
    fo_point: FOPoint = "clean",
    mu: float = 0.0,
    u1: Tensor | None = None,
) -> Tensor:
    """The adapter gradient of THEORY 2.3 at x (the FO read point): clean grad_y f_i(x, y); plus
    grad_y f_i(x + mu u_1, y); sym the average of grad_y f_i(x +- mu u_1, y)."""
    if fo_point == "clean":
        return grad_y_only(objective, x, y, idx)
    if u1 is None:
        raise ValueError(f"fo_point {fo_point!r} needs the first ZO direction u_1 (an out-of-place ZO step)")
    if fo_point == "plus":
        return grad_y_only(objective, x + mu * u1, y, idx)
    if fo_point == "sym":
        return 0.5 * (grad_y_only(objective, x + mu * u1, y, idx) + grad_y_only(objective, x - mu * u1, y, idx))
    raise ValueError(f"unknown fo_point {fo_point!r}; accepted: {', '.join(FO_POINTS)}")


def records_start_loss(config: HybridSGDConfig) -> bool:
    """Whether ``hybrid_step`` with ``info`` records f_i at the start point from its own gradient's forward:
    an FO x block (the joint gradient at (x, y)), or a frozen x with the adapter's clean Jacobi gradient."""
    x_mode, y_mode = config.modes
    clean_y = y_mode == "fo" and config.update == "jacobi" and config.fo_point == "clean"
    return x_mode == "fo" or (x_mode == "frozen" and clean_y)


def hybrid_step(
    objective: Objective,
    x: Tensor,
    y: Tensor,
    idx,
    config: HybridSGDConfig,
    generator: torch.Generator,
    *,
    zo_block_step: ZOStep = zo_step,
    info: dict | None = None,
    fo_x_update: Callable[[Tensor, Tensor, float], Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """One inner step of THEORY 2.1 on sample(s) ``idx``: returns the new (x, y).

    ``info``, when given, receives what the step measured: ``zo_x`` / ``zo_y`` (the ZO estimates),
    ``grad_y`` (the adapter gradient used) and, where ``records_start_loss(config)``, ``loss``: f_i(x, y) from
    the forward of the step's own gradient, for per-step records. ``fo_x_update(x, grad_x, eta_x)`` replaces
    the out-of-place FO update of x, x - eta_x grad_x (``engine.model_step.sgd_in_place``: the same bits, in
    place).

    Under Jacobi with fo_point clean the adapter gradient is taken before x moves, so an in-place ZO step
    (which overwrites x) still gives the Jacobi update; plus and sym read x again after the ZO step and
    therefore need an out-of-place step (or one that restores x before returning).
    """
    x_mode, y_mode = config.modes
    c = config
    u1 = est = None
    gy = None
    if x_mode == "fo":
        if info is None:
            gx, gy_joint = objective.grad(x, y, idx)
        else:  # the gradient's own forward gives f_i at the start point: no second forward to record it
            info["loss"], gx, gy_joint = objective.value_and_grad(x, y, idx)
        gy = gy_joint if c.update == "jacobi" else None  # one gradient call serves both blocks
        x_new = x - c.eta_x * gx if fo_x_update is None else fo_x_update(x, gx, c.eta_x)
    else:
        if y_mode == "fo" and c.update == "jacobi" and c.fo_point == "clean":
            if info is not None and records_start_loss(c):
                info["loss"], _, gy = objective.value_and_grad(x, y, idx, blocks="y")
            else:
                gy = grad_y_only(objective, x, y, idx)
        if x_mode == "zo":
            x_new, est = zo_block_step(
                lambda xx: objective.loss(xx, y, idx), x, eta=c.eta_x, mu=c.mu, form=c.form, q=c.q, generator=generator
            )
            u1 = est.u[0] if est.u is not None else None
            if info is not None:
                info["zo_x"] = est
        else:
            x_new = x
    x_read = x_new if c.update == "gauss_seidel" else x
    if y_mode == "fo":
        if gy is None and x_mode == "zo" and getattr(est, "fo_grad", None) is not None:
            gy = est.fo_grad  # taken by an in-place ZO step at its perturbed point(s): fo_point plus / sym
        if gy is None:
            gy = fo_block_gradient(objective, x_read, y, idx, fo_point=c.fo_point, mu=c.mu, u1=u1)
        y_new = y - c.eta_y * gy
    elif y_mode == "zo":
        y_new, est_y = zo_block_step(
            lambda yy: objective.loss(x_read, yy, idx), y, eta=c.eta_y, mu=c.mu, form=c.form, q=c.q, generator=generator
        )
        if info is not None:
            info["zo_y"] = est_y
    else:
        y_new = y
    if info is not None and gy is not None:
        info["grad_y"] = gy
    return x_new, y_new


@dataclass(frozen=True, eq=False)
class EpochState:
    """Everything a batched run needs to continue from the start of epoch ``epoch``: every seed's point, which
    seeds are alive, where the others diverged, the divergence threshold and the records of epochs
    0..``epoch`` (the metrics at this epoch's start are recorded; its steps are not yet run). ``finished``:
    no epoch follows (the last epoch of the config, or every seed diverged)."""

    epoch: int
    x: Tensor
    y: Tensor
    alive: Tensor
    diverged_at: tuple
    threshold: Tensor
    records: tuple
    seconds: float
    seed_ids: tuple | None
    finished: bool

    def metrics(self, config: HybridSGDConfig) -> pd.DataFrame:
        return metrics_frame(self.records, config, self.seed_ids or (0,))


@dataclass(eq=False)
class _RunProgress:
    """Where a run stands between epochs (``EpochState`` is its frozen snapshot)."""

    x: Tensor
    y: Tensor
    alive: Tensor
    diverged_at: list
    threshold: Tensor | None
    records: list

    def snapshot(self, epoch: int, seconds: float, seed_ids, finished: bool) -> EpochState:
        return EpochState(
            epoch,
            self.x,
            self.y,
            self.alive.clone(),
            tuple(self.diverged_at),
            self.threshold,
            tuple(self.records),
            seconds,
            tuple(seed_ids) if seed_ids is not None else None,
            finished,
        )


def _starting_progress(
    objective: Objective, config: HybridSGDConfig, seed_ids, start: EpochState | None
) -> _RunProgress:
    """A new run at z_0, or the continuation of ``start`` (checked against the seeds and the config)."""
    if start is None:
        S = len(seed_ids) if seed_ids is not None else 1
        x, y = objective.initial_point(S if seed_ids is not None else None)
        return _RunProgress(x, y, torch.ones(S, dtype=torch.bool), [None] * S, None, [])
    if start.seed_ids != (tuple(seed_ids) if seed_ids is not None else None):
        raise ValueError(f"the state to continue holds seeds {start.seed_ids}, not {seed_ids}")
    if config.epochs < start.epoch:
        raise ValueError(f"the state to continue is at epoch {start.epoch}, beyond epochs = {config.epochs}")
    return _RunProgress(
        start.x, start.y, start.alive.clone(), list(start.diverged_at), start.threshold, list(start.records)
    )


def _record_epoch(objective: Objective, config: HybridSGDConfig, run: _RunProgress, epoch: int, clock: float) -> None:
    """Record f and the gradient norms at the start of ``epoch`` for the live seeds, with the seconds since
    ``clock``; freeze the seeds whose loss is not finite or above the divergence threshold (fixed by the first
    recorded epoch)."""
    loss, nx, ny, nz = full_metrics(objective, run.x, run.y)
    if run.threshold is None:
        run.threshold = divergence_threshold(loss, config.divergence_factor)
    bad = run.alive & (~torch.isfinite(loss) | ~torch.isfinite(nz) | (loss > run.threshold))
    rows = run.alive.numpy().copy()
    run.records.append((epoch, rows, tuple(v.numpy()[rows] for v in (loss, nx, ny, nz)), time.perf_counter() - clock))
    for b in torch.nonzero(bad).flatten().tolist():
        run.diverged_at[b] = epoch
    run.alive &= ~bad


def _run_epoch(
    objective: Objective,
    config: HybridSGDConfig,
    run: _RunProgress,
    epoch: int,
    seed_index: Tensor | None,
    zo_block_step: ZOStep,
) -> None:
    """The n steps of ``epoch``, samples and noise from the step schedule; diverged seeds stay frozen."""
    device = run.x.device
    mask = None if seed_index is None or bool(run.alive.all()) else run.alive.to(device).unsqueeze(-1)
    x, y = run.x, run.y
    for step in epoch_schedule(
        config.order, n=objective.n, epoch=epoch, run_seed=config.seed, seed_index=seed_index, device=device
    ):
        x_new, y_new = hybrid_step(objective, x, y, step.idx, config, step.noise, zo_block_step=zo_block_step)
        if mask is not None:  # diverged seeds stay frozen where they blew up
            x_new, y_new = torch.where(mask, x_new, x), torch.where(mask, y_new, y)
        x, y = x_new, y_new
    run.x, run.y = x, y


def _epoch_range(config: HybridSGDConfig, first: int, progress: bool):
    epochs = range(first, config.epochs + 1)
    if not progress:
        return epochs
    from tqdm import tqdm

    return tqdm(epochs, desc=f"{config.method}", unit="epoch", leave=False, initial=first, total=config.epochs + 1)


def run_hybrid_sgd(
    objective: Objective,
    config: HybridSGDConfig,
    *,
    seeds: int | Sequence[int] | None = 1,
    progress: bool = False,
    zo_block_step: ZOStep = zo_step,
    start: EpochState | None = None,
    on_epoch: Callable[[EpochState], None] | None = None,
) -> RunResult:
    """Run ``config`` on ``objective`` for several seeds at once: ``seeds`` = S means seed indices 0..S-1,
    a list/tuple the given seed indices, ``None`` one run with unbatched blocks.

    Seed index b draws its sample orders and ZO directions from its own streams (``rng.SeedStreams``), so
    its random draws are the same alone, among S seeds or beside any others: an outlier seed of a sweep
    can be rerun alone with ``seeds=[b]``. The metrics' ``seed`` column holds the seed indices;
    ``diverged_epoch`` follows the order of ``seeds``.

    Metrics are recorded at every epoch start t = 0..T (z_T included) for each live seed. A seed whose
    f(z_t) is not finite or exceeds ``divergence_factor`` times f(z_0) is recorded at that epoch, marked
    diverged and frozen; the run stops when no seed is left.

    ``on_epoch(state)`` is called at every epoch boundary once the metrics are recorded (a checkpoint hook;
    it may raise to stop the run); ``start`` continues from such a state (same objective, config except
    ``epochs``, and seeds) to the numbers an uninterrupted run gives: all randomness derives from
    (run seed, seed index, epoch, step).
    """
    seed_ids = as_seed_indices(seeds)
    run = _starting_progress(objective, config, seed_ids, start)
    seed_index = None if seed_ids is None else torch.tensor(seed_ids, dtype=torch.int64, device=run.x.device)
    first = 0 if start is None else start.epoch
    clock = time.perf_counter() - (0.0 if start is None else start.seconds)
    for t in _epoch_range(config, first, progress):
        if start is None or t > start.epoch:  # a continued run has its first epoch's metrics recorded
            _record_epoch(objective, config, run, t, clock)
        finished = t == config.epochs or not bool(run.alive.any())
        if on_epoch is not None:
            on_epoch(run.snapshot(t, time.perf_counter() - clock, seed_ids, finished))
        if finished:
            break
        _run_epoch(objective, config, run, t, seed_index, zo_block_step)
    seconds = time.perf_counter() - clock
    limits = config_step_limits(objective, config)
    return RunResult(
        config=config,
        metrics=metrics_frame(run.records, config, seed_ids or (0,)),
        x=run.x,
        y=run.y,
        diverged_epoch=tuple(run.diverged_at),
        limits=limits,
        diagnosis=diagnose(limits, run.diverged_at),
        seeds=seeds if seeds is None or isinstance(seeds, int) else seed_ids,
        seconds=seconds,
    )


__all__ = [
    "FO_POINTS",
    "METHODS",
    "UPDATES",
    "EpochState",
    "HybridSGDConfig",
    "fo_block_gradient",
    "grad_y_only",
    "hybrid_step",
    "run_hybrid_sgd",
    "zo_step",
]
