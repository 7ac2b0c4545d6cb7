"""Reshuffling hybrid SGD, its baselines, sample orders and step-size limits."""
from .hybrid_sgd import (METHODS, HybridSGDConfig, RunResult, fo_block_gradient, hybrid_step, run_hybrid_sgd,
                         summarize_run, zo_step)
from .limits import StepLimit, diagnose, step_limits
from .orders import ORDERS, sample_orders

__all__ = ["METHODS", "ORDERS", "HybridSGDConfig", "RunResult", "StepLimit", "diagnose", "fo_block_gradient",
           "hybrid_step", "run_hybrid_sgd", "sample_orders", "step_limits", "summarize_run", "zo_step"]
