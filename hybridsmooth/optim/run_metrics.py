"""What a run of ``run_hybrid_sgd`` records and reports: per-epoch metrics of every seed, the divergence
threshold, the finished run and its summary over seeds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..objectives.base import Objective, block_norms
from .limits import StepLimit

if TYPE_CHECKING:
    from .hybrid_sgd import HybridSGDConfig

METRIC_COLUMNS: tuple[str, ...] = (
    "seed",
    "epoch",
    "loss",
    "grad_x_norm",
    "grad_y_norm",
    "grad_norm",
    "eta_x",
    "eta_y",
    "seconds",
)


@dataclass(frozen=True, eq=False)
class RunResult:
    """A finished run: tidy per-epoch ``metrics`` (columns ``METRIC_COLUMNS``), the final point, the epoch
    at which each seed diverged (None if it did not), the known step-size limits and the diagnosis."""

    config: HybridSGDConfig
    metrics: pd.DataFrame
    x: Tensor
    y: Tensor
    diverged_epoch: tuple[int | None, ...]
    limits: tuple[StepLimit, ...]
    diagnosis: str
    seeds: int | tuple[int, ...] | None
    seconds: float

    @property
    def diverged(self) -> bool:
        return any(e is not None for e in self.diverged_epoch)

    def to_frame(self) -> pd.DataFrame:
        """The per-epoch metrics (one row per seed and epoch) with the run's configuration as columns."""
        table = self.metrics.copy()
        for name, value in dataclasses.asdict(self.config).items():
            if name not in table.columns:
                table[name] = value
        return table


def full_metrics(objective: Objective, x: Tensor, y: Tensor) -> tuple[Tensor, ...]:
    """f(z) and the exact full-gradient block norms, flattened to one value per seed."""
    loss = objective.loss(x, y, None)
    gx, gy = objective.grad(x, y, None)
    nx, ny, nz = block_norms(gx, gy)
    return tuple(v.detach().reshape(-1).to(torch.float64).cpu() for v in (loss, nx, ny, nz))


def divergence_threshold(start_loss: Tensor, factor: float) -> Tensor:
    # "factor times the start loss"; a start at loss 0 (already at the minimum) falls back to factor.
    scale = start_loss.abs()
    return factor * torch.where(scale > 0, scale, torch.ones_like(scale))


def metrics_frame(records, config: HybridSGDConfig, seed_ids) -> pd.DataFrame:
    """Tidy rows from the per-epoch records; ``rows`` masks select batch positions, reported by seed index."""
    seed_ids = np.asarray(seed_ids, dtype=np.int64)
    parts = []
    for t, rows, (loss, nx, ny, nz), secs in records:
        m = len(loss)
        parts.append(
            pd.DataFrame(
                {
                    "seed": seed_ids[rows],
                    "epoch": np.full(m, t),
                    "loss": loss,
                    "grad_x_norm": nx,
                    "grad_y_norm": ny,
                    "grad_norm": nz,
                    "eta_x": np.full(m, float(config.eta_x)),
                    "eta_y": np.full(m, float(config.eta_y)),
                    "seconds": np.full(m, secs),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(METRIC_COLUMNS))
    return frame.sort_values(["seed", "epoch"], kind="stable").reset_index(drop=True)


def summarize_run(result: RunResult) -> dict:
    """Final values per seed (the last recorded epoch of each) as mean and standard deviation over seeds."""
    m = result.metrics
    last = m.loc[m.groupby("seed")["epoch"].idxmax()]
    summary: dict = {
        "method": result.config.method,
        "seeds": int(len(last)),
        "epochs": int(result.config.epochs),
        "diverged_seeds": sum(e is not None for e in result.diverged_epoch),
        "diverged_epochs": list(result.diverged_epoch),
        "diagnosis": result.diagnosis,
        "seconds": float(result.seconds),
    }
    for col in ("loss", "grad_norm", "grad_x_norm", "grad_y_norm"):
        vals = last[col].to_numpy(dtype=float)
        summary[f"final_{col}_mean"] = float(np.mean(vals))
        summary[f"final_{col}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    summary["limits"] = [
        dict(block=l.block, kind=l.kind, name=l.name, formula=l.formula, value=l.value, eta=l.eta, exceeded=l.exceeded)
        for l in result.limits
    ]
    return summary
