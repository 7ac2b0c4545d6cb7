"""Reshuffling hybrid SGD, its baselines, sample orders, per-seed random streams and step-size limits."""
from .hybrid_sgd import (METHODS, HybridSGDConfig, RunResult, fo_block_gradient, hybrid_step, run_hybrid_sgd,
                         summarize_run, zo_step)
from .limits import StepLimit, diagnose, step_limits
from .orders import ORDERS, sample_orders
from ..rng import SeedStreams, as_seed_indices

__all__ = ["METHODS", "ORDERS", "HybridSGDConfig", "RunResult", "SeedStreams", "StepLimit", "as_seed_indices",
           "diagnose", "fo_block_gradient", "hybrid_step", "run_hybrid_sgd", "sample_orders", "step_limits",
           "summarize_run", "zo_step"]
