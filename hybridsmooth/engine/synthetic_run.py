"""A batched synthetic run in a run folder: per-epoch checkpoints of all seeds, resume, Ctrl-C that keeps.

``optim.run_hybrid_sgd`` hands its state to a callback at every epoch boundary (every seed's point, which
seeds are still alive, the records so far). Here that callback writes a checkpoint every
``checkpoint_every`` epochs and at the end, and stops the run when the user asked to (Ctrl-C, SIGTERM).
Because all randomness derives from (run seed, seed index, epoch, step), a resumed run continues to the
same numbers an uninterrupted run gives on the same device.
"""

from __future__ import annotations

import torch

from ..errors import UsageError
from ..objectives.base import Objective
from ..optim.batched_run import EpochState, run_hybrid_sgd
from ..optim.hybrid_sgd import HybridSGDConfig
from ..optim.run_metrics import RunResult, summarize_run
from .interrupt import RunInterrupted, deferred_interrupt
from .run_description import RunDescription
from .rundir import CHECKPOINT_FILE, METRICS_FILE, RunFolder, run_config_record, write_atomic


def _save(folder: RunFolder, state: EpochState, config: HybridSGDConfig) -> None:
    payload = {"run_hash": folder.config["run_hash"], "state": state}
    write_atomic(folder.path / CHECKPOINT_FILE, save=lambda tmp: torch.save(payload, tmp))
    folder.write_table(METRICS_FILE, state.metrics(config))


def _load(folder: RunFolder, expected_hash: str, epochs: int) -> EpochState:
    path = folder.path / CHECKPOINT_FILE
    if not path.is_file():
        raise UsageError(f"nothing to resume: {path} does not exist")
    payload = torch.load(path, weights_only=False)
    if payload.get("run_hash") != expected_hash:
        raise UsageError(
            f"{path} belongs to another run than {folder.path / 'config.json'}; start again with --overwrite"
        )
    state: EpochState = payload["state"]
    if epochs < state.epoch:
        raise UsageError(
            f"--epochs {epochs} is below the {state.epoch} epochs the run in {folder.path} already "
            f"holds: give --epochs >= {state.epoch}"
        )
    return state


def train_synthetic(
    objective: Objective, description: RunDescription, *, folder: RunFolder, progress: bool = False
) -> tuple[RunResult, dict]:
    """Run ``description`` (a synthetic problem, its seeds batched) on ``objective`` (built from its problem)
    into ``folder`` (opened by the caller; ``folder.resume`` continues its run). Returns the result and the
    summary.

    Raises ``RunInterrupted`` after writing the records and a checkpoint when the user stops the run.
    """
    if description.is_model:
        raise UsageError(f"{description.problem!r} is a torch model: train it with engine.model_run.train_model")
    config, checkpoint_every = description.optimizer, description.checkpoint_every
    record = run_config_record(description, objective)
    start = _load(folder, folder.check_resume(record), config.epochs) if folder.resume else None
    folder.start(record)
    last: list[EpochState] = []

    def on_epoch(state: EpochState) -> None:
        last[:] = [state]
        final = state.epoch == config.epochs or state.finished
        if stop.requested and not final:
            raise RunInterrupted(
                f"interrupted at epoch {state.epoch} of {config.epochs}: the records and a "
                f"checkpoint are in {folder.path}; add --resume to the same command to continue"
            )
        if final or (checkpoint_every and state.epoch % checkpoint_every == 0):
            _save(folder, state, config)

    try:
        with deferred_interrupt() as stop:
            result = run_hybrid_sgd(
                objective, config, seeds=description.seed_arg, progress=progress, start=start, on_epoch=on_epoch
            )
    except BaseException:
        # the last epoch boundary is a consistent state of every seed: keep it, whatever stopped the run
        if last:
            _save(folder, last[0], config)
        raise
    summary = summarize_run(result)
    summary["out"] = str(folder.path)
    folder.finish(result.metrics, summary)
    return result, summary
