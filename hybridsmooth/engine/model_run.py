"""Training a torch model with an adapter: the steps of the schedule, run in place, with records and resume.

Each step is ``engine.model_step.model_step`` (the optimizer's own ``hybrid_step`` with an in-place ZO block
step) on the sample and noise ``optim.schedule.step_schedule`` gives global step s = t n + k.

Per step it records the sample, the loss, the ZO projected gradient, ||grad_y||, the step sizes, what
rounding did to the ZO step (``zo_residue``, ``zo_lost``: ``zo.precision``, measured on a fixed sample of
coordinates) and the step's seconds; every ``eval_every`` steps the dev loss and accuracy. The ZO precision
(``HybridSGDConfig.zo_precision``) is set up once per run; the first step warns when most of the ZO update
is predicted to round away, and the summary says so in one line when it did. Every ``checkpoint_every`` steps it
writes the changed weights, the position in the run and the records so far; ``resume=True`` continues from
there to the same numbers an uninterrupted run gives on the same device (all randomness derives from the
run seed and the position, so no generator state needs restoring). The output folder follows the rules of
``engine.rundir``: one run per folder, a lock while it is written, the completion marker last. Ctrl-C (or
SIGTERM) stops the run at the next step boundary and keeps everything recorded, with a checkpoint to
resume from. Two settings of the claim test add records: ``probe_every`` the block probe's (probes.csv,
``engine.block_probe``), ``eval_test`` the test split at the end and at the best dev evaluation
(``engine.held_out``; in the summary).
"""

# Over 450 lines on purpose: the loop, its checkpoint and its resume read and write one RunLog; split, the
# three would share that private record across modules.
from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ..errors import UsageError
from ..objectives.base import HeldOutSplits, Objective, is_model_objective
from ..optim.hybrid_sgd import HybridSGDConfig, config_step_limits
from ..optim.schedule import ScheduledStep, step_schedule
from ..zo.precision import (
    LostUpdateWarning,
    RunPrecision,
    lost_update_message,
    precision_summary,
    predicted_lost_fraction,
)
from .block_probe import PROBE_COLUMNS, BlockProbe
from .held_out import BEST_KEYS, best_point, test_evaluations
from .interrupt import RunInterrupted, deferred_interrupt
from .model_step import model_step
from .run_description import RunDescription
from .rundir import (
    CHECKPOINT_FILE,
    EVALS_FILE,
    METRICS_FILE,
    RunFolder,
    open_run_folder,
    run_config_record,
    write_atomic,
)

PROBES_FILE = "probes.csv"

# zo_residue / zo_lost: what rounding did to the ZO step (zo.precision), measured on a fixed coordinate sample;
# "seconds" stays last (RunLog.elapsed reads it there)
STEP_COLUMNS = (
    "step", "epoch", "k", "sample", "loss", "zo_phi", "grad_y_norm", "eta_x", "eta_y", "zo_residue", "zo_lost",
    "seconds",
)  # fmt: skip
_OLD_ROW = 10  # rows of checkpoints written before zo_residue / zo_lost existed
EVAL_COLUMNS = ("step", "dev_loss", "dev_accuracy", "seconds")


@dataclass(frozen=True, eq=False)
class ModelRunResult:
    steps: pd.DataFrame
    evals: pd.DataFrame
    diverged: bool
    diagnosis: str
    completed_steps: int
    out_dir: Path | None
    # the run summary's ZO-precision entries (zo.precision.precision_summary), with a note when most of
    # the ZO update was lost to rounding
    precision: dict = field(default_factory=dict)
    # the block probe's records (engine.block_probe; empty unless the run's probe_every is set)
    probes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(PROBE_COLUMNS)))
    # the test split's {"loss", "accuracy"} at the end (the run's eval_test), else empty
    test: dict = field(default_factory=dict)


@dataclass(eq=False)
class RunLog:
    """The records of a model run so far and where it stands: ``next_step`` steps are done, the loss of the
    first one (its divergence reference) is ``first_loss``. A checkpoint stores exactly this."""

    steps: list = field(default_factory=list)
    evals: list = field(default_factory=list)
    first_loss: float | None = None
    next_step: int = 0
    # the run's ZO precision state (master copies, coordinate samples); not part of a checkpoint's records
    precision: RunPrecision | None = None
    probes: list = field(default_factory=list)
    probe: BlockProbe | None = None
    # with the run's eval_test: the evaluation with the best dev accuracy so far (ties: the lower dev loss)
    # and the changed blocks at it, so that the test split is also read at the best dev point (MeZO's
    # load-best-model-at-end), not only at the end of a noisy run
    best: dict | None = None
    keep_best: tuple[str, ...] = ()  # the blocks to keep at the best dev point (those the run changes)

    @property
    def elapsed(self) -> float:
        """Seconds spent in training steps (evaluations excluded)."""
        return sum(r[-1] for r in self.steps)


