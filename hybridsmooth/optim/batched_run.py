"""The batched loop of reshuffling hybrid SGD (THEORY 2.1): every seed as one computation, epoch by epoch,
with divergence marked per seed and a snapshot at each epoch boundary for checkpoints
(``engine.synthetic_run``). One step is ``optim.hybrid_sgd.hybrid_step``; the module docstring there says how
the seeds' streams and the unbatched (torch model) path work."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from ..objectives.base import Objective
from ..rng import as_seed_indices
from .hybrid_sgd import HybridSGDConfig, ZOStep, config_step_limits, hybrid_step, zo_step
from .limits import diagnose
from .run_metrics import RunResult, divergence_threshold, full_metrics, metrics_frame
from .schedule import epoch_schedule


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


__all__ = ["EpochState", "run_hybrid_sgd"]
