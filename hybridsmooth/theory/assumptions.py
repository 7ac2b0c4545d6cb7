"""Assumption predicates on sampled points (THEORY 3) and the assumption checks 5 and 6 (THEORY 7).

Predicates take an objective of the ``hybridsmooth.objectives.base`` protocol and batched points (leading
dimensions allowed) and return tensors of ratios or margins, so that one call covers 10^4 points:

* (H1)/(H2) secant ratios  ||grad_b f(z1) - grad_b f(z2)|| / ||b1 - b2||  for pairs differing in block b only;
* (BD) residual  r = f(z1) - f(z2) - <grad f(z2), D> - 1/2 D^T Lambda D,  and the ratio r / (1/2 D^T Lambda D);
* (G1)-(G3) left- and right-hand sides at points, with ell_x, ell_y evaluated at 2 ||grad f||;
* (V) the exact sample variance (1/n) sum_i ||grad_b f_i(z) - grad_b f(z)||^2 at points;
* (R1) the eigenvalue range of Lambda^{-1/2} grad^2 f_i Lambda^{-1/2} from a dense Hessian (small problems).

A maximum over sampled points is only a lower bound on a supremum (THEORY 3.4); the checks say so.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from scipy.optimize import linprog
from torch import Tensor

from ..objectives.synthetic import gradient_bound_on_sublevel_set, make_bilinear, make_coupled2, make_quartic
from .checks import CheckResult, one_sided, two_sided

Ell = Callable[[Tensor], Tensor]


# --- predicates ---------------------------------------------------------------------------------------------

def _sq(v: Tensor) -> Tensor:
    return (v * v).sum(-1)


def secant_ratio_x(objective, x1: Tensor, x2: Tensor, y: Tensor) -> Tensor:
    """(H1): ||grad_x f(x1, y) - grad_x f(x2, y)|| / ||x1 - x2||; sup over pairs is L_x (THEORY 3.1)."""
    g1, _ = objective.grad(x1, y)
    g2, _ = objective.grad(x2, y)
    return torch.linalg.vector_norm(g1 - g2, dim=-1) / torch.linalg.vector_norm(x1 - x2, dim=-1)


def secant_ratio_y(objective, x: Tensor, y1: Tensor, y2: Tensor) -> Tensor:
    """(H2): ||grad_y f(x, y1) - grad_y f(x, y2)|| / ||y1 - y2||; sup over pairs is L_y (THEORY 3.1)."""
    _, g1 = objective.grad(x, y1)
    _, g2 = objective.grad(x, y2)
    return torch.linalg.vector_norm(g1 - g2, dim=-1) / torch.linalg.vector_norm(y1 - y2, dim=-1)


def bd_residual(objective, z1: tuple[Tensor, Tensor], z2: tuple[Tensor, Tensor], *, L_x: float,
                L_y: float) -> tuple[Tensor, Tensor]:
    """(BD) of THEORY 3.2 at pairs: (residual r, ratio r / (1/2 D^T Lambda D)); (BD) holds iff r <= 0.

    For a quadratic f = 1/2 z^T H z the ratio is D^T H D / D^T Lambda D - 1, whose sup is
    lambda_max(Lambda^{-1/2} H Lambda^{-1/2}) - 1. The ratio is nan where D^T Lambda D = 0.
    """
    (x1, y1), (x2, y2) = z1, z2
    dx, dy = x1 - x2, y1 - y2
    gx, gy = objective.grad(x2, y2)
    quad = 0.5 * (L_x * _sq(dx) + L_y * _sq(dy))
    r = objective.loss(x1, y1) - objective.loss(x2, y2) - (gx * dx).sum(-1) - (gy * dy).sum(-1) - quad
    return r, torch.where(quad > 0, r / quad, torch.full_like(r, math.nan))


def generalized_smoothness_sides(objective, x: Tensor, y: Tensor, *, ell_x: Ell, ell_y: Ell,
                                 f_star: float) -> dict[str, Tensor]:
    """Both sides of (G1)-(G3) of THEORY 3.3 at points, with g = ||grad f(z)||:

        (G1) ||grad_x f||^2 <= 2 ell_x(2g) (f - f*)       (G2) ||grad_y f||^2 <= 2 ell_y(2g) (f - f*)
        (G3) 1/2 [||grad_x f||^2/ell_x(2g) + ||grad_y f||^2/ell_y(2g)] <= f - f*

    Returns lhs/rhs tensors keyed 'G1_lhs', 'G1_rhs', ... and 'g'.
    """
    gx, gy = objective.grad(x, y)
    nx2, ny2 = _sq(gx), _sq(gy)
    g = torch.sqrt(nx2 + ny2)
    lx, ly = ell_x(2 * g), ell_y(2 * g)
    gap = objective.loss(x, y) - f_star
    return {"g": g, "gap": gap,
            "G1_lhs": nx2, "G1_rhs": 2 * lx * gap,
            "G2_lhs": ny2, "G2_rhs": 2 * ly * gap,
            "G3_lhs": 0.5 * (nx2 / lx + ny2 / ly), "G3_rhs": gap}


def sample_variance(objective, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """(V) at points, exactly: ((1/n) sum_i ||grad_x f_i - grad_x f||^2, same for y) with the objective's
    weights w_i in place of 1/n (THEORY 3.4)."""
    gx, gy = objective.grad(x, y)
    vx = torch.zeros(gx.shape[:-1], dtype=gx.dtype, device=gx.device)
    vy = torch.zeros_like(vx)
    w = getattr(objective, "weights", None)
    for i in range(objective.n):
        gxi, gyi = objective.grad(x, y, i)
        wi = float(w[i]) if w is not None else 1.0 / objective.n
        vx = vx + wi * _sq(gxi - gx)
        vy = vy + wi * _sq(gyi - gy)
    return vx, vy


def dense_hessian(objective, x: Tensor, y: Tensor, idx: int | None = None) -> Tensor:
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
    H = np.asarray(H.detach().cpu().numpy() if isinstance(H, Tensor) else H, dtype=float)
    if not (L_x > 0 and L_y > 0):
        raise ValueError(f"(R1) needs positive L_x, L_y, got {L_x}, {L_y}")
    s = np.r_[np.full(d_x, L_x ** -0.5), np.full(H.shape[0] - d_x, L_y ** -0.5)]
    ev = np.linalg.eigvalsh(s[:, None] * H * s[None, :])
    return float(ev[0]), float(ev[-1])


def joint_lambda_pareto(H, *, d_x: int, ratios) -> np.ndarray:
    """Smallest valid (R1) Lambda along each ray L_x/L_y = r (THEORY 3.5), for one dense Hessian H:
    with D_r = diag(r I, I), t(r) = max |eig(D_r^{-1/2} H D_r^{-1/2})| and (L_x, L_y) = (t r, t).
    Returns an array of rows (r, L_x, L_y); over many Hessians take the row-wise maximum of t per ray."""
    H = np.asarray(H.detach().cpu().numpy() if isinstance(H, Tensor) else H, dtype=float)
    rows = []
    for r in np.asarray(ratios, dtype=float).ravel():
        if not r > 0:
            raise ValueError(f"ray ratios L_x/L_y must be positive, got {r}")
        s = np.r_[np.full(d_x, r ** -0.5), np.ones(H.shape[0] - d_x)]
        t = float(np.max(np.abs(np.linalg.eigvalsh(s[:, None] * H * s[None, :]))))
        rows.append((r, t * r, t))
    return np.array(rows)


# --- check 5: (BD) and (G3) on the coupled quadratic --------------------------------------------------------

def _random_unit_dirs(N: int, d: int, gen: torch.Generator) -> Tensor:
    u = torch.randn(N, d, generator=gen, dtype=torch.float64)
    return u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)


def check5_block_descent(s: float, *, m: int = 5, a: float = 2.0, c: float = 0.5, n_pairs: int = 10_000,
                         seed: int = 0) -> list[CheckResult]:
    """THEORY check 5 on H = [[a I_m, B], [B^T, c I_m]], ||B|| = s sqrt(ac) (problem ``coupled2``).

    Predictions: sup (BD) ratio = s and sup (G3) ratio = 1 + s exactly (eigenvalues); sampled ratios never
    exceed them by > 1e-9; the top eigenvector of Lambda^{-1/2} H Lambda^{-1/2} attains them; (H1)-(H2) and
    (G1)-(G2) hold. The seed's lemma ("(BD) with Lambda") fails for s > 0: its result carries the exact
    counterexample pair. Repairs: (BD) with 2 Lambda (H >= 0) and with Lambda' = (1 + s) Lambda (THEORY 3.2
    item 2, tau = sqrt(a/c)) hold.
    """
    inst = f"coupled2 m={m} a={a} c={c} s={s}"
    obj = make_coupled2(m=m, a=a, c=c, s=s, n=1, seed=seed)
    H = obj.H.numpy()
    L_x, L_y = a, c
    gen = torch.Generator().manual_seed(seed)
    out: list[CheckResult] = []

    lam = np.r_[np.full(m, L_x), np.full(m, L_y)]
    M = H / np.sqrt(np.outer(lam, lam))
    ev, V = np.linalg.eigh(M)
    sup_bd, sup_g3 = ev[-1] - 1.0, ev[-1]
    out.append(two_sided("5: sup (BD) ratio = s (exact eig)", inst, sup_bd, s, atol=1e-8))
    out.append(two_sided("5: sup (G3) ratio = 1+s (exact eig)", inst, sup_g3, 1.0 + s, atol=1e-8))

    # random pairs: z2 random, Delta random (direction uniform, length log-uniform over 4 decades)
    N, d = n_pairs, 2 * m
    z2 = torch.randn(N, d, generator=gen, dtype=torch.float64)
    length = 10 ** (4 * torch.rand(N, 1, generator=gen, dtype=torch.float64) - 2)
    delta = _random_unit_dirs(N, d, gen) * length
    z1 = z2 + delta
    split = lambda z: (z[..., :m], z[..., m:])  # noqa: E731
    _, ratio = bd_residual(obj, split(z1), split(z2), L_x=L_x, L_y=L_y)
    frac = float((ratio > 1e-9).double().mean())   # above float rounding of the residual
    out.append(one_sided("5: sampled (BD) ratio <= exact sup", inst, float(ratio.max()), sup_bd, atol=1e-9,
                         samples=N, details={"fraction_violating_BD": frac,
                                             "median_ratio": float(ratio.median())}))

    # the top eigenvector pair attains the sup: Delta = Lambda^{-1/2} v_top
    v = V[:, -1] / np.sqrt(lam)
    z2_star = torch.zeros(d, dtype=torch.float64)
    z1_star = torch.as_tensor(v)
    _, r_top = bd_residual(obj, split(z1_star), split(z2_star), L_x=L_x, L_y=L_y)
    out.append(two_sided("5: top-eigvec pair attains sup (BD)", inst, float(r_top), sup_bd, atol=1e-9,
                         details={"z1": z1_star.tolist(), "z2": z2_star.tolist()}))

    # the seed's lemma: (BD) with Lambda = diag(L_x, L_y), the constants of (H1)-(H2)
    worst = max(float(ratio.max()), float(r_top))
    out.append(one_sided("5: seed lemma (BD) with Lambda holds", inst, worst, 0.0, atol=1e-9, samples=N + 1,
                         details={"counterexample_z1": z1_star.tolist(), "counterexample_z2": z2_star.tolist(),
                                  "residual_ratio": float(r_top),
                                  "residual": float(bd_residual(obj, split(z1_star), split(z2_star),
                                                                L_x=L_x, L_y=L_y)[0])}))

    # (H1)-(H2) hold with L_x = a, L_y = c (the seed's lemma's hypotheses are met)
    x1, x2, y = (torch.randn(N, m, generator=gen, dtype=torch.float64) for _ in range(3))
    hx = secant_ratio_x(obj, x1, x2, y)
    hy = secant_ratio_y(obj, y, x1, x2)
    out.append(one_sided("5: (H1) secant ratio <= L_x", inst, float(hx.max()), L_x, atol=1e-9 * L_x, samples=N))
    out.append(one_sided("5: (H2) secant ratio <= L_y", inst, float(hy.max()), L_y, atol=1e-9 * L_y, samples=N))

    # repairs
    _, ratio2 = bd_residual(obj, split(z1), split(z2), L_x=2 * L_x, L_y=2 * L_y)
    _, r2_top = bd_residual(obj, split(z1_star), split(z2_star), L_x=2 * L_x, L_y=2 * L_y)
    out.append(one_sided("5: repaired (BD) with 2 Lambda holds", inst,
                         max(float(ratio2.max()), float(r2_top)), 0.0, atol=1e-9, samples=N + 1,
                         details={"exact_lambda_max_2Lambda": float(ev[-1] / 2)}))
    tau = math.sqrt(a / c)
    L_xy = s * math.sqrt(a * c)
    Lpx, Lpy = L_x + tau * L_xy, L_y + L_xy / tau
    _, ratio3 = bd_residual(obj, split(z1), split(z2), L_x=Lpx, L_y=Lpy)
    _, r3_top = bd_residual(obj, split(z1_star), split(z2_star), L_x=Lpx, L_y=Lpy)
    lo3, hi3 = joint_condition_range(H, L_x=Lpx, L_y=Lpy, d_x=m)
    out.append(one_sided("5: repaired (BD) with cross bound (L_x + tau L_xy, L_y + L_xy/tau) holds", inst,
                         max(float(ratio3.max()), float(r3_top)), 0.0, atol=1e-9, samples=N + 1,
                         details={"tau": tau, "Lambda_prime": (Lpx, Lpy), "exact_lambda_max": hi3}))

    # (G1)-(G3) at random points and at the (G3) extremal point z = D_ell^{-1/2} v_top
    ell_x = lambda u: torch.full_like(u, L_x)  # noqa: E731
    ell_y = lambda u: torch.full_like(u, L_y)  # noqa: E731
    pts = torch.cat([z2, z1_star[None]], 0)
    sides = generalized_smoothness_sides(obj, *split(pts), ell_x=ell_x, ell_y=ell_y, f_star=0.0)
    g1 = sides["G1_lhs"] / sides["G1_rhs"]
    g2 = sides["G2_lhs"] / sides["G2_rhs"]
    g3 = sides["G3_lhs"] / sides["G3_rhs"]
    out.append(one_sided("5: (G1) ratio <= 1", inst, float(g1.max()), 1.0, atol=1e-9, samples=N + 1))
    out.append(one_sided("5: (G2) ratio <= 1", inst, float(g2.max()), 1.0, atol=1e-9, samples=N + 1))
    out.append(one_sided("5: sampled (G3) ratio <= exact sup 1+s", inst, float(g3.max()), sup_g3, atol=1e-9,
                         samples=N + 1))
    out.append(two_sided("5: top-eigvec point attains sup (G3)", inst, float(g3[-1]), sup_g3, atol=1e-9,
                         details={"z": z1_star.tolist()}))
    out.append(one_sided("5: seed lemma (G3) holds", inst, float(g3.max()), 1.0, atol=1e-9, samples=N + 1,
                         details={"counterexample_z": z1_star.tolist()}))
    return out


def check5_bilinear(*, b: float = 1.0, dx: float = 1.0, dy: float = 1.0) -> CheckResult:
    """THEORY 3.2 counterexample 1: f = b x y has L_x = L_y = 0, yet the (BD) residual is b dx dy > 0.

    The seed's lemma with Lambda = 0 asserts residual <= 0; the result's ``computed`` is the residual at the pair
    z2 = (0, 0), z1 = (dx, dy), and ``details`` carries the exact value b dx dy.
    """
    obj = make_bilinear(b=b, m=1)
    z2 = (torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
    z1 = (torch.tensor([dx], dtype=torch.float64), torch.tensor([dy], dtype=torch.float64))
    r, _ = bd_residual(obj, z1, z2, L_x=0.0, L_y=0.0)
    return one_sided("5: seed lemma (BD) on b x y with L_x = L_y = 0", f"bilinear b={b}", float(r), 0.0,
                     atol=0.0, samples=1, details={"z1": (dx, dy), "z2": (0.0, 0.0), "exact_residual": b * dx * dy})


# --- check 6: (ell_x, ell_y) lemma on the quartic ---------------------------------------------------------

def fit_power_envelope(u, L) -> tuple[float, float]:
    """Upper envelope ell(u) = c u^p in log-log space: the LP  min sum_i (log c + p log u_i)
    s.t. log c + p log u_i >= log L_i  (a line above every point with least total height). Returns (c, p).

    A local fit: the general fitters of ``hybridsmooth.curvature.envelope`` are affine (L0 + L1 u), not power laws.
    """
    u, L = np.asarray(u, float).ravel(), np.asarray(L, float).ravel()
    keep = (u > 0) & (L > 0) & np.isfinite(u) & np.isfinite(L)
    if keep.sum() < 2:
        raise ValueError("need at least 2 pairs with u > 0 and L > 0 for a log-log envelope")
    lu, lL = np.log(u[keep]), np.log(L[keep])
    res = linprog(c=[len(lu), lu.sum()], A_ub=np.column_stack([-np.ones_like(lu), -lu]), b_ub=-lL,
                  bounds=[(None, None), (None, None)], method="highs")
    if res.status != 0:
        raise ValueError(f"power-envelope LP failed: {res.message}")
    logc, p = res.x
    logc += max(0.0, float(np.max(lL - (logc + p * lu))))   # lift so every point is truly below
    return float(math.exp(logc)), float(p)


def _brute_force_gradient_sup(F: float, L_y: float, *, grid: int = 200_001) -> float:
    """max ||grad f|| on {1/4 r^4 + 1/2 L_y rho^2 <= F} for f = 1/4||x||^4 + 1/2 L_y||y||^2, by a dense grid on
    the boundary (||grad f||^2 = r^6 + L_y^2 rho^2 increases in both r and rho, so the max is on the boundary)."""
    r = np.linspace(0.0, (4 * F) ** 0.25, grid)
    rho2 = np.clip(2 * (F - 0.25 * r**4) / L_y, 0.0, None)
    return float(np.sqrt(np.max(r**6 + L_y**2 * rho2)))


def check6_generalized_smoothness(*, dx: int = 5, dy: int = 3, L_y: float = 1.0, n_points: int = 10_000,
                                  F_values: tuple[float, ...] = (0.1, 1.0, 10.0), seed: int = 0) -> list[CheckResult]:
    """THEORY check 6 on f = 1/4||x||^4 + 1/2 L_y||y||^2 (``quartic`` with hetero = 0, f* = 0),
    ell_x(u) = 3 u^(2/3), ell_y = L_y.

    Predictions: (G1)-(G3) hold at every point (relative tolerance 1e-12; equality in (G2), (G3) on x = 0);
    G from the 3.3 formula (ell_x + ell_y and max(ell_x, ell_y)) >= the true sup (brute force), the true sup
    matching ``sublevel_constants``; the log-log upper envelope of (||grad f||, ||grad^2_xx f|| = 3||x||^2) has
    exponent 2/3 +- 0.05. The affine (L0, L1) envelope and its G_safe are reported in ``details``.
    """
    from ..curvature.envelope import AffineFit, fit_affine_envelope, g_safe

    obj = make_quartic(dx=dx, dy=dy, n=1, Ly=L_y, hetero=0.0, seed=seed)
    inst = f"quartic hetero=0 dx={dx} dy={dy} L_y={L_y}"
    gen = torch.Generator().manual_seed(seed)
    N = n_points
    # radii log-uniform over many decades so ||grad f|| spans a wide range; a tenth of the points on x = 0
    rx = 10 ** (5 * torch.rand(N, 1, generator=gen, dtype=torch.float64) - 3)
    ry = 10 ** (8 * torch.rand(N, 1, generator=gen, dtype=torch.float64) - 6)
    x = _random_unit_dirs(N, dx, gen) * rx
    y = _random_unit_dirs(N, dy, gen) * ry
    x[: N // 10] = 0.0
    sides = generalized_smoothness_sides(obj, x, y, ell_x=obj.ell_x, ell_y=obj.ell_y, f_star=0.0)
    out: list[CheckResult] = []
    for k in ("G1", "G2", "G3"):
        lhs, rhs = sides[f"{k}_lhs"], sides[f"{k}_rhs"]
        rel = ((lhs - rhs) / rhs.clamp_min(1e-300)).max()
        on_axis = ((lhs - rhs)[: N // 10] / rhs[: N // 10]).abs().max()
        out.append(one_sided(f"6: ({k}) relative excess (lhs-rhs)/rhs <= 0", inst, float(rel), 0.0, atol=1e-12,
                             samples=N, details={"max_rel_gap_on_x0_axis": float(on_axis)}))  # 0 = equality

    for F in F_values:
        true_sup = _brute_force_gradient_sup(F, L_y)
        closed = obj.sublevel_constants(F).G
        out.append(two_sided("6: brute-force sup ||grad f|| on G_F = closed form", f"{inst} F={F}", true_sup,
                             closed, rtol=1e-6))
        G_sum = gradient_bound_on_sublevel_set(lambda u: obj.ell_x(u) + L_y, F)
        G_max = gradient_bound_on_sublevel_set(lambda u: max(obj.ell_x(u), L_y), F)
        out.append(one_sided("6: G formula (ell_x + ell_y) >= true sup", f"{inst} F={F}", G_sum, true_sup,
                             sense="lower"))
        out.append(one_sided("6: G formula (max(ell_x, ell_y), valid under G3) >= true sup", f"{inst} F={F}",
                             G_max, true_sup, sense="lower"))

    g = sides["g"].numpy()
    Lxx = 3 * _sq(x).numpy()
    keep = Lxx > 0
    c_hat, p_hat = fit_power_envelope(g[keep], Lxx[keep])
    aff = fit_affine_envelope(g[keep], Lxx[keep])
    F_rep = F_values[-1]
    out.append(two_sided("6: envelope exponent of ell_x = 2/3", inst, p_hat, 2.0 / 3.0, atol=0.05, samples=int(keep.sum()),
                         details={"c_hat": c_hat, "c_theory": 3.0, "affine_L0": aff.L0, "affine_L1": aff.L1,
                                  "affine_G_safe_at_F": (F_rep, g_safe(F_rep, aff, AffineFit(L_y, 0.0, "exact", 0))),
                                  "fit": "local log-log LP upper envelope"}))
    return out