def _check_objective(objective: Objective, config: HybridSGDConfig) -> None:
    if not is_model_objective(objective):
        raise UsageError(
            "train_model needs a torch-model objective (ModuleObjective); synthetic problems "
            "run batched with optim.run_hybrid_sgd"
        )
    # the in-place step adds mu * u to the weights in their own dtype; |u_i| reaches ~6 for a Gaussian draw
    # of a few million coordinates, so mu must leave that representable
    top = torch.finfo(objective.dtype).max
    if "zo" in config.modes and config.mu * 100 > top:
        raise UsageError(
            f"--mu {config.mu:g} overflows {str(objective.dtype).replace('torch.', '')} (max "
            f"{top:.3g}): the perturbation mu * u of the weights cannot be represented"
        )
    if config.fo_point != "clean" and (config.update != "jacobi" or config.form == "forward"):
        raise UsageError(
            f"fo_point {config.fo_point!r} on a torch model takes the adapter gradient inside the "
            "in-place ZO step: it needs the Jacobi update and a two-sided ZO form (central or spsa)"
        )


def _default_evaluate(objective: Objective, limit: int | None):
    if not isinstance(objective, HeldOutSplits):
        return None
    from ..objectives.llm import evaluate

    return lambda obj: evaluate(obj, obj.x, obj.y, split="dev", limit=limit)


def _changed_blocks(config: HybridSGDConfig) -> tuple[str, ...]:
    return tuple(b for b, mode in zip("xy", config.modes) if mode != "frozen")


# --- checkpoints -------------------------------------------------------------------------------------------


def _save_checkpoint(folder: RunFolder, objective: Objective, config: HybridSGDConfig, log: RunLog) -> None:
    precision = log.precision
    state = {
        "next_step": log.next_step,
        "run_hash": folder.config["run_hash"],
        "optimizer": dataclasses.asdict(config),
        "blocks": {b: getattr(objective, b).detach().clone() for b in _changed_blocks(config)},
        "steps": log.steps,
        "evals": log.evals,
        "probes": log.probes,
        "best": log.best,
        "first_loss": log.first_loss,
        # nothing in the loop draws from the global generator; kept so that user code around it can resume too
        "torch_rng": torch.get_rng_state(),
        "spec": objective.spec,
        # the float32 iterate of zo_precision master: the weights alone would lose its low bits on resume
        "zo_master": {b: m.clone() for b, m in precision.masters.items()} if precision is not None else {},
    }
    write_atomic(folder.path / CHECKPOINT_FILE, save=lambda tmp: torch.save(state, tmp))
    _write_tables(folder, log)


def _write_tables(folder: RunFolder, log: RunLog) -> None:
    folder.write_table(METRICS_FILE, pd.DataFrame(log.steps, columns=list(STEP_COLUMNS)))
    folder.write_table(EVALS_FILE, pd.DataFrame(log.evals, columns=list(EVAL_COLUMNS)))
    if log.probe is not None:
        folder.write_table(PROBES_FILE, pd.DataFrame(log.probes, columns=list(PROBE_COLUMNS)))


def _load_checkpoint(folder: RunFolder, expected_hash: str, objective: Objective) -> RunLog:
    path = folder.path / CHECKPOINT_FILE
    if not path.is_file():
        raise UsageError(
            f"nothing to resume: {path} does not exist (the run was written without checkpoints; "
            "give --checkpoint-every to make resumable runs)"
        )
    state = torch.load(path, map_location=objective.device, weights_only=False)
    if state.get("run_hash") != expected_hash:
        raise UsageError(
            f"{path} belongs to another run than {folder.path / 'config.json'}; start again with --overwrite"
        )
    # the run hash covers the problem spec and the optimizer config: nothing else needs comparing
    with torch.no_grad():
        for b, value in state["blocks"].items():
            getattr(objective, b).copy_(value)
    steps = [r if len(r) != _OLD_ROW else (*r[:-1], math.nan, math.nan, r[-1]) for r in state["steps"]]
    log = RunLog(steps, list(state["evals"]), state["first_loss"], state["next_step"])
    log.probes = list(state.get("probes", []))
    log.best = state.get("best")
    return log


