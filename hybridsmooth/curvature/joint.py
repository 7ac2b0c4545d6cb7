"""Cross-block norm and the joint (two-sided) block condition (THEORY 3.1, 3.2, 3.5).

* sigma_max(H_xy) = L_xy(z): top eigenvalue of the dilation [[0, H_xy], [H_yx, 0]] (Lanczos), or the square
  root of the top eigenvalue of H_yx H_xy (power iteration). Each product costs two HVPs.
* (R1) at z for a given Lambda = diag(L_x I, L_y I): the extreme eigenvalues of M = Lambda^-1/2 H Lambda^-1/2;
  (R1) holds at z iff -1 <= lambda_min(M) and lambda_max(M) <= 1, and (BD) iff lambda_max(M) <= 1.
* Smallest valid Lambda along a ray L_x / L_y = r: Lambda(t) = t diag(r I, I) scales M by 1/t, so the
  smallest valid t is exactly ||M_r|| (two-sided) or max(lambda_max(M_r), 0) (upper side only), with
  M_r = diag(r I, I)^-1/2 H diag(r I, I)^-1/2. Over several points the smallest valid t is the maximum of
  the per-point values. :func:`bisect_scale` solves the same problem for a general monotone predicate and
  must agree with this closed form (tests/curvature).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from .eigen import EigResult, Reorth, lanczos_top_eigs, power_iteration
from .hvp import HessianAtPoint
from .operators import Operator, diagonal_scaled, dilation, gram

Side = Literal["two_sided", "upper"]


@dataclass(frozen=True)
class CrossNormResult:
    """sigma_max(H_xy) with the eigen-solver result it came from (residual in the solver's units)."""

    estimate: float
    solver: EigResult
    method: str


def cross_norm(
    engine: HessianAtPoint,
    *,
    method: Literal["lanczos", "power"] = "lanczos",
    tol: float = 1e-8,
    max_iter: int = 200,
    seed: int = 0,
    explicit_residuals: bool = True,
    reorth: Reorth = "auto",
) -> CrossNormResult:
    """||grad^2_xy f_idx(z)|| from the engine's H_xy and H_yx operators.

    Lanczos runs on the dilation [[0, B], [B^T, 0]] for its largest-MAGNITUDE eigenvalue: the spectrum is
    +-sigma_i, so +sigma_max and -sigma_max emerge together. Asking for the largest algebraic value instead
    can stop early on a converged interior Ritz value near 0 while -sigma_max is already found (seen on
    SmolLM2 + LoRA at B = 0: 1e-5 reported against sigma_max >= 49, with a relative tolerance of 1e-3).
    ``explicit_residuals``, ``reorth``: as in :func:`lanczos_top_eigs` (Lanczos only; power iteration always has
    explicit residuals).
    """
    B, Bt = engine.operator("xy"), engine.operator("yx")
    if method == "lanczos":
        res = lanczos_top_eigs(
            dilation(B, Bt),
            1,
            which="LM",
            tol=tol,
            max_iter=max_iter,
            seed=seed,
            explicit_residuals=explicit_residuals,
            reorth=reorth,
        )
        return CrossNormResult(abs(res.top), res, "lanczos-dilation")
    if method == "power":
        res = power_iteration(gram(B, Bt), tol=tol, max_iter=max_iter, seed=seed)
        return CrossNormResult(math.sqrt(max(res.top, 0.0)), res, "power-gram")
    raise ValueError(f"unknown method {method!r}; accepted: lanczos, power")


def _lambda_scaling(engine: HessianAtPoint, L_x: float, L_y: float) -> torch.Tensor:
    if not (L_x > 0 and L_y > 0 and math.isfinite(L_x) and math.isfinite(L_y)):
        raise ValueError(f"L_x and L_y must be finite positive numbers, got {L_x}, {L_y}")
    dx, dy = engine.objective.d_x, engine.objective.d_y
    kw = dict(dtype=engine.dtype, device=engine.device)
    return torch.cat([torch.full((dx,), L_x**-0.5, **kw), torch.full((dy,), L_y**-0.5, **kw)])


def scaled_hessian(engine: HessianAtPoint, L_x: float, L_y: float) -> Operator:
    """M = Lambda^-1/2 H Lambda^-1/2 at the engine's point (one HVP per product)."""
    s = _lambda_scaling(engine, L_x, L_y)
    return diagonal_scaled(engine.operator("full"), s, s, name=f"Lambda^-1/2 H Lambda^-1/2 (L=({L_x:g},{L_y:g}))")


@dataclass(frozen=True)
class JointCondition:
    """Extreme eigenvalues of Lambda^-1/2 H Lambda^-1/2 at one point, for the given (L_x, L_y)."""

    L_x: float
    L_y: float
    lambda_max: float
    lambda_min: float
    upper: EigResult
    lower: EigResult

    @property
    def norm(self) -> float:
        return max(abs(self.lambda_max), abs(self.lambda_min))

    @property
    def holds_two_sided(self) -> bool:  # (R1)
        return self.norm <= 1.0

    @property
    def holds_upper(self) -> bool:  # (BD), grad^2 f <= Lambda
        return self.lambda_max <= 1.0


def joint_condition(
    engine: HessianAtPoint, L_x: float, L_y: float, *, tol: float = 1e-8, max_iter: int = 200, seed: int = 0
) -> JointCondition:
    """lambda_max and lambda_min of Lambda^-1/2 grad^2 f_idx(z) Lambda^-1/2 by two Lanczos runs (LA, SA)."""
    op = scaled_hessian(engine, L_x, L_y)
    hi = lanczos_top_eigs(op, 1, which="LA", tol=tol, max_iter=max_iter, seed=seed)
    lo = lanczos_top_eigs(op, 1, which="SA", tol=tol, max_iter=max_iter, seed=seed + 1)
    return JointCondition(float(L_x), float(L_y), hi.top, lo.top, hi, lo)


@dataclass(frozen=True)
class RayScale:
    """Smallest valid (L_x, L_y) = t (r, 1) along the ray L_x / L_y = r, over the given points."""

    ratio: float
    L_x: float
    L_y: float
    side: str
    per_point: tuple[float, ...]
    n_hvp: int
    seconds: float


def smallest_valid_lambda(
    engines: Sequence[HessianAtPoint],
    ratios: Iterable[float],
    *,
    side: Side = "two_sided",
    tol: float = 1e-8,
    max_iter: int = 200,
    seed: int = 0,
) -> list[RayScale]:
    """The curve of smallest valid (L_x, L_y) along rays L_x/L_y = r (THEORY 3.5), one entry per ratio.

    Exact up to the eigen-solver's tolerance (the scale enters as 1/t; no search is needed).
    A curve over finitely many points is a lower bound on the curve over all z.
    """
    if side not in ("two_sided", "upper"):
        raise ValueError(f"unknown side {side!r}; accepted: two_sided, upper")
    if not engines:
        raise ValueError("need at least one point (engine)")
    out = []
    for r in ratios:
        if not (r > 0 and math.isfinite(r)):
            raise ValueError(f"ray ratios L_x/L_y must be finite and positive, got {r}")
        t0, h0 = time.perf_counter(), sum(e.counter.hvps for e in engines)
        per_point = []
        for e in engines:
            jc = joint_condition(e, float(r), 1.0, tol=tol, max_iter=max_iter, seed=seed)
            per_point.append(jc.norm if side == "two_sided" else max(jc.lambda_max, 0.0))
        t = max(per_point)
        out.append(
            RayScale(
                float(r),
                t * r,
                t,
                side,
                tuple(per_point),
                sum(e.counter.hvps for e in engines) - h0,
                time.perf_counter() - t0,
            )
        )
    return out


def bisect_scale(
    valid: Callable[[float], bool], *, lo: float, hi: float, rtol: float = 1e-6, max_steps: int = 200
) -> float:
    """Smallest t in [lo, hi] with valid(t) True, for a predicate monotone in t (False below, True above).

    Returns the upper end of the final bracket (always a valid scale).
    """
    if not (0 <= lo < hi):
        raise ValueError(f"need 0 <= lo < hi, got {lo}, {hi}")
    if not valid(hi):
        raise ValueError(f"the predicate is false at the upper end hi = {hi}; enlarge hi")
    if valid(lo):
        return lo
    for _ in range(max_steps):
        if hi - lo <= rtol * hi:
            break
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if valid(mid) else (mid, hi)
    return hi
