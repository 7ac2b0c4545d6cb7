"""Theorem R's step-size conditions (C1)-(C2) and the caps they imply: the one place both are computed.

THEORY 6.1, with Lt := max(eta_x Lambda_x, eta_y Lambda_y) and (Lambda_x, Lambda_y) the constants of the joint
condition (R1) -Lambda <= grad^2 f_i <= Lambda (they play the role of L_x,max and L_y,max, not of the block
constants L_x, L_y of (H1)-(H2)):

    (C1)  8 n Lt <= 1                      i.e.  eta_b <= 1/(8 n Lambda_b)
    (C2)  96 (d_x + 1)/q * eta_x Lambda_x <= 1

``theory.step_sizes`` (checks 8, 11, 14 and the bound B_R) and ``optim.limits`` (the divergence diagnosis) both
call ``theorem_r_caps`` / ``theorem_r_lhs``, so a divergence message and check 11 name the same caps.
"""

from __future__ import annotations

from dataclasses import dataclass

C1_FACTOR = 8.0  # (C1): 8 n Lt <= 1
C2_FACTOR = 96.0  # (C2): 96 (d_x + 1)/q eta_x Lambda_x <= 1
# Step sizes at the caps are computed as 1/(...) and may land one ulp above; the conditions allow that much.
CAP_RTOL = 1e-12


@dataclass(frozen=True)
class TheoremRCaps:
    """Per-condition caps: ``c1_x`` = 1/(8 n Lambda_x), ``c1_y`` = 1/(8 n Lambda_y), ``c2_x`` =
    1/(96 (d_x+1)/q Lambda_x); None where the constant is unknown. ``eta_x``/``eta_y``: the binding cap of each
    block. ``c1_factor`` = 8 n and ``c2_factor`` = 96 (d_x+1)/q name which condition binds."""

    c1_x: float | None
    c1_y: float | None
    c2_x: float | None
    c1_factor: float
    c2_factor: float

    @property
    def eta_x(self) -> float | None:
        known = [c for c in (self.c1_x, self.c2_x) if c is not None]
        return min(known) if known else None

    @property
    def eta_y(self) -> float | None:
        return self.c1_y

    @property
    def binding_x(self) -> str:
        return "C2" if self.c2_factor > self.c1_factor else "C1"


def theorem_r_caps(*, n: int, d_x: int, Lambda_x: float | None, Lambda_y: float | None, q: int = 1) -> TheoremRCaps:
    """The caps of (C1)-(C2) for the (R1) constants that are known (positive); the others are None."""
    c1f, c2f = C1_FACTOR * n, C2_FACTOR * (d_x + 1) / q

    def cap(factor: float, lam: float | None) -> float | None:
        return 1.0 / (factor * lam) if lam is not None and lam > 0 else None

    return TheoremRCaps(cap(c1f, Lambda_x), cap(c1f, Lambda_y), cap(c2f, Lambda_x), c1f, c2f)


def theorem_r_lhs(
    eta_x: float, eta_y: float, *, n: int, d_x: int, Lambda_x: float, Lambda_y: float, q: int = 1
) -> dict[str, float]:
    """Left-hand sides of (C1) per block and of (C2), each of which must be <= 1: keys 'C1x', 'C1y', 'C2'."""
    return {
        "C1x": C1_FACTOR * n * eta_x * Lambda_x,
        "C1y": C1_FACTOR * n * eta_y * Lambda_y,
        "C2": C2_FACTOR * (d_x + 1) / q * eta_x * Lambda_x,
    }