def _run_precision(objective: Objective, config: HybridSGDConfig, folder: RunFolder | None, resume: bool):
    """The run's ZO precision state, its master copies taken from the checkpoint when resuming (a
    checkpoint without them, from a plain run, starts them from the weights)."""
    blocks = tuple(b for b, mode in zip("xy", config.modes) if mode == "zo")
    precision = RunPrecision.for_run(objective, config.zo_precision, blocks)
    path = None if folder is None else folder.path / CHECKPOINT_FILE
    if precision.masters and resume and path is not None and path.is_file():
        stored = torch.load(path, map_location=objective.device, weights_only=False).get("zo_master", {})
        for b, m in stored.items():
            if b in precision.masters:
                precision.masters[b].copy_(m)
    return precision


def _open_log(
    objective: Objective, config: HybridSGDConfig, run: RunDescription, folder: RunFolder | None, resume: bool
) -> RunLog:
    """Start the run's records: empty, or from the folder's checkpoint (``resume``); marks the folder started."""
    if folder is None:
        return RunLog()
    record = run_config_record(run, objective)
    log = RunLog()
    if resume:  # check everything before the stored config is touched
        log = _load_checkpoint(folder, folder.check_resume(record), objective)
        if run.steps < log.next_step:
            raise UsageError(
                f"--steps {run.steps} is below the {log.next_step} steps the run in "
                f"{folder.path} already holds: give --steps >= {log.next_step}"
            )
    folder.start(record)
    return log


# --- the run -----------------------------------------------------------------------------------------------


def train_model(
    objective: Objective,
    description: RunDescription,
    *,
    out_dir=None,
    resume: bool = False,
    overwrite: bool = False,
    evaluate: Callable[[object], dict] | None = None,
    progress: bool = False,
) -> ModelRunResult:
    """Train ``objective`` (the model ``description.problem`` names, loaded by the caller) for
    ``description.steps`` steps of THEORY 2.1 (see the module docstring).

    ``evaluate(objective) -> {"loss", "accuracy"}`` is called at the start, every ``eval_every`` steps and at
    the end (default for the LLM objectives: dev loss and accuracy). ``out_dir`` (a path, or a ``RunFolder``
    the caller opened) must be empty unless ``resume`` (the same run, from its checkpoint; ``steps`` may
    extend it) or ``overwrite``. Raises ``RunInterrupted`` after saving when the user stops the run.
    """
    if not description.is_model:
        raise UsageError(f"{description.problem!r} is not a torch model: it runs batched (engine.synthetic_run)")
    config = description.optimizer
    _check_objective(objective, config)
    if description.steps is None:  # stored resolved: the folder says how long its run is
        description = description.replace(steps=config.epochs * objective.n)
    if (resume or description.checkpoint_every) and out_dir is None:
        raise UsageError("checkpoints and --resume need an output folder")
    args = (objective, config, description)
    if isinstance(out_dir, RunFolder):  # opened (and locked) by the caller, which releases it
        return _train_in_folder(*args, out_dir, out_dir.resume, evaluate, progress)
    folder = None
    if out_dir is not None:
        folder = open_run_folder(out_dir, resume=resume, overwrite=overwrite)
    try:
        return _train_in_folder(*args, folder, resume, evaluate, progress)
    finally:
        if folder is not None:
            folder.release()


def _train_in_folder(
    objective: Objective,
    config: HybridSGDConfig,
    run: RunDescription,
    folder: RunFolder | None,
    resume: bool,
    evaluate,
    progress: bool,
) -> ModelRunResult:
    evaluate = evaluate or _default_evaluate(objective, run.eval_limit)
    # the start point, taken before a checkpoint moves the weights: the probe measures distances from it
    start = objective.initial_point() if run.probe_every else None
    log = _open_log(objective, config, run, folder, resume)
    log.keep_best = _changed_blocks(config) if run.eval_test else ()
    if start is not None:
        log.probe = BlockProbe.for_run(objective, run.probe_every, config.eta_x, config.eta_y, start)
    log.precision = _run_precision(objective, config, folder, resume)
    stopped, reason = _run_steps(objective, config, run, log, folder, evaluate, progress)
    if stopped:
        if folder is not None:
            _save_checkpoint(folder, objective, config, log)
            raise RunInterrupted(
                f"interrupted after step {log.next_step} of {run.steps}: the records and a "
                f"checkpoint are in {folder.path}; add --resume to the same command to continue"
            )
        raise RunInterrupted(f"interrupted after step {log.next_step} of {run.steps}")
    diverged = bool(reason)
    if not diverged and log.next_step == run.steps and (not log.evals or log.evals[-1][0] != log.next_step):
        _evaluate_into(log, objective, evaluate)
    return _finish(objective, config, run, folder, log, diverged, reason)


