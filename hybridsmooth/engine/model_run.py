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
run seed and the position, so no generator state needs restoring).
"""
from __future__ import annotations

import dataclasses
import math
import os
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
from .rundir import METRICS_FILE, write_atomic, run_config_record, write_run

CHECKPOINT_FILE, EVALS_FILE = "checkpoint.pt", "evals.csv"
STEP_COLUMNS = ("step", "epoch", "k", "sample", "loss", "zo_phi", "grad_y_norm", "eta_x", "eta_y", "seconds")
EVAL_COLUMNS = ("step", "dev_loss", "dev_accuracy", "seconds")
# optimizer fields that must agree between a checkpoint and the run that resumes it
_RESUME_KEYS = ("method", "eta_x", "eta_y", "order", "update", "fo_point", "form", "mu", "q", "seed")


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


def _save_checkpoint(out: Path, objective, config: HybridSGDConfig, next_step: int, steps: list, evals: list,
                     first_loss: float | None) -> None:
    state = {
        "next_step": next_step,
        "optimizer": dataclasses.asdict(config),
        "blocks": {b: getattr(objective, b).detach().clone() for b in _changed_blocks(config)},
        "steps": steps, "evals": evals, "first_loss": first_loss,
        # nothing in the loop draws from the global generator; kept so that user code around it can resume too
        "torch_rng": torch.get_rng_state(),
        "spec": getattr(objective, "spec", ""),
    }
    tmp = out / f".{CHECKPOINT_FILE}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, out / CHECKPOINT_FILE)
    _write_tables(out, steps, evals)


def _write_tables(out: Path, steps: list, evals: list) -> None:
    write_atomic(out / METRICS_FILE, pd.DataFrame(steps, columns=list(STEP_COLUMNS)).to_csv(index=False))
    write_atomic(out / EVALS_FILE, pd.DataFrame(evals, columns=list(EVAL_COLUMNS)).to_csv(index=False))


def _load_checkpoint(out: Path, objective, config: HybridSGDConfig) -> dict:
    path = out / CHECKPOINT_FILE
    if not path.is_file():
        raise UsageError(f"nothing to resume: {path} does not exist")
    state = torch.load(path, map_location=objective.device, weights_only=False)
    saved = state["optimizer"]
    diff = [k for k in _RESUME_KEYS if saved.get(k) != getattr(config, k)]
    if diff:
        raise UsageError("the checkpoint was written with a different optimizer config: " + ", ".join(
            f"{k}={saved.get(k)!r} there, {getattr(config, k)!r} here" for k in diff))
    if state.get("spec") != getattr(objective, "spec", ""):
        raise UsageError(f"the checkpoint is for {state.get('spec')!r}, not {getattr(objective, 'spec', '')!r}")
    with torch.no_grad():
        for b, value in state["blocks"].items():
            getattr(objective, b).copy_(value)
    return state


def train_model(objective, config: HybridSGDConfig, run: ModelRunConfig, *, out_dir=None, resume: bool = False,
                evaluate: Callable[[object], dict] | None = None, progress: bool = False) -> ModelRunResult:
    """Train ``objective`` (a ModuleObjective) for ``run.steps`` steps of THEORY 2.1 (see the module docstring).

    ``evaluate(objective) -> {"loss", "accuracy"}`` is called at the start, every ``run.eval_every`` steps and
    at the end (default for the LLM objectives: dev loss and accuracy).
    """
    _check_objective(objective, config)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    if (resume or run.checkpoint_every) and out is None:
        raise UsageError("checkpoints and --resume need an output folder")
    evaluate = evaluate or _default_evaluate(objective, run.eval_limit)
    n = objective.n
    steps: list[tuple] = []
    evals: list[tuple] = []
    start_step, first_loss = 0, None
    if resume:
        state = _load_checkpoint(out, objective, config)
        start_step, steps, evals, first_loss = (state["next_step"], list(state["steps"]), list(state["evals"]),
                                                state["first_loss"])
    if out is not None:
        record = run_config_record(problem=getattr(objective, "spec", ""), config=config, seeds=None,
                                   objective=objective)
        record["model_run"] = dataclasses.asdict(run)

    def do_eval(step: int, seconds: float) -> None:
        if evaluate is not None:
            res = evaluate(objective)
            evals.append((step, float(res["loss"]), float(res["accuracy"]), seconds))

    if start_step == 0 and not evals:
        do_eval(0, 0.0)
    diverged, reason = False, ""
    iterator = range(start_step, run.steps)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(iterator, desc=config.method, unit="step", initial=start_step, total=run.steps, leave=False)
        iterator = bar
    order_epoch, order = None, None
    elapsed = sum(r[-1] for r in steps)
    completed = start_step
    for s in iterator:
        t, k = divmod(s, n)
        if order_epoch != t:
            order = sample_orders(config.order, n=n, epoch=t, run_seed=config.seed, batch=1)[0]
            order_epoch = t
        idx = int(order[k])
        info: dict = {}
        zo_fn = inplace_zo_block_step(objective, noise_mode=run.noise_mode, run_seed=config.seed, epoch=t, step=k,
                                      fo_point=config.fo_point, idx=idx)
        has_zo = "zo" in config.modes
        if not has_zo:   # a logging forward at the step's start point, outside the timed step
            with torch.no_grad():
                loss = float(objective.loss(objective.x, objective.y, idx))
        t0 = time.perf_counter()
        x_new, y_new = hybrid_step(objective, objective.x, objective.y, idx, config,
                                   zo_generator(config.seed, t, k, objective.device), zo_block_step=zo_fn, info=info)
        with torch.no_grad():   # FO updates come back out of place: write them into the live weights
            if x_new is not objective.x:
                objective.x.copy_(x_new)
            if y_new is not objective.y:
                objective.y.copy_(y_new)
        seconds = time.perf_counter() - t0
        elapsed += seconds
        est = info.get("zo_x") or info.get("zo_y")
        if has_zo:   # f_i at the start point: (L+ + L-)/2 = f_i + O(mu^2) for the two-sided forms
            loss = float(est.loss_at_x)
        phi = float(est.phi.mean()) if est is not None else float("nan")
        gy = info.get("grad_y")
        gy_norm = float(torch.linalg.vector_norm(gy.double())) if gy is not None else float("nan")
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
        if run.checkpoint_every and completed % run.checkpoint_every == 0 and completed < run.steps:
            _save_checkpoint(out, objective, config, completed, steps, evals, first_loss)
    if bar is not None:
        bar.close()
    if not diverged and completed == run.steps and (not evals or evals[-1][0] != completed):
        do_eval(completed, elapsed)
    limits = step_limits(objective.constants, modes=config.modes, eta_x=config.eta_x, eta_y=config.eta_y,
                         d_x=objective.d_x, d_y=objective.d_y, n=n, q=config.q)
    if not diverged:
        diagnosis = f"no divergence in {completed} steps"
    elif limits:
        diagnosis = reason + "; " + "; ".join(lim.describe() for lim in limits if lim.exceeded)
    else:
        diagnosis = (reason + "; the smoothness constants of this model are unknown: estimate L_x and L_y "
                     "(hybridsmooth estimate) and compare eta_x with 2/(L_x (d_x + 2)) and eta_y with 2/L_y")
    step_frame = pd.DataFrame(steps, columns=list(STEP_COLUMNS))
    eval_frame = pd.DataFrame(evals, columns=list(EVAL_COLUMNS))
    if out is not None:
        if run.checkpoint_every or diverged:
            _save_checkpoint(out, objective, config, completed, steps, evals, first_loss)
        summary = {"method": config.method, "steps": completed, "diverged": diverged, "diagnosis": diagnosis,
                   "seconds": elapsed, "final_train_loss": steps[-1][4] if steps else None,
                   "final_dev_loss": evals[-1][1] if evals else None,
                   "final_dev_accuracy": evals[-1][2] if evals else None}
        write_run(out, record, step_frame, summary)
        _write_tables(out, steps, evals)
    return ModelRunResult(steps=step_frame, evals=eval_frame, diverged=diverged, diagnosis=diagnosis,
                          completed_steps=completed, out_dir=out)
