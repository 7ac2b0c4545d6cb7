"""Exact second-moment recursions of the step rules on quadratics (THEORY checks 7, 8, 10, 13 and 6.4).

All functions are plain numpy; they are the ground truth that simulations of
``hybridsmooth.optim.run_hybrid_sgd`` are tested against.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import solve_discrete_lyapunov

# --- check 7: the ZO block alone ------------------------------------------------------------------------------


def zo_mean_square_matrix(a: np.ndarray, eta: float, *, q: int = 1) -> np.ndarray:
    """The map p -> p' of ZO-GD (central Gaussian form) on phi(x) = 1/2 x^T A x, A = U diag(a) U^T.

    With p_i := E[(U^T x)_i^2] (THEORY check 7, q = 1):

        p_i' = (1 - 2 eta a_i + 2 eta^2 a_i^2) p_i + eta^2 sum_j a_j^2 p_j.

    Derivation: x' = x - eta (g^T u) u with g = A x, and E[(g^T u)^2 u u^T] = ||g||^2 I + 2 g g^T
    (Isserlis, THEORY 4.3); the diagonal of P' = E x'x'^T involves only the diagonal of P in the eigenbasis.
    With q directions the zero-mean part is divided by q: the noise term becomes
    (eta^2/q)(sum_j a_j^2 p_j + a_i^2 p_i) and the diagonal 1 - 2 eta a_i + eta^2 a_i^2.
    """
    a = np.asarray(a, dtype=float)
    diag = 1.0 - 2.0 * eta * a + eta**2 * a**2 * (1.0 + 1.0 / q)
    return np.diag(diag) + (eta**2 / q) * np.broadcast_to(a**2, (a.size, a.size))


def zo_mean_square_radius(a: np.ndarray, eta: float, *, q: int = 1) -> float:
    """Spectral radius rho(eta) of the ZO mean-square map; E||x_k||^2 grows iff rho > 1."""
    return float(np.max(np.abs(np.linalg.eigvals(zo_mean_square_matrix(a, eta, q=q)))))


def zo_threshold_isotropic(L: float, d: int, *, q: int = 1) -> float:
    """eta* = 2/(L (d + 2)) for A = L I (THEORY check 7); 2q/(L(d + 1 + q)) with q directions."""
    return 2.0 * q / (L * (d + 1 + q))


def zo_threshold(a: np.ndarray, *, q: int = 1, rtol: float = 1e-12) -> float:
    """eta* where rho(eta) crosses 1, by bisection (rho < 1 on (0, eta*), rho > 1 above it)."""
    a = np.asarray(a, dtype=float)
    if not np.all(a > 0):
        raise ValueError("zo_threshold needs a positive definite spectrum (all a_i > 0)")
    lo = zo_threshold_isotropic(float(a.max()), a.size, q=q) * 0.5  # stable: isotropic bound at a_max, halved
    hi = 2.0 / float(a.max())  # unstable: the top mode alone diverges
    if zo_mean_square_radius(a, lo, q=q) >= 1 or zo_mean_square_radius(a, hi, q=q) <= 1:
        raise ValueError("could not bracket the ZO mean-square threshold")
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if zo_mean_square_radius(a, mid, q=q) < 1 else (lo, mid)
    return 0.5 * (lo + hi)


def zo_mean_square_trajectory(a: np.ndarray, p0: np.ndarray, eta: float, steps: int, *, q: int = 1) -> np.ndarray:
    """p_k for k = 0..steps (rows), from p_0 (the squared eigen-coordinates of x_0)."""
    M = zo_mean_square_matrix(a, eta, q=q)
    out = np.empty((steps + 1, len(p0)))
    out[0] = p0
    for k in range(steps):
        out[k + 1] = M @ out[k]
    return out


# --- check 8: the hybrid on a coupled quadratic (n = 1, central ZO on x, FO on y, Jacobi) ------------------


def hybrid_second_moment_step(P: np.ndarray, H: np.ndarray, d_x: int, eta_x: float, eta_y: float) -> np.ndarray:
    """P' = (I - DH) P (I - DH)^T + blockdiag(eta_x^2 [tr(Q_xx) I + Q_xx], 0),  Q = H P H (THEORY check 8).

    For f = 1/2 z^T H z, z' = z - D (g_hat_x, g_y) with g_hat_x = (g_x^T u) u: the mean step is (I - DH) z
    and the ZO noise covariance given z is ||g_x||^2 I + g_x g_x^T (THEORY 4.3), whose mean is tr(Q_xx) I + Q_xx.
    """
    d = H.shape[0]
    D = np.diag(np.r_[np.full(d_x, eta_x), np.full(d - d_x, eta_y)])
    K = np.eye(d) - D @ H
    Q = H @ P @ H
    out = K @ P @ K.T
    Qxx = Q[:d_x, :d_x]
    out[:d_x, :d_x] += eta_x**2 * (np.trace(Qxx) * np.eye(d_x) + Qxx)
    return out


def hybrid_second_moment_operator(H: np.ndarray, d_x: int, eta_x: float, eta_y: float) -> np.ndarray:
    """The (d^2, d^2) matrix of the linear map P -> P' on row-major vec(P)."""
    d = H.shape[0]
    cols = []
    for j in range(d * d):
        E = np.zeros(d * d)
        E[j] = 1.0
        cols.append(hybrid_second_moment_step(E.reshape(d, d), H, d_x, eta_x, eta_y).reshape(-1))
    return np.stack(cols, axis=1)


