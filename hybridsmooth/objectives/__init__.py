"""Finite-sum objectives with a ZO block x and an FO block y."""

from .base import BLOCKS, Constants, FiniteSum, Objective, block_norms, broadcast_blocks, select_samples

__all__ = ["BLOCKS", "Constants", "FiniteSum", "Objective", "block_norms", "broadcast_blocks", "select_samples"]
