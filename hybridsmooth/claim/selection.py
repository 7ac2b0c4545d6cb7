"""Step-size selection on the dev split, and the theory's step-size limits beside the grid's stable range.

The rule (MeZO's, which keeps the best dev checkpoint): among a method's grid points on the tuning seed, the
runs that did not diverge; the one whose best dev accuracy along the run is highest, ties broken by the lower
dev loss at that evaluation. The test split is never read.
"""

from __future__ import annotations

import math

import pandas as pd

from ..errors import UsageError

RULE = (
    "highest best-along-the-run dev accuracy on the tuning seed among runs that did not diverge; ties: lower dev "
    "loss at that evaluation"
)


def select(tuning: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """``tuning``: one row per tuning run (method, eta_x, eta_y, mu, diverged, best_dev_accuracy,
    best_dev_loss). Returns ({method: setting}, the table with a ``selected`` column)."""
    table = tuning.copy()
    table["selected"] = False
    chosen = {}
    for method, rows in table.groupby("method", sort=False):
        ok = rows[~rows["diverged"].astype(bool) & rows["best_dev_accuracy"].notna()]
        if ok.empty:
            raise UsageError(
                f"every grid point of {method} diverged or has no final evaluation on the tuning seed: "
                "lower its step sizes"
            )
        best = ok.sort_values(["best_dev_accuracy", "best_dev_loss"], ascending=[False, True]).index[0]
        table.loc[best, "selected"] = True
        chosen[method] = {k: float(table.loc[best, k]) for k in ("eta_x", "eta_y", "mu")}
    return chosen, table


def _block_modes(method: str) -> tuple[str, str]:
    from ..optim.hybrid_sgd import METHODS

    return METHODS[method]


def theory_limit(mode: str, L: float, d: int) -> float:
    """The step-size limit THEORY gives a block: 2/(L (d + 2)) for a ZO block (mean-square stability of
    the Gaussian estimator), 2/L for an FO block."""
    if not (L > 0 and math.isfinite(L)):
        return math.nan
    return 2.0 / (L * (d + 2)) if mode == "zo" else 2.0 / L


def zo_descent_bound(trace: float, L: float) -> float:
    """2 / (tr H + 2 L): a Gaussian ZO step of size eta below it lowers f in expectation on the local quadratic.
    With g = (u^T grad f) u, u ~ N(0, I), E[g^T H g] = ||grad f||^2 tr H + 2 grad f^T H grad f (Isserlis), so the
    expected change -eta ||grad f||^2 + eta^2 / 2 E[g^T H g] is negative for eta < 2 ||grad f||^2 / E[g^T H g],
    which is at least this bound when grad f^T H grad f <= L ||grad f||^2. THEORY's 2/(L (d + 2)) is the same
    bound with the worst case d L in place of tr H. A one-step condition at one point, not a stability
    theorem. Infinite when tr H + 2 L <= 0 (an indefinite H whose trace outweighs it: the local quadratic
    then sets no limit); NaN when a constant is missing."""
    if not (math.isfinite(trace) and math.isfinite(L)):
        return math.nan
    return 2.0 / (trace + 2 * L) if trace + 2 * L > 0 else math.inf


def step_size_table(selection: pd.DataFrame, constants: dict) -> pd.DataFrame:
    """Per method and moving block: the grid's values, its stable range (largest value that never diverged,
    smallest that did), the selected value and the theory's limit from the measured constants
    (``constants``: L_x, L_y with their residuals, d_x, d_y; Lanczos lower bounds, so the limits are upper
    bounds of the true limits), and for a ZO block the descent bound 2/(tr H + 2 L) where the constants hold
    the block's trace (``zo_descent_bound``)."""
    rows = []
    for method, runs in selection.groupby("method", sort=False):
        for block, mode in zip("xy", _block_modes(method)):
            if mode == "frozen":
                continue
            col = f"eta_{block}"
            stable = runs[~runs["diverged"].astype(bool)][col]
            diverged = runs[runs["diverged"].astype(bool)][col]
            picked = runs[runs["selected"]][col]
            L = constants.get(f"L_{block}", math.nan)
            limit = theory_limit(mode, L, constants.get(f"d_{block}", 0))
            value = float(picked.iloc[0]) if len(picked) else math.nan
            rows.append(
                {
                    "method": method,
                    "block": block,
                    "estimator": mode.upper(),
                    "grid": " ".join(f"{v:g}" for v in sorted(runs[col].unique())),
                    "largest_stable": float(stable.max()) if len(stable) else math.nan,
                    "smallest_diverged": float(diverged.min()) if len(diverged) else math.nan,
                    "selected": value,
                    f"L_{block}": L,
                    "theory_limit": limit,
                    "limit_formula": "2/(L_x (d_x+2))".replace("x", block) if mode == "zo" else f"2/L_{block}",
                    "selected_over_limit": value / limit if limit > 0 else math.nan,
                    "descent_bound": (
                        zo_descent_bound(float(constants.get(f"tr_{block}", math.nan)), L) if mode == "zo" else math.nan
                    ),
                }
            )
    return pd.DataFrame(rows)
