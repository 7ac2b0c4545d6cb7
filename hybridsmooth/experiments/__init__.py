"""Figures as experiments: ``EXPERIMENTS`` maps a figure name to its ``Experiment`` (config -> CSV tables ->
plot): the paper's seven figures (THEORY 8) rebuilt at small scale, and four theory figures the paper lacks."""

from __future__ import annotations

from . import paper_curvature, paper_stepsizes, paper_training, theory_figures
from .registry import Experiment, select, validate_config

# the paper's figures (THEORY 8), rebuilt at small scale, in the paper's order
_PAPER_EXPERIMENTS = sorted(
    (*paper_curvature.EXPERIMENTS, *paper_stepsizes.EXPERIMENTS, *paper_training.EXPERIMENTS),
    key=lambda e: int(e.name[3:]),
)

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (*_PAPER_EXPERIMENTS, *theory_figures.EXPERIMENTS)}

__all__ = ["EXPERIMENTS", "Experiment", "select", "validate_config"]
