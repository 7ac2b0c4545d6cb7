"""The held-out splits of a model run beyond its dev evaluations: the test split at the end of the run and at
its best dev evaluation.

With a run's ``eval_test`` the loop keeps, at every dev evaluation that is the best so far (highest dev
accuracy, ties: the lower dev loss; the earliest of exact ties), a copy of the blocks the run changes
(``best_point``); at the end ``test_evaluations`` reads the test split at the final point and at that kept
point (MeZO's load-best-model-at-end), so that a noisy run is judged at the point the dev split would pick.
"""

from __future__ import annotations

import torch

from ..objectives.base import HeldOutSplits, Objective


def best_point(best: dict | None, objective: Objective, blocks, step: int, loss: float, accuracy: float) -> dict | None:
    """``best`` updated with the evaluation (step, loss, accuracy) at the objective's current point: a copy of
    ``blocks`` when it is better than ``best``, else ``best`` as it was."""
    if best is not None and (accuracy, -loss) <= (best["accuracy"], -best["loss"]):
        return best
    kept = {b: getattr(objective, b).detach().clone() for b in blocks}
    return {"step": step, "accuracy": accuracy, "loss": loss, "blocks": kept}


BEST_KEYS = ("best_dev_step", "best_dev_accuracy", "best_test_loss", "best_test_accuracy")


def test_evaluations(objective: Objective, best: dict | None) -> dict:
    """The test split's loss and accuracy at the final point and at the best dev evaluation (an objective
    without held-out splits has none)."""
    if not isinstance(objective, HeldOutSplits):
        return {}
    from ..objectives.llm import evaluate

    res = evaluate(objective, objective.x, objective.y, split="test")
    out = {"loss": float(res["loss"]), "accuracy": float(res["accuracy"])}
    if best is not None:
        # evaluate reads the blocks it is given: the live weights stay the final ones
        point = {b: best["blocks"].get(b, getattr(objective, b)) for b in "xy"}
        final = all(torch.equal(point[b], getattr(objective, b)) for b in "xy")
        # the best dev evaluation was the last one: the same point gives the same numbers, read once
        at_best = res if final else evaluate(objective, point["x"], point["y"], split="test")
        out.update(
            best_dev_step=best["step"],
            best_dev_accuracy=best["accuracy"],
            best_test_loss=float(at_best["loss"]),
            best_test_accuracy=float(at_best["accuracy"]),
        )
    return out
