"""What the two curvature figures (Fig 1, Fig 5) share: their config checks, problem strings, labels, and the
Lanczos block norms of one minibatch loss in the row form their tables use."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from ..curvature import block_constants
from ..errors import UsageError
from ..objectives.base import Objective
from . import paper_setup, style

ADAPTERS = ("lora", "prompt")
TASKS = ("sentiment", "topic")
ADAPTER_LABELS = {"lora": "LoRA (r=8, q,k,v,o)", "prompt": "soft prompt (10 tokens)"}
BLOCK_LABELS = {
    "x": r"$L_x = \|H_{xx}\|$ (full model, ZO)",
    "y": r"$L_y = \|H_{yy}\|$ (adapter, FO)",
    "xy": r"$L_{xy} = \sigma_{max}(H_{xy})$ (cross block)",
}
# x and y keep the colours they have in every figure (measured = red, second series = blue); the cross block is
# the third series and takes the neutral colour
BLOCK_COLORS = style.BLOCK_COLORS
RANDOM_INIT_MODELS = ("tiny-llama", "tiny-bert")
LANCZOS_TOL = 1e-3  # the relative residual a figure's solve stops at when its config predates "lanczos_rtol"
# the figures keep the Lanczos recurrence residual for the diagonal blocks: exact under the solver's full
# re-orthogonalisation, and it saves one explicit product per operator (a fifth of a quick figure's products);
# the cross block has always carried its explicit residual
FIGURE_RESIDUALS = {"xx": "lanczos", "yy": "lanczos", "xy": "explicit"}
FIGURE_BLOCK_NAMES = {"xx": "x", "yy": "y", "xy": "xy"}


def choices(config: Mapping, key: str, accepted: tuple[str, ...]) -> list[str]:
    v = config.get(key)
    if not isinstance(v, (list, tuple)) or not v or any(a not in accepted for a in v) or len(set(v)) != len(v):
        raise UsageError(
            f"config {key!r} must be a non-empty list of distinct names from {', '.join(accepted)}, got {v!r}"
        )
    return list(v)


def model_names(config: Mapping, key: str) -> list[str]:
    """Model names of ``llm_problem`` (minilm, smollm2, tiny-llama, tiny-bert) or checkpoint paths."""
    v = config.get(key)
    names = [v] if key == "model" else v
    if (
        not isinstance(names, (list, tuple))
        or not names
        or any(not isinstance(m, str) or not m or "," in m or "=" in m for m in names)
    ):
        raise UsageError(
            f"config {key!r} must name {'a model' if key == 'model' else 'a non-empty list of models'} "
            f"(minilm, smollm2, tiny-llama, tiny-bert or a checkpoint path without ',' or '='), got {v!r}"
        )
    return list(names)


def data_keys(config: Mapping) -> dict:
    """The data keys of the problem strings (``paper_setup`` defaults when absent or null)."""
    d = config.get("data")
    if d is None:
        return {}
    if not isinstance(d, Mapping) or any(not isinstance(k, str) for k in d):
        raise UsageError(
            f"config 'data' must be a mapping of llm problem keys (n_train, batch_size, ...) or null, got {d!r}"
        )
    return dict(d)


def figure_problem(model: str, adapter: str, task: str, data: dict) -> str:
    if data:
        return paper_setup.llm_problem(model, adapter, task, **data)
    return paper_setup.llm_problem(model, adapter, task)


def lanczos_rtol(config: Mapping) -> float:
    """The relative residual at which a figure's Lanczos solves stop (config "lanczos_rtol", in (0, 1))."""
    v = config.get("lanczos_rtol", LANCZOS_TOL)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
        raise UsageError(f"config 'lanczos_rtol' must be a number in (0, 1), got {v!r}")
    return float(v)


def figure_block_constants(
    objective: Objective,
    x: Tensor,
    y: Tensor,
    *,
    idx: int,
    iterations: int,
    seed: int = 0,
    cross: bool = True,
    rtol: float = LANCZOS_TOL,
) -> list[dict]:
    """One row per block (x, y and, with ``cross``, xy): ``curvature.block_constants`` of f_idx at (x, y) with
    at most ``iterations`` Lanczos steps, relative tolerance ``rtol`` and FIGURE_RESIDUALS, as
    {block, L, residual, iterations, hvps, converged, seconds}. Ritz values are lower bounds on the norms."""
    result = block_constants(
        objective,
        x,
        y,
        blocks=("xx", "yy", "xy") if cross else ("xx", "yy"),
        idx=idx,
        max_iter=iterations,
        tol=rtol,
        seed=seed,
        residuals=FIGURE_RESIDUALS,
        check=False,
    )
    return [
        {
            "block": FIGURE_BLOCK_NAMES[e.block],
            "L": e.estimate,
            "residual": e.residual,
            "iterations": e.iterations,
            "hvps": e.hvps,
            "converged": e.converged,
            "seconds": e.seconds,
        }
        for e in result.estimates
    ]
