"""Theorem R's step-size conditions (C1)-(C2) (THEORY 6.1): evaluate them at a pair of step sizes, require them,
and state the largest step sizes they allow per block, with which condition binds and why.

    (C1)  8 n Lt <= 1                      (C2)  96 (d_x + 1)/q * eta_x L_x <= 1,     Lt := max(eta_x L_x, eta_y L_y)

L_x, L_y in these formulas (THEORY's notation) are the (R1) constants Lambda_x, Lambda_y (THEORY 6.1), which every
function here takes as ``Lambda_x``, ``Lambda_y`` (not the block constants of ``Constants``); the numbers themselves
come from ``theory.caps``, which ``optim.limits`` shares. The bound B_R built on these conditions is in
``theory.bounds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .arguments import count, dim, pos
from .caps import CAP_RTOL, theorem_r_caps, theorem_r_lhs

__all__ = ["StepSizeConditions", "StepSizeCaps", "step_size_conditions", "require_step_sizes", "admissible_step_sizes"]


@dataclass(frozen=True)
class StepSizeConditions:
    """(C1)-(C2) evaluated at (eta_x, eta_y). Each ``*_lhs`` must be <= 1.

    c1x_lhs = 8 n eta_x L_x, c1y_lhs = 8 n eta_y L_y (their max is (C1)'s 8 n Lt), c2_lhs = 96 (d_x+1)/q eta_x L_x.
    ``binding`` names the largest left-hand side ("C1x", "C1y" or "C2"); ``margin`` = 1/max(lhs) is the factor
    by which both step sizes could grow (> 1: slack, < 1: violated).
    """

    eta_x: float
    eta_y: float
    c1x_lhs: float
    c1y_lhs: float
    c2_lhs: float
    binding: Literal["C1x", "C1y", "C2"]
    margin: float
    holds: bool

    def explanation(self) -> str:
        parts = [
            f"(C1) x: 8 n eta_x L_x = {self.c1x_lhs:.4g}",
            f"(C1) y: 8 n eta_y L_y = {self.c1y_lhs:.4g}",
            f"(C2): 96 (d_x+1)/q eta_x L_x = {self.c2_lhs:.4g}",
        ]
        state = "hold" if self.holds else "are violated"
        return f"conditions {state}; binding {self.binding} (margin {self.margin:.4g}); " + ", ".join(parts)


def step_size_conditions(
    eta_x: float, eta_y: float, *, n: int, d_x: int, Lambda_x: float, Lambda_y: float, q: int = 1
) -> StepSizeConditions:
    """Evaluate (C1)-(C2) (THEORY 6.1; q directions divide (d_x + 1) by q) and say which binds, by how much.
    ``Lambda_x``, ``Lambda_y`` here and in every function of this module are the (R1) constants (L_x, L_y in
    THEORY 6.1's formulas), not the block constants of (H1)-(H2)."""
    eta_x, eta_y = pos("eta_x", eta_x), pos("eta_y", eta_y)
    n, d_x, q = count("n", n), dim("d_x", d_x), count("q", q)
    Lambda_x, Lambda_y = pos("Lambda_x", Lambda_x), pos("Lambda_y", Lambda_y)
    lhs = theorem_r_lhs(eta_x, eta_y, n=n, d_x=d_x, Lambda_x=Lambda_x, Lambda_y=Lambda_y, q=q)
    binding = max(lhs, key=lhs.get)
    worst = lhs[binding]
    return StepSizeConditions(
        eta_x, eta_y, lhs["C1x"], lhs["C1y"], lhs["C2"], binding, 1.0 / worst, worst <= 1.0 + CAP_RTOL
    )


def require_step_sizes(
    eta_x: float, eta_y: float, *, n: int, d_x: int, Lambda_x: float, Lambda_y: float, q: int = 1
) -> StepSizeConditions:
    """Like ``step_size_conditions`` but raise ValueError naming every violated condition and its numbers."""
    cond = step_size_conditions(eta_x, eta_y, n=n, d_x=d_x, Lambda_x=Lambda_x, Lambda_y=Lambda_y, q=q)
    if not cond.holds:
        bad = []
        if cond.c1x_lhs > 1 + CAP_RTOL:
            bad.append(f"(C1) 8 n eta_x L_x = 8*{n}*{eta_x:.4g}*{Lambda_x:.4g} = {cond.c1x_lhs:.4g} > 1")
        if cond.c1y_lhs > 1 + CAP_RTOL:
            bad.append(f"(C1) 8 n eta_y L_y = 8*{n}*{eta_y:.4g}*{Lambda_y:.4g} = {cond.c1y_lhs:.4g} > 1")
        if cond.c2_lhs > 1 + CAP_RTOL:
            bad.append(
                f"(C2) 96 (d_x+1)/q eta_x L_x = 96*{d_x + 1}/{q}*{eta_x:.4g}*{Lambda_x:.4g} = {cond.c2_lhs:.4g} > 1"
            )
        raise ValueError("step sizes violate Theorem R: " + "; ".join(bad))
    return cond


@dataclass(frozen=True)
class StepSizeCaps:
    """The largest step sizes (C1)-(C2) allow, per block, and which condition sets each cap."""

    eta_x: float
    eta_y: float
    binding_x: Literal["C1", "C2"]
    binding_y: Literal["C1"]
    explanation: str


def admissible_step_sizes(Lambda_x: float, Lambda_y: float, n: int, d_x: int, q: int = 1) -> StepSizeCaps:
    """Caps eta_x <= 1/(L_x max(8n, 96(d_x+1)/q)) and eta_y <= 1/(8 n L_y) (THEORY 6.1, 6.4), L_b the (R1) Lambda_b
    (the arguments ``Lambda_x``, ``Lambda_y``).

    (C1) is separable in the blocks (Lt is a max), so the two caps can be chosen independently.
    """
    Lambda_x, Lambda_y = pos("Lambda_x", Lambda_x), pos("Lambda_y", Lambda_y)
    n, d_x, q = count("n", n), dim("d_x", d_x), count("q", q)
    caps = theorem_r_caps(n=n, d_x=d_x, Lambda_x=Lambda_x, Lambda_y=Lambda_y, q=q)
    c1x, c2x = caps.c1_factor, caps.c2_factor
    eta_x, eta_y = caps.eta_x, caps.eta_y
    if caps.binding_x == "C2":
        why_x = (
            f"eta_x <= {eta_x:.4g}: (C2) binds, 96 (d_x+1)/q = {c2x:.4g} > 8 n = {c1x:.4g} "
            "(the ZO variance, not the reshuffling drift, limits the x step)"
        )
    else:
        why_x = (
            f"eta_x <= {eta_x:.4g}: (C1) binds, 8 n = {c1x:.4g} >= 96 (d_x+1)/q = {c2x:.4g} "
            "(the reshuffling drift limits the x step)"
        )
    why_y = f"eta_y <= {eta_y:.4g}: (C1) binds, 8 n L_y = {c1x * Lambda_y:.4g} (the y block has no ZO condition)"
    return StepSizeCaps(eta_x, eta_y, caps.binding_x, "C1", why_x + "; " + why_y)