def _run_steps(
    objective: Objective,
    config: HybridSGDConfig,
    run: RunDescription,
    log: RunLog,
    folder: RunFolder | None,
    evaluate,
    progress: bool,
) -> tuple[bool, str]:
    """The steps from ``log.next_step`` to ``run.steps``: (stopped by the user, why the run diverged or "").

    A crash or a second Ctrl-C inside a step may leave the weights at a perturbed point: then no checkpoint
    is written, but the records so far are."""
    bar = _progress_bar(config, run, log.next_step) if progress else None
    try:
        with deferred_interrupt() as stop:
            if log.next_step == 0 and not log.evals:
                _evaluate_into(log, objective, evaluate)
            for step in step_schedule(
                config.order,
                n=objective.n,
                run_seed=config.seed,
                start=log.next_step,
                stop=run.steps,
                device=objective.device,
            ):
                if stop.requested:
                    return True, ""
                reason = _take_step(objective, config, run, log, step)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{log.steps[-1][4]:.4g}", s_per_step=f"{log.steps[-1][-1]:.2f}")
                if reason:
                    return False, reason
                _after_step(objective, config, run, log, folder, evaluate)
    except BaseException:
        if folder is not None:
            _write_tables(folder, log)
        raise
    finally:
        if bar is not None:
            bar.close()
    return False, ""


def _progress_bar(config: HybridSGDConfig, run: RunDescription, start: int):
    from tqdm import tqdm

    return tqdm(desc=config.method, unit="step", initial=start, total=run.steps, leave=False)


def _take_step(
    objective: Objective, config: HybridSGDConfig, run: RunDescription, log: RunLog, step: ScheduledStep
) -> str:
    """Run and record one step; returns why the run diverged at it, or ""."""
    probe = log.probe if log.probe is not None and log.probe.due(step.step) else None
    if probe is not None:
        probe.before(step.step)
    out = model_step(objective, config, run.noise_mode, step, precision=log.precision)
    if probe is not None:
        probe.after()
        log.probes.append(probe.rows.pop())
    if step.step == 0:
        _warn_if_update_lost(objective, config, log.precision, out.zo_update_scale)
    log.steps.append(
        (
            step.step,
            step.epoch,
            step.k,
            step.idx,
            out.loss,
            out.zo_phi,
            out.grad_y_norm,
            config.eta_x,
            config.eta_y,
            out.zo_residue,
            out.zo_lost,
            out.seconds,
        )
    )
    log.next_step = step.step + 1
    if log.first_loss is None:
        log.first_loss = abs(out.loss) if out.loss != 0 else 1.0
    if not math.isfinite(out.loss):
        return f"diverged at step {step.step}: loss {out.loss:.4g} is not finite"
    if out.loss > config.divergence_factor * log.first_loss:
        return (
            f"diverged at step {step.step}: loss {out.loss:.4g} is above {config.divergence_factor:g} x the "
            f"first step loss {log.first_loss:.4g}"
        )
    return ""


def _warn_if_update_lost(objective: Objective, config: HybridSGDConfig, precision, scale: float) -> None:
    """At the first step, once phi_1 gives the update's scale eta |phi| / q: warn when most coordinates'
    update is predicted below half their spacing (zo.precision.predicted_lost_fraction; stochastic rounding
    keeps the update in expectation, so it is not warned about)."""
    if precision is None or not precision.probes or config.zo_precision == "stochastic" or not scale > 0:
        return
    block = next(iter(precision.probes))
    tensors = precision.iterate(objective, block)
    fraction = predicted_lost_fraction(tensors, scale)
    if fraction > 0.5:
        warnings.warn(lost_update_message(fraction, tensors[0].dtype, scale), LostUpdateWarning, stacklevel=2)


