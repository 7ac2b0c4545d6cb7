"""Training a torch model with an adapter: the optimizer's own step, run in place, with records and resume.

The step is ``optim.hybrid_sgd.hybrid_step`` -- the same code that trains the synthetic problems -- applied
to a ``ModuleObjective`` whose blocks are the model's live flat weight buffers. Only the ZO block step is
swapped for MeZO's in-place seed trick (``zo.inplace.zo_step_inplace``): perturb, two forward passes,
restore fused with the update, noise regenerated from (run seed, epoch, step) or drawn once into a buffer.
The adapter gradient is taken with the base weights out of autograd, so a hybrid step builds no graph over
x and leaves base-weight gradients empty.

Per step it records the sample, the loss, the ZO projected gradient, ||grad_y||, the step sizes and the
step's seconds; every ``eval_every`` steps the dev loss and accuracy. Every ``checkpoint_every`` steps it
writes the changed weights, the position in the run and the records so far; ``resume=True`` continues from
there to the same numbers an uninterrupted run gives on the same device (all randomness derives from the
run seed and the position, so no generator state needs restoring). The output folder follows the rules of
``engine.rundir``: one run per folder, a lock while it is written, the completion marker last. Ctrl-C (or
SIGTERM) stops the run at the next step boundary and keeps everything recorded, with a checkpoint to
resume from.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import Tensor

from ..errors import UsageError
from ..optim.hybrid_sgd import HybridSGDConfig, hybrid_step
from ..optim.limits import step_limits
from ..optim.orders import sample_orders
from ..zo.estimators import ZOEstimate, zo_generator
from ..zo.inplace import NOISE_MODES, NoiseMode, zo_step_inplace
from .interrupt import RunInterrupted, deferred_interrupt
from .rundir import (CHECKPOINT_FILE, EVALS_FILE, METRICS_FILE, RunFolder, open_run_folder, run_config_record,
                     write_atomic)

STEP_COLUMNS = ("step", "epoch", "k", "sample", "loss", "zo_phi", "grad_y_norm", "eta_x", "eta_y", "seconds")
EVAL_COLUMNS = ("step", "dev_loss", "dev_accuracy", "seconds")


@dataclass(frozen=True)
class ModelRunConfig:
    """What a model run adds to the optimizer's config: its length, evaluation, checkpoints, noise mode."""

    steps: int
    eval_every: int = 0                  # 0: evaluate at the start and the end only
    eval_limit: int | None = None        # dev examples per evaluation (None: the whole dev split)
    checkpoint_every: int = 0            # 0: no intermediate checkpoints
    noise_mode: NoiseMode = "regenerate"
    divergence_factor: float = 1e3       # loss above this times the first step's loss = diverged

    def __post_init__(self):
        for name in ("steps", "eval_every", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise UsageError(f"{name} must be a non-negative integer, got {value!r}")
        if self.noise_mode not in NOISE_MODES:
            raise UsageError(f"unknown noise mode {self.noise_mode!r}; accepted: {', '.join(NOISE_MODES)}")
        if not self.divergence_factor > 1:
            raise UsageError(f"divergence_factor must be > 1, got {self.divergence_factor!r}")


@dataclass(frozen=True, eq=False)
class ModelRunResult:
    steps: pd.DataFrame
    evals: pd.DataFrame
    diverged: bool
    diagnosis: str
    completed_steps: int
    out_dir: Path | None


def inplace_zo_block_step(objective, *, noise_mode: NoiseMode, run_seed: int, epoch: int, step: int,
                          fo_point: str = "clean", idx: int | None = None):
    """A ZO block step for ``hybrid_step`` that perturbs and updates the live weights of ``objective``
    tensor by tensor (MeZO's seed trick). The generator ``hybrid_step`` passes is not used: the trick
    derives the same stream from (run_seed, epoch, step) itself, so it can regenerate it.

    ``fo_point`` plus / sym (hybrid, x block): the adapter gradient is taken on sample ``idx`` at
    x + mu u_1 (plus) or averaged over x +- mu u_1 (sym) while the weights sit there, in the same forward
    pass that gives the ZO loss, and handed to ``hybrid_step`` as the estimate's ``fo_grad``."""

    def step_fn(loss_fn: Callable[[Tensor], Tensor], v: Tensor, *, eta: float, mu: float, form, q: int,
                generator) -> tuple[Tensor, ZOEstimate]:
        if v is objective.x:
            params = list(objective.x_layout.views(v).values())
        elif v is objective.y:
            params = list(objective.y_layout.views(v).values())
        else:
            raise ValueError("the in-place ZO step needs the objective's live block buffer")
        grads: list[Tensor] = []
        hook = None
        if fo_point != "clean" and v is objective.x:
            def hook():
                with torch.enable_grad():
                    value, _, gy = objective.value_and_grad(objective.x, objective.y, idx, blocks="y")
                grads.append(gy.detach())
                return value
        res = zo_step_inplace(params, lambda: loss_fn(v), mu=mu, eta=eta, run_seed=run_seed, epoch=epoch,
                              step=step, form=form, q=q, noise_mode=noise_mode, at_plus=hook,
                              at_minus=hook if fo_point == "sym" else None)
        phi = torch.tensor(res.phi, dtype=torch.float64)
        mid = [0.5 * (a + b) for a, b in zip(res.loss_plus, res.loss_minus)]
        at_x = res.loss_at_x if res.loss_at_x is not None else sum(mid) / len(mid)
        fo_grad = sum(grads) / len(grads) if grads else None
        return v, ZOEstimate(grad=None, phi=phi, u=None, loss_at_x=torch.tensor(at_x), fo_grad=fo_grad)

    return step_fn


def _check_objective(objective, config: HybridSGDConfig) -> None:
    if not hasattr(objective, "x_layout"):
        raise UsageError("train_model needs a torch-model objective (ModuleObjective); synthetic problems "
                         "run batched with optim.run_hybrid_sgd")
    # the in-place step adds mu * u to the weights in their own dtype; |u_i| reaches ~6 for a Gaussian draw
    # of a few million coordinates, so mu must leave that representable
    top = torch.finfo(objective.dtype).max
    if "zo" in config.modes and config.mu * 100 > top:
        raise UsageError(f"--mu {config.mu:g} overflows {str(objective.dtype).replace('torch.', '')} (max "
                         f"{top:.3g}): the perturbation mu * u of the weights cannot be represented")
    if config.fo_point != "clean" and (config.update != "jacobi" or config.form == "forward"):
        raise UsageError(f"fo_point {config.fo_point!r} on a torch model takes the adapter gradient inside the "
                         "in-place ZO step: it needs the Jacobi update and a two-sided ZO form (central or spsa)")


def _default_evaluate(objective, limit: int | None):
    if not hasattr(objective, "splits"):
        return None
    from ..objectives.llm import evaluate

    return lambda obj: evaluate(obj, obj.x, obj.y, split="dev", limit=limit)


def _changed_blocks(config: HybridSGDConfig) -> tuple[str, ...]:
    return tuple(b for b, mode in zip("xy", config.modes) if mode != "frozen")


def _save_checkpoint(folder: RunFolder, objective, config: HybridSGDConfig, next_step: int, steps: list,
                     evals: list, first_loss: float | None) -> None:
    state = {
        "next_step": next_step,
        "run_hash": folder.config["run_hash"],
        "optimizer": dataclasses.asdict(config),
        "blocks": {b: getattr(objective, b).detach().clone() for b in _changed_blocks(config)},
        "steps": steps, "evals": evals, "first_loss": first_loss,
        # nothing in the loop draws from the global generator; kept so that user code around it can resume too
        "torch_rng": torch.get_rng_state(),
        "spec": getattr(objective, "spec", ""),
    }
    write_atomic(folder.path / CHECKPOINT_FILE, save=lambda tmp: torch.save(state, tmp))
    _write_tables(folder, steps, evals)


def _write_tables(folder: RunFolder, steps: list, evals: list) -> None:
    folder.write_table(METRICS_FILE, pd.DataFrame(steps, columns=list(STEP_COLUMNS)))
    folder.write_table(EVALS_FILE, pd.DataFrame(evals, columns=list(EVAL_COLUMNS)))


def _load_checkpoint(folder: RunFolder, expected_hash: str, objective) -> dict:
    path = folder.path / CHECKPOINT_FILE
    if not path.is_file():
        raise UsageError(f"nothing to resume: {path} does not exist (the run was written without checkpoints; "
                         "give --checkpoint-every to make resumable runs)")
    state = torch.load(path, map_location=objective.device, weights_only=False)
    if state.get("run_hash") != expected_hash:
        raise UsageError(f"{path} belongs to another run than {folder.path / 'config.json'}; "
                         "start again with --overwrite")
    # the run hash covers the problem spec and the optimizer config: nothing else needs comparing
    with torch.no_grad():
        for b, value in state["blocks"].items():
            getattr(objective, b).copy_(value)
    return state


def train_model(objective, config: HybridSGDConfig, run: ModelRunConfig, *, out_dir=None, resume: bool = False,
                overwrite: bool = False, evaluate: Callable[[object], dict] | None = None,
                progress: bool = False) -> ModelRunResult:
    """Train ``objective`` (a ModuleObjective) for ``run.steps`` steps of THEORY 2.1 (see the module docstring).

    ``evaluate(objective) -> {"loss", "accuracy"}`` is called at the start, every ``run.eval_every`` steps and
    at the end (default for the LLM objectives: dev loss and accuracy). ``out_dir`` (a path, or a
    ``RunFolder`` the caller opened) must be empty unless ``resume`` (the same run, from its checkpoint;
    ``run.steps`` may extend it) or ``overwrite``.
    Raises ``RunInterrupted`` after saving when the user stops the run.
    """
    _check_objective(objective, config)
    if (resume or run.checkpoint_every) and out_dir is None:
        raise UsageError("checkpoints and --resume need an output folder")
    if isinstance(out_dir, RunFolder):   # opened (and locked) by the caller, which releases it
        return _train_in_folder(objective, config, run, out_dir, out_dir.resume, evaluate, progress)
    folder = None
    if out_dir is not None:
        folder = open_run_folder(out_dir, resume=resume, overwrite=overwrite)
    try:
        return _train_in_folder(objective, config, run, folder, resume, evaluate, progress)
    finally:
        if folder is not None:
            folder.release()


def _train_in_folder(objective, config: HybridSGDConfig, run: ModelRunConfig, folder: RunFolder | None,
                     resume: bool, evaluate, progress: bool) -> ModelRunResult:
    evaluate = evaluate or _default_evaluate(objective, run.eval_limit)
    n = objective.n
    steps: list[tuple] = []
    evals: list[tuple] = []
    start_step, first_loss = 0, None
    if folder is not None:
        record = run_config_record(problem=getattr(objective, "spec", ""), config=config, seeds=None,
                                   objective=objective)
        record["model_run"] = dataclasses.asdict(run)
        if resume:   # check everything before the stored config is touched
            state = _load_checkpoint(folder, folder.check_resume(record), objective)
            if run.steps < state["next_step"]:
                raise UsageError(f"--steps {run.steps} is below the {state['next_step']} steps the run in "
                                 f"{folder.path} already holds: give --steps >= {state['next_step']}")
            start_step, steps, evals, first_loss = (state["next_step"], list(state["steps"]), list(state["evals"]),
                                                    state["first_loss"])
        folder.start(record)

    def do_eval(step: int, seconds: float) -> None:
        if evaluate is not None:
            res = evaluate(objective)
            evals.append((step, float(res["loss"]), float(res["accuracy"]), seconds))

    diverged, interrupted, reason = False, False, ""
    completed = start_step
    elapsed = sum(r[-1] for r in steps)
    bar = None
    try:
        with deferred_interrupt() as stop:
            if start_step == 0 and not evals:
                do_eval(0, 0.0)
            iterator = range(start_step, run.steps)
            if progress:
                from tqdm import tqdm

                bar = tqdm(iterator, desc=config.method, unit="step", initial=start_step, total=run.steps,
                           leave=False)
                iterator = bar
            order_epoch, order = None, None
            for s in iterator:
                if stop.requested:
                    interrupted = True
                    break
                t, k = divmod(s, n)
                if order_epoch != t:
                    order = sample_orders(config.order, n=n, epoch=t, run_seed=config.seed, batch=1)[0]
                    order_epoch = t
                idx = int(order[k])
                loss, seconds, phi, gy_norm = _one_step(objective, config, run, idx, t, k)
                elapsed += seconds
                steps.append((s, t, k, idx, loss, phi, gy_norm, config.eta_x, config.eta_y, seconds))
                completed = s + 1
                if first_loss is None:
                    first_loss = abs(loss) if loss != 0 else 1.0
                if bar is not None:
                    bar.set_postfix(loss=f"{loss:.4g}", s_per_step=f"{seconds:.2f}")
                if not math.isfinite(loss) or loss > run.divergence_factor * first_loss:
                    diverged = True
                    reason = (f"diverged at step {s}: loss {loss:.4g} is "
                              f"{'not finite' if not math.isfinite(loss) else f'above {run.divergence_factor:g} x the first step loss {first_loss:.4g}'}")
                    break
                if run.eval_every and completed % run.eval_every == 0 and completed < run.steps:
                    do_eval(completed, elapsed)
                if (folder is not None and run.checkpoint_every and completed % run.checkpoint_every == 0
                        and completed < run.steps):
                    _save_checkpoint(folder, objective, config, completed, steps, evals, first_loss)
    except BaseException:
        # a crash or a second Ctrl-C inside a step: the weights may sit at a perturbed point, so no
        # checkpoint, but the records so far are kept
        if folder is not None:
            _write_tables(folder, steps, evals)
        raise
    finally:
        if bar is not None:
            bar.close()
    if interrupted:
        if folder is not None:
            _save_checkpoint(folder, objective, config, completed, steps, evals, first_loss)
            raise RunInterrupted(f"interrupted after step {completed} of {run.steps}: the records and a checkpoint "
                                 f"are in {folder.path}; add --resume to the same command to continue")
        raise RunInterrupted(f"interrupted after step {completed} of {run.steps}")
    if not diverged and completed == run.steps and (not evals or evals[-1][0] != completed):
        do_eval(completed, elapsed)
    diagnosis = _diagnosis(objective, config, n, diverged, reason, completed)
    step_frame = pd.DataFrame(steps, columns=list(STEP_COLUMNS))
    eval_frame = pd.DataFrame(evals, columns=list(EVAL_COLUMNS))
    if folder is not None:
        if run.checkpoint_every or diverged:
            _save_checkpoint(folder, objective, config, completed, steps, evals, first_loss)
        # a diverged run's last evaluation is from before it diverged: it is not the run's final dev loss
        last_eval = evals[-1] if evals and evals[-1][0] == completed else None
        summary = {"method": config.method, "steps": completed, "diverged": diverged, "diagnosis": diagnosis,
                   "seconds": elapsed, "final_train_loss": steps[-1][4] if steps else None,
                   "final_dev_loss": last_eval[1] if last_eval else None,
                   "final_dev_accuracy": last_eval[2] if last_eval else None,
                   "last_eval_step": evals[-1][0] if evals else None}
        folder.finish(step_frame, summary, {EVALS_FILE: eval_frame})
    return ModelRunResult(steps=step_frame, evals=eval_frame, diverged=diverged, diagnosis=diagnosis,
                          completed_steps=completed, out_dir=None if folder is None else folder.path)


def _one_step(objective, config: HybridSGDConfig, run: ModelRunConfig, idx: int, t: int, k: int):
    """One optimizer step on sample ``idx`` (epoch t, step k), in place: (loss, seconds, phi, ||grad_y||)."""
    info: dict = {}
    zo_fn = inplace_zo_block_step(objective, noise_mode=run.noise_mode, run_seed=config.seed, epoch=t, step=k,
                                  fo_point=config.fo_point, idx=idx)
    has_zo = "zo" in config.modes
    if not has_zo:   # a logging forward at the step's start point, outside the timed step
        with torch.no_grad():
            loss = float(objective.loss(objective.x, objective.y, idx))
    t0 = time.perf_counter()
    try:
        x_new, y_new = hybrid_step(objective, objective.x, objective.y, idx, config,
                                   zo_generator(config.seed, t, k, objective.device), zo_block_step=zo_fn,
                                   info=info)
    except RuntimeError as err:
        if "overflow" not in str(err):
            raise
        # an update too large for the weights' dtype: the run has diverged
        return float("inf"), time.perf_counter() - t0, float("nan"), float("nan")
    with torch.no_grad():   # FO updates come back out of place: write them into the live weights
        if x_new is not objective.x:
            objective.x.copy_(x_new)
        if y_new is not objective.y:
            objective.y.copy_(y_new)
    seconds = time.perf_counter() - t0
    est = info.get("zo_x") or info.get("zo_y")
    if has_zo:   # f_i at the start point: (L+ + L-)/2 = f_i + O(mu^2) for the two-sided forms
        loss = float(est.loss_at_x)
    phi = float(est.phi.mean()) if est is not None else float("nan")
    gy = info.get("grad_y")
    gy_norm = float(torch.linalg.vector_norm(gy.double())) if gy is not None else float("nan")
    return loss, seconds, phi, gy_norm


def _diagnosis(objective, config: HybridSGDConfig, n: int, diverged: bool, reason: str, completed: int) -> str:
    limits = step_limits(objective.constants, modes=config.modes, eta_x=config.eta_x, eta_y=config.eta_y,
                         d_x=objective.d_x, d_y=objective.d_y, n=n, q=config.q)
    if not diverged:
        return f"no divergence in {completed} steps"
    if limits:
        return reason + "; " + "; ".join(lim.describe() for lim in limits if lim.exceeded)
    return (reason + "; the smoothness constants of this model are unknown: estimate L_x and L_y "
            "(hybridsmooth estimate) and compare eta_x with 2/(L_x (d_x + 2)) and eta_y with 2/L_y")
