"""Known step-size limits of each block, and the one-line diagnosis of a diverged run.

For a block b updated with step eta_b (L_b, d_b from the objective's exact ``Constants`` where known):

* ZO block, mean-square stability (THEORY check 7 and 6.4): with q Gaussian directions the mean-square
  rate on an isotropic quadratic a I is 1 - 2 eta a + eta^2 a^2 (1 + (d_b + 1)/q), so the limit is
  2 q / (L_b (d_b + 1 + q)), i.e. 2/(L_b (d_b + 2)) for q = 1. Exact for an isotropic block; a block with
  a spread spectrum tolerates somewhat more (``hybridsmooth.theory.recursions.zo_threshold``).
* FO block: gradient descent is stable iff eta_b < 2/L_b; the per-sample version 2/L_b,max matters for
  finite sums whose samples have different curvature (THEORY check 15).
* Theorem R caps (THEORY 6.1): (C1) eta_b <= 1/(8 n Lambda_b) and, for the ZO block x, (C2)
  eta_x <= 1/(96 (d_x + 1) Lambda_x) (with (d_x + 1)/q for q directions), computed by
  ``theory.caps.theorem_r_caps`` as in check 11. Lambda_b is the (R1) constant of THEORY 6.1, which plays the role
  of L_b,max: the stated joint constant where known, else L_b_max, else L_b (``theorem_constant``), the same for
  (C1) and (C2). Exceeding a cap voids the guarantee; it does not by itself cause divergence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..objectives.base import Constants
from ..theory.caps import theorem_r_caps

BlockMode = Literal["zo", "fo", "frozen"]
LimitKind = Literal["stability", "theorem cap"]


@dataclass(frozen=True)
class StepLimit:
    """One known limit for one block's step size: ``eta`` is above it when ``exceeded``."""

    block: Literal["x", "y"]
    kind: LimitKind
    name: str
    formula: str
    value: float
    eta: float
    detail: str

    @property
    def exceeded(self) -> bool:
        return self.eta > self.value

    def describe(self) -> str:
        return (
            f"eta_{self.block}={self.eta:.4g} exceeds the {self.name} {self.formula} = {self.value:.4g} ({self.detail})"
        )


def theorem_constant(constants: Constants, block: str) -> float | None:
    """The constant Theorem R's caps use for ``block`` (THEORY 6.1): the (R1) Lambda_b if stated, else the
    per-sample L_b_max it stands for, else the block constant L_b; None when none is known (positive)."""
    for name in (f"joint_L_{block}", f"L_{block}_max", f"L_{block}"):
        value = getattr(constants, name)
        if value is not None and value > 0:
            return float(value)
    return None


def _stability_limits(
    block: str, mode: BlockMode, eta: float, d: int, L: float | None, L_max: float | None, q: int
) -> list[StepLimit]:
    out: list[StepLimit] = []
    if L is not None and L > 0:
        if mode == "zo":
            formula = f"2/(L_{block}(d_{block}+2))" if q == 1 else f"2q/(L_{block}(d_{block}+1+q))"
            out.append(
                StepLimit(
                    block,
                    "stability",
                    "ZO mean-square limit",
                    formula,
                    2.0 * q / (L * (d + 1 + q)),
                    eta,
                    f"L_{block}={L:.4g}, d_{block}={d}" + (f", q={q}" if q > 1 else ""),
                )
            )
        else:
            out.append(StepLimit(block, "stability", "FO limit", f"2/L_{block}", 2.0 / L, eta, f"L_{block}={L:.4g}"))
    if mode == "fo" and L_max is not None and L_max > 0 and (L is None or L_max > L * (1 + 1e-9)):
        out.append(
            StepLimit(
                block,
                "stability",
                "per-sample FO limit",
                f"2/L_{block}_max",
                2.0 / L_max,
                eta,
                f"L_{block}_max={L_max:.4g}",
            )
        )
    return out


def step_limits(
    constants: Constants,
    *,
    modes: tuple[BlockMode, BlockMode],
    eta_x: float,
    eta_y: float,
    d_x: int,
    d_y: int,
    n: int,
    q: int = 1,
) -> tuple[StepLimit, ...]:
    """All limits that the known constants allow for the updated blocks (unknown constants are skipped).

    Example: gradient descent on a block with L_y = 4 is stable below eta_y = 2/L_y = 0.5.

    >>> fo = [lim for lim in step_limits(Constants(L_y=4.0), modes=("frozen", "fo"), eta_x=0.0, eta_y=0.6,
    ...                                  d_x=3, d_y=2, n=1) if lim.kind == "stability"]
    >>> [(lim.name, lim.value, lim.exceeded) for lim in fo]
    [('FO limit', 0.5, True)]
    """
    lam = {b: theorem_constant(constants, b) for b in ("x", "y")}
    caps = theorem_r_caps(n=n, d_x=d_x, Lambda_x=lam["x"], Lambda_y=lam["y"], q=q)
    out: list[StepLimit] = []
    for block, mode, eta, d in (("x", modes[0], eta_x, d_x), ("y", modes[1], eta_y, d_y)):
        if mode == "frozen":
            continue
        out += _stability_limits(
            block, mode, eta, d, getattr(constants, f"L_{block}"), getattr(constants, f"L_{block}_max"), q
        )
        c1 = caps.c1_x if block == "x" else caps.c1_y
        if c1 is not None:
            out.append(
                StepLimit(
                    block,
                    "theorem cap",
                    "Theorem R cap (C1)",
                    f"1/(8 n L_{block})",
                    c1,
                    eta,
                    f"n={n}, L_{block}={lam[block]:.4g}",
                )
            )
        if block == "x" and mode == "zo" and caps.c2_x is not None:
            out.append(
                StepLimit(
                    block,
                    "theorem cap",
                    "Theorem R cap (C2)",
                    "1/(96(d_x+1)L_x)" if q == 1 else "q/(96(d_x+1)L_x)",
                    caps.c2_x,
                    eta,
                    f"d_x={d}, L_x={lam['x']:.4g}",
                )
            )
    return tuple(out)


def diagnose(limits: Sequence[StepLimit], diverged_epochs: Sequence[int | None]) -> str:
    """One line: where the run diverged (if it did) and which known limits the step sizes exceed."""
    seeds = len(diverged_epochs)
    hit = [e for e in diverged_epochs if e is not None]
    unstable = [lim for lim in limits if lim.kind == "stability" and lim.exceeded]
    caps = [lim for lim in limits if lim.kind == "theorem cap" and lim.exceeded]
    # The caps void Theorem R's guarantee but do not predict divergence: name them briefly.
    cap_text = (
        (
            "; beyond the Theorem R caps "
            + ", ".join(f"{c.name[-4:]} for {c.block} ({c.formula} = {c.value:.3g})" for c in caps)
        )
        if caps
        else ""
    )
    if hit:
        lo, hi = min(hit), max(hit)
        when = f"epoch {lo}" if lo == hi else f"epochs {lo}-{hi}"
        head = f"diverged at {when} in {len(hit)}/{seeds} seeds: "
        if unstable:
            return head + "; ".join(lim.describe() for lim in unstable) + cap_text
        if not limits:
            return head + "no constants are known for this problem, so no step-size limit can be named"
        return head + "no known stability limit is exceeded" + cap_text
    if unstable:
        return (
            f"no divergence in {seeds} seeds within the run, although "
            + "; ".join(lim.describe() for lim in unstable)
            + cap_text
        )
    return f"no divergence in {seeds} seeds" + cap_text
