"""(R1) of THEORY 3.5, the two-sided joint condition -Lambda <= grad^2 f_i <= Lambda of Theorem R: dense Hessians
of small problems, the eigenvalue range of Lambda^{-1/2} H Lambda^{-1/2}, and the smallest valid Lambda on a
ray L_x/L_y = r."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ...objectives.base import Objective
from ..checks import CheckResult, one_sided


def _array(H) -> np.ndarray:
    return np.asarray(H.detach().cpu().numpy() if isinstance(H, Tensor) else H, dtype=float)


def dense_hessian(objective: Objective, x: Tensor, y: Tensor, idx: int | None = None) -> Tensor:
    """The (d, d) Hessian of f_idx at one unbatched point z = (x, y), by autograd (small problems only)."""
    if x.dim() != 1 or y.dim() != 1:
        raise ValueError(f"dense_hessian needs one unbatched point, got x {tuple(x.shape)}, y {tuple(y.shape)}")
    d_x = x.shape[0]

    def f(z: Tensor) -> Tensor:
        return objective.loss(z[:d_x], z[d_x:], idx)

    z = torch.cat([x, y]).detach()
    return torch.autograd.functional.hessian(f, z)


def joint_condition_range(H, *, L_x: float, L_y: float, d_x: int) -> tuple[float, float]:
    """(lambda_min, lambda_max) of Lambda^{-1/2} H Lambda^{-1/2}; (R1) holds iff both lie in [-1, 1], and
    (BD) iff lambda_max <= 1 (THEORY 3.2, 3.5)."""
    H = _array(H)
    if not (L_x > 0 and L_y > 0):
        raise ValueError(f"(R1) needs positive L_x, L_y, got {L_x}, {L_y}")
    s = np.r_[np.full(d_x, L_x**-0.5), np.full(H.shape[0] - d_x, L_y**-0.5)]
    ev = np.linalg.eigvalsh(s[:, None] * H * s[None, :])
    return float(ev[0]), float(ev[-1])


def joint_lambda_pareto(H, *, d_x: int, ratios) -> np.ndarray:
    """Smallest valid (R1) Lambda along each ray L_x/L_y = r (THEORY 3.5), for one dense Hessian H:
    with D_r = diag(r I, I), t(r) = max |eig(D_r^{-1/2} H D_r^{-1/2})| and (L_x, L_y) = (t r, t).
    Returns an array of rows (r, L_x, L_y); over many Hessians take the row-wise maximum of t per ray."""
    H = _array(H)
    rows = []
    for r in np.asarray(ratios, dtype=float).ravel():
        if not r > 0:
            raise ValueError(f"ray ratios L_x/L_y must be positive, got {r}")
        s = np.r_[np.full(d_x, r**-0.5), np.ones(H.shape[0] - d_x)]
        t = float(np.max(np.abs(np.linalg.eigvalsh(s[:, None] * H * s[None, :]))))
        rows.append((r, t * r, t))
    return np.array(rows)


def joint_lambda_on_ray(H: np.ndarray, d_x: int) -> tuple[float, float]:
    """The smallest (L_x, L_y) along the ray L_x/L_y = ||H_xx||/||H_yy|| with H <= Lambda; for PSD H this is
    (R1) for the single-sample problem (THEORY 3.5): scale diag(||H_xx||, ||H_yy||) by lambda_max of the
    scaled H."""
    nx, ny = np.linalg.norm(H[:d_x, :d_x], 2), np.linalg.norm(H[d_x:, d_x:], 2)
    s = np.r_[np.full(d_x, nx**-0.5), np.full(H.shape[0] - d_x, ny**-0.5)]
    t = float(np.linalg.eigvalsh(s[:, None] * H * s[None, :])[-1])
    return t * nx, t * ny


def check(eig_range: tuple[float, float], joint_L: tuple[float, float], *, instance: str, samples: int) -> CheckResult:
    """(R1) with a stated joint Lambda: max |eig| of the scaled Hessians over the sampled points must be <= 1."""
    lo, hi = eig_range
    return one_sided(
        "assumptions: (R1) max |eig(Lambda^-1/2 H_i Lambda^-1/2)| <= 1 (stated joint Lambda)",
        instance,
        max(hi, -lo),
        1.0,
        atol=1e-9,
        samples=samples,
        details={"eig_range": (lo, hi), "joint_L": joint_L},
    )
