"""Execute a ``RunDescription``: the one entry point of ``hybridsmooth train``, the figures and sweeps."""

from __future__ import annotations

import torch

from .. import validate
from ..objectives.base import Objective
from .run_description import RunDescription
from .rundir import RunFolder, open_run_folder

# a batched step holds the point, the q directions and a few temporaries per seed
WORKING_COPIES = 8


def execute(
    description: RunDescription,
    *,
    folder=None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    objective: Objective | None = None,
    evaluate=None,
):
    """Run ``description`` and return its result: a synthetic problem's ``RunResult`` (all seeds batched), a
    torch model's ``ModelRunResult``.

    ``folder`` is a run folder path (refused when it holds a run, unless ``resume`` continues that same run
    or ``overwrite`` replaces it), a ``RunFolder`` the caller opened, or None (nothing is written).
    ``objective``: the objective of ``description.problem`` when the caller has it loaded already (a model
    reset to its start point); built from the spec otherwise. ``evaluate``: a model run's dev evaluation
    (``engine.model_run.train_model``).
    """
    if objective is None:
        from ..problems import make_problem

        objective = make_problem(description.problem)
    if description.is_model:
        from .model_run import train_model

        return train_model(
            objective,
            description,
            out_dir=folder,
            resume=resume,
            overwrite=overwrite,
            evaluate=evaluate,
            progress=progress,
        )
    check_batch_memory(objective, description.seed_arg, description.optimizer.q)
    if folder is None:
        from ..optim.batched_run import run_hybrid_sgd

        if resume:
            raise ValueError("resume needs a run folder")
        return run_hybrid_sgd(objective, description.optimizer, seeds=description.seed_arg, progress=progress)
    from .synthetic_run import train_synthetic

    if isinstance(folder, RunFolder):  # opened (and locked) by the caller, which releases it
        return train_synthetic(objective, description, folder=folder, progress=progress)[0]
    with open_run_folder(folder, resume=resume, overwrite=overwrite) as opened:
        return train_synthetic(objective, description, folder=opened, progress=progress)[0]


def check_batch_memory(objective: Objective, seeds, q: int) -> None:
    """Refuse a batch of seeds whose working set cannot fit in memory, before allocating any of it."""
    count = seeds if isinstance(seeds, int) else len(seeds)
    itemsize = torch.empty((), dtype=objective.dtype).element_size()
    validate.check_allocation(
        count * (q + WORKING_COPIES) * (objective.d_x + objective.d_y),
        itemsize,
        f"{count} seeds x (q={q} directions + {WORKING_COPIES} working copies) x d={objective.d_x + objective.d_y}",
    )