def _after_step(
    objective: Objective, config: HybridSGDConfig, run: RunDescription, log: RunLog, folder: RunFolder | None, evaluate
) -> None:
    """The evaluation and the checkpoint due after a step (the last step's are the run's final ones)."""
    done = log.next_step
    if run.eval_every and done % run.eval_every == 0 and done < run.steps:
        _evaluate_into(log, objective, evaluate)
    if folder is not None and run.checkpoint_every and done % run.checkpoint_every == 0 and done < run.steps:
        _save_checkpoint(folder, objective, config, log)


def _evaluate_into(log: RunLog, objective: Objective, evaluate) -> None:
    if evaluate is not None:
        res = evaluate(objective)
        loss, accuracy = float(res["loss"]), float(res["accuracy"])
        log.evals.append((log.next_step, loss, accuracy, float(log.elapsed)))
        if log.keep_best:
            log.best = best_point(log.best, objective, log.keep_best, log.next_step, loss, accuracy)


def _finish(
    objective: Objective,
    config: HybridSGDConfig,
    run: RunDescription,
    folder: RunFolder | None,
    log: RunLog,
    diverged: bool,
    reason: str,
) -> ModelRunResult:
    """The result; with a folder, also its final checkpoint, tables and summary."""
    diagnosis = _diagnosis(objective, config, diverged, reason, log.next_step)
    precision = _precision_summary(objective, config, log)
    step_frame = pd.DataFrame(log.steps, columns=list(STEP_COLUMNS))
    eval_frame = pd.DataFrame(log.evals, columns=list(EVAL_COLUMNS))
    probe_frame = pd.DataFrame(log.probes, columns=list(PROBE_COLUMNS))
    test = test_evaluations(objective, log.best) if run.eval_test and not diverged else {}
    if folder is not None:
        if run.checkpoint_every or diverged:
            _save_checkpoint(folder, objective, config, log)
        summary = {**_summary(config, log, diverged, diagnosis), **precision}
        if run.eval_test:
            summary.update(
                final_test_loss=test.get("loss"),
                final_test_accuracy=test.get("accuracy"),
                **{k: test.get(k) for k in BEST_KEYS},
            )
        tables = {EVALS_FILE: eval_frame, **({PROBES_FILE: probe_frame} if run.probe_every else {})}
        folder.finish(step_frame, summary, tables)
    return ModelRunResult(
        steps=step_frame,
        evals=eval_frame,
        diverged=diverged,
        diagnosis=diagnosis,
        completed_steps=log.next_step,
        out_dir=None if folder is None else folder.path,
        precision=precision,
        probes=probe_frame,
        test=test,
    )


def _precision_summary(objective: Objective, config: HybridSGDConfig, log: RunLog) -> dict:
    p = log.precision
    if p is None or not p.probes:
        return {"zo_precision": config.zo_precision}
    block = next(iter(p.probes))
    tensors = p.iterate(objective, block)
    x_norm = math.sqrt(sum(float(t.double().square().sum()) for t in tensors))
    rows = [(r[9], r[10], r[5]) for r in log.steps]
    d = objective.d_x if block == "x" else objective.d_y
    eta = config.eta_x if block == "x" else config.eta_y
    kw = dict(eta=eta, d=d, q=config.q, x_norm=x_norm, dtype=tensors[0].dtype, constants=objective.constants)
    return precision_summary(config.zo_precision, rows, **kw)


def _summary(config: HybridSGDConfig, log: RunLog, diverged: bool, diagnosis: str) -> dict:
    # a diverged run's last evaluation is from before it diverged: it is not the run's final dev loss
    last_eval = log.evals[-1] if log.evals and log.evals[-1][0] == log.next_step else None
    return {
        "method": config.method,
        "steps": log.next_step,
        "diverged": diverged,
        "diagnosis": diagnosis,
        "seconds": log.elapsed,
        "final_train_loss": log.steps[-1][4] if log.steps else None,
        "final_dev_loss": last_eval[1] if last_eval else None,
        "final_dev_accuracy": last_eval[2] if last_eval else None,
        "last_eval_step": log.evals[-1][0] if log.evals else None,
    }


def _diagnosis(objective: Objective, config: HybridSGDConfig, diverged: bool, reason: str, completed: int) -> str:
    limits = config_step_limits(objective, config)
    if not diverged:
        return f"no divergence in {completed} steps"
    if limits:
        return reason + "; " + "; ".join(lim.describe() for lim in limits if lim.exceeded)
    return (
        reason + "; the smoothness constants of this model are unknown: estimate L_x and L_y "
        "(hybridsmooth estimate) and compare eta_x with 2/(L_x (d_x + 2)) and eta_y with 2/L_y"
    )
