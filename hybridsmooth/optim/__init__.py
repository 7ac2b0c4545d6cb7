"""Reshuffling hybrid SGD, its baselines, sample orders, the step schedule, per-seed random streams and step-size
limits."""

from ..rng import SeedStreams, as_seed_indices
from .batched_run import run_hybrid_sgd
from .hybrid_sgd import METHODS, HybridSGDConfig, fo_block_gradient, hybrid_step, zo_step
from .limits import StepLimit, diagnose, step_limits
from .orders import ORDERS, sample_orders
from .run_metrics import RunResult, summarize_run
from .schedule import ScheduledStep, epoch_schedule, step_schedule

__all__ = [
    "METHODS",
    "ORDERS",
    "HybridSGDConfig",
    "RunResult",
    "ScheduledStep",
    "SeedStreams",
    "StepLimit",
    "as_seed_indices",
    "diagnose",
    "epoch_schedule",
    "fo_block_gradient",
    "hybrid_step",
    "run_hybrid_sgd",
    "sample_orders",
    "step_limits",
    "step_schedule",
    "summarize_run",
    "zo_step",
]
