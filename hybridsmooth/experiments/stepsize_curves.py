"""Loss curves of the step-size figures (Fig 2, Fig 4): a seed-mean running-mean loss with its min..max band
and a mark where a run diverged, on a linear loss axis fitted to the stable curves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import style


def loss_curve(ax, steps: pd.DataFrame, *, top: float, color, label, lw=1.6, ls="-", zorder=2) -> None:
    """Mean running-mean loss over seeds with a min..max band; the steps every seed reached (a diverged seed
    ends the curve) and an x where a run diverged, held at the top edge ``top`` when off the scale."""
    by_step = steps.groupby("step").loss_smoothed
    n_seeds = steps.seed.nunique()
    common = by_step.count() == n_seeds
    mean, lo, hi = by_step.mean()[common], by_step.min()[common], by_step.max()[common]
    x = mean.index.to_numpy() + 1
    ax.plot(x, mean.to_numpy(), ls, color=color, lw=lw, label=label, zorder=zorder)
    if n_seeds > 1:
        ax.fill_between(x, lo.to_numpy(), hi.to_numpy(), color=color, alpha=style.SPREAD_ALPHA, lw=0, zorder=zorder)
    if steps.diverged.any() and len(x):
        last = float(mean.iloc[-1])
        ax.plot(
            x[-1],
            last if np.isfinite(last) and last < top else top,
            "x",
            color=color,
            ms=10,
            mew=2.5,
            zorder=zorder + 1,
            clip_on=False,
        )


def loss_limits(steps: pd.DataFrame) -> tuple[float, float]:
    """A linear loss axis around the curves that stay below 1.5x the start: the differences that matter are
    small; curves that leave the top are the unstable ones (their size is in the legend or heat map)."""
    start = float(steps[steps.step == steps.step.min()].loss.mean())
    kept = steps.loss_smoothed[np.isfinite(steps.loss_smoothed) & (steps.loss_smoothed <= 1.5 * start)]
    lo, hi = (float(kept.min()), float(kept.max())) if len(kept) else (0.0, start)
    pad = 0.08 * max(hi - lo, 1e-3 * start)
    return lo - pad, hi + 2 * pad


def final_loss_text(final: float) -> str:
    """A legend's 'final 0.634' for a seed-mean final loss, or 'diverged' when a seed diverged (nan)."""
    return "diverged" if not np.isfinite(final) else f"final {final:.3g}"


def running_loss_label(window: int) -> str:
    return f"training loss (cross-entropy, running mean over {window} steps)"


def runs_caption(runs: pd.DataFrame) -> str:
    """The end of a step-size figure's title: steps, seeds, what the band and the x marks show."""
    n_seeds = runs.seed.nunique()
    return (
        f"{int(runs.steps.max())} steps, {n_seeds} seed{'s' if n_seeds > 1 else ''}"
        + (" (mean, band = min..max)" if n_seeds > 1 else "")
        + "; x = diverged run"
    )