def hybrid_second_moment_radius(H: np.ndarray, d_x: int, eta_x: float, eta_y: float) -> float:
    """Spectral radius of the check-8 map: the second moment is stable iff it is < 1."""
    return float(np.max(np.abs(np.linalg.eigvals(hybrid_second_moment_operator(H, d_x, eta_x, eta_y)))))


def hybrid_second_moment_trajectory(
    H: np.ndarray, d_x: int, eta_x: float, eta_y: float, z0: np.ndarray, steps: int
) -> np.ndarray:
    """P_k for k = 0..steps, shape (steps + 1, d, d), from the deterministic start P_0 = z0 z0^T."""
    P = np.outer(z0, z0)
    out = [P]
    for _ in range(steps):
        P = hybrid_second_moment_step(P, H, d_x, eta_x, eta_y)
        out.append(P)
    return np.stack(out)


# --- check 10: RR vs SGD noise floors of the FO block (f_i = 1/2 (y - c_i)^T C (y - c_i)) ---------------------


def _deviations(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(centres, dtype=float)
    delta = c - c.mean(0)
    return delta, delta.T @ delta / len(c)


def rr_epoch_noise_covariance(C: np.ndarray, centres: np.ndarray, eta: float) -> np.ndarray:
    """E[v v^T] for one RR epoch (THEORY check 10), v = sum_k M_k C delta_{pi_k}, M_k = (I - eta C)^{n-1-k}:

    E[v v^T] = n/(n-1) sum_k M_k C S C M_k^T - 1/(n-1) (sum_k M_k) C S C (sum_k M_k)^T,
    S = (1/n) sum_i delta_i delta_i^T   (without-replacement pair covariance -S/(n-1)).
    """
    _, S = _deviations(centres)
    n, d = len(centres), C.shape[0]
    if n < 2:
        raise ValueError("the RR noise covariance needs n >= 2 samples")
    step = np.eye(d) - eta * C
    Ms = [np.linalg.matrix_power(step, n - 1 - k) for k in range(n)]
    CSC = C @ S @ C
    Msum = sum(Ms)
    return (n / (n - 1)) * sum(M @ CSC @ M.T for M in Ms) - (1.0 / (n - 1)) * Msum @ CSC @ Msum.T


def rr_epoch_covariance(
    C: np.ndarray, centres: np.ndarray, eta: float, *, epochs: int | None = None, e0: np.ndarray | None = None
) -> np.ndarray:
    """Cov of e_t = y_t - c_bar at epoch starts under RR: Sigma_{t+1} = A Sigma_t A^T + eta^2 E[v v^T] (check 10),
    A = (I - eta C)^n. ``epochs=None``: the stationary Sigma_inf. Otherwise the second moment E[e_t e_t^T]
    after ``epochs`` epochs from the deterministic start e_0 (default 0)."""
    n, d = len(centres), C.shape[0]
    A = np.linalg.matrix_power(np.eye(d) - eta * C, n)
    N = eta**2 * rr_epoch_noise_covariance(C, centres, eta)
    return _linear_second_moment(A, N, iterations=epochs, e0=e0)


def sgd_covariance(
    C: np.ndarray, centres: np.ndarray, eta: float, *, steps: int | None = None, e0: np.ndarray | None = None
) -> np.ndarray:
    """With-replacement SGD: Sigma' = (I - eta C) Sigma (I - eta C) + eta^2 C S C (check 10); ``steps=None``
    gives the stationary solution, else the second moment after ``steps`` steps from e_0 (default 0)."""
    _, S = _deviations(centres)
    d = C.shape[0]
    K = np.eye(d) - eta * C
    N = eta**2 * C @ S @ C
    return _linear_second_moment(K, N, iterations=steps, e0=e0)


def _linear_second_moment(A: np.ndarray, N: np.ndarray, *, iterations: int | None, e0: np.ndarray | None) -> np.ndarray:
    """E[e e^T] of the linear recursion e' = A e + noise (noise covariance N): the stationary solution of
    P = A P A^T + N when ``iterations`` is None, else the value after that many steps from e_0 (default 0)."""
    if iterations is None:
        return solve_discrete_lyapunov(A, N)
    d = A.shape[0]
    P = np.zeros((d, d)) if e0 is None else np.outer(e0, e0)
    for _ in range(iterations):
        P = A @ P @ A.T + N
    return P


def gradient_floor(C: np.ndarray, Sigma: np.ndarray) -> float:
    """E||grad f||^2 = tr(C Sigma C) for f = 1/2 (y - c_bar)^T C (y - c_bar) + const."""
    return float(np.trace(C @ Sigma @ C))


def rr_gradient_floor(C: np.ndarray, centres: np.ndarray, eta: float) -> float:
    """Stationary E||grad f(y_t)||^2 at RR epoch starts (THEORY check 10)."""
    return gradient_floor(C, rr_epoch_covariance(C, centres, eta))


def sgd_gradient_floor(C: np.ndarray, centres: np.ndarray, eta: float) -> float:
    """Stationary E||grad f(y_k)||^2 under with-replacement SGD (THEORY check 10)."""
    return gradient_floor(C, sgd_covariance(C, centres, eta))


def loglog_slope(xs, ys) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    return float(np.polyfit(lx, ly, 1)[0])


def isotropic_zo_rate(L: float, d: int, eta: float) -> float:
    """r_x(eta) = 1 - 2 eta L + eta^2 L^2 (d + 2): the per-step mean-square rate of THEORY 6.4."""
    return 1.0 - 2.0 * eta * L + eta**2 * L**2 * (d + 2)


def epochs_to_contract(rate: float, factor: float) -> float:
    """Steps k with rate^k <= factor (inf when rate >= 1)."""
    if rate >= 1:
        return math.inf
    return math.log(factor) / math.log(rate)
