"""The paper's main theorem as stated (THEORY 5, where the paper is called "the seed"), as far as it can be
reconstructed: the constants H and F, the condition on T in its printed renderings A and B and our reading B',
and the eps^-4 mechanism M1.

Every quantity here inherits uncertainty from a garbled source. The public functions return ``StatedResult``
(value, rendering, the uncertain factors (u1)-(u5) of THEORY 5.2 it depends on, and a note); the ``*_value``
functions return the bare number for internal use.

    H = 2 sqrt([200 G^2 d_x/n + G^2 + sigma^2/n] T/delta)                       [SEED S14]
    F = (8/delta) (Delta0 + sigma')                                            [SEED S15]
    (A)  eps^2 T >= ln(2/delta) + G^2/8 + (Delta0 + 2 eta_x + eta_y)/(eta_min n)
    (B)  T >= eps^-2 (2/delta) + G^2/8 + eps^-2 (Delta0 + 2 eta_x + eta_y)/(eta_min n)
    (B') T >= eps^-2 [2/delta + G^2/8 + (Delta0 + 2 eta_x + eta_y)/(eta_min n)]   (our reading; B' => A)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .arguments import count, dim, nonneg, open_unit, pos

Rendering = Literal["A", "B", "Bprime"]
RENDERINGS: tuple[str, ...] = ("A", "B", "Bprime")

# Which uncertain factors of THEORY 5.2 each quantity depends on.
#   u1: ln(2/delta) or 2/delta;  u2: G^2/8 and where it sits;  u3: the "2 eta_x + eta_y" term;
#   u4: the (unseen) step-size conditions;  u5: the definitions of sigma', eps_t and the G inside H.
UNCERTAIN = {
    "H": ("u5",),
    "F": ("u5",),
    "A": ("u1", "u2", "u3", "u4"),
    "B": ("u1", "u2", "u3", "u4"),
    "Bprime": ("u1", "u2", "u3", "u4"),
    "recon": ("u1", "u2", "u3", "u4", "u5"),
}

_NOTES = {
    "A": "as printed; dimensionally inconsistent (ln(2/delta) and G^2/8 lack eps^-2)",
    "B": "as printed; G^2/8 without eps^-2 is dimensionally inconsistent",
    "Bprime": "our reading: A with ln(2/delta) <= 2/delta and eps^-2 factored out; implies A",
    "recon": "mechanism M1: eta_b(T) = min(cap_b, kappa G/(n L_b (G + H(T)))) in B'; T ~ eps^-4",
}


@dataclass(frozen=True)
class StatedResult:
    """A reconstructed quantity with the uncertain factors (u1)-(u5) it rests on (THEORY 5.2)."""

    value: float | int | None
    rendering: str
    uncertain: tuple[str, ...]
    note: str


# --- H and F ----------------------------------------------------------------------------------------------


def noise_variance_bracket(*, G: float, sigma2: float, n: int, d_x: int) -> float:
    """v = 200 G^2 d_x/n + G^2 + sigma^2/n: the reconstructed bound on E||eps_t||^2 (THEORY 5.1)."""
    G, sigma2, n, d_x = nonneg("G", G), nonneg("sigma2", sigma2), count("n", n), dim("d_x", d_x)
    return 200.0 * G**2 * d_x / n + G**2 + sigma2 / n


def H_const_value(T: float, delta: float, *, G: float, sigma2: float, n: int, d_x: int) -> float:
    """[SEED S14] H with P(any ||eps_t|| > H before T) <= delta/4 (union bound + Chebyshev)."""
    T = pos("T", T)
    return 2.0 * math.sqrt(noise_variance_bracket(G=G, sigma2=sigma2, n=n, d_x=d_x) * T / open_unit("delta", delta))


def H_const(T: float, delta: float, *, G: float, sigma2: float, n: int, d_x: int) -> StatedResult:
    return StatedResult(
        H_const_value(T, delta, G=G, sigma2=sigma2, n=n, d_x=d_x),
        "S14",
        UNCERTAIN["H"],
        "bracket 200 G^2 d_x/n + G^2 + sigma^2/n read from a garbled rendering",
    )


def F_const_value(delta: float, *, gap0: float, sigma_prime: float) -> float:
    """[SEED S15] F = (8/delta)(Delta0 + sigma'): P(tau1 < T, tau2 >= T) <= delta/4 by Markov at level F/2."""
    return 8.0 / open_unit("delta", delta) * (nonneg("gap0", gap0) + nonneg("sigma_prime", sigma_prime))


def F_const(delta: float, *, gap0: float, sigma_prime: float) -> StatedResult:
    return StatedResult(
        F_const_value(delta, gap0=gap0, sigma_prime=sigma_prime),
        "S15",
        UNCERTAIN["F"],
        "sigma' is not defined in the paper; THEORY 5.1 reads sigma' = T N_epoch",
    )


# --- the condition on T -----------------------------------------------------------------------------------


def T_required_stated_value(
    eps: float,
    delta: float,
    *,
    G: float,
    gap0: float,
    eta_x: float,
    eta_y: float,
    n: int,
    rendering: Rendering = "Bprime",
) -> int:
    """[SEED S13] the smallest integer T meeting rendering A, B or B' (THEORY 5.2) at user-given step sizes."""
    eps, delta = pos("eps", eps), open_unit("delta", delta)
    G, gap0 = nonneg("G", G), nonneg("gap0", gap0)
    eta_x, eta_y, n = pos("eta_x", eta_x), pos("eta_y", eta_y), count("n", n)
    det = (gap0 + 2.0 * eta_x + eta_y) / (min(eta_x, eta_y) * n)
    if rendering == "A":
        T = (math.log(2.0 / delta) + G**2 / 8.0 + det) / eps**2
    elif rendering == "B":
        T = 2.0 / (delta * eps**2) + G**2 / 8.0 + det / eps**2
    elif rendering == "Bprime":
        T = (2.0 / delta + G**2 / 8.0 + det) / eps**2
    else:
        raise ValueError(f"unknown rendering {rendering!r}; accepted: 'A', 'B', 'Bprime'")
    return max(1, math.ceil(T))


def T_required_stated(
    eps: float,
    delta: float,
    *,
    G: float,
    gap0: float,
    eta_x: float,
    eta_y: float,
    n: int,
    rendering: Rendering = "Bprime",
) -> StatedResult:
    value = T_required_stated_value(eps, delta, G=G, gap0=gap0, eta_x=eta_x, eta_y=eta_y, n=n, rendering=rendering)
    return StatedResult(value, rendering, UNCERTAIN[rendering], _NOTES[rendering])


def recon_step_sizes(
    T: int,
    delta: float,
    *,
    G: float,
    sigma2: float,
    n: int,
    d_x: int,
    L_x: float,
    L_y: float,
    eta_x_cap: float,
    eta_y_cap: float,
    kappa: float = 0.125,
) -> tuple[float, float]:
    """Mechanism M1 (THEORY 5.3): eta_b(T) = min(cap_b, kappa G / (n L_b (G + H(T))))."""
    H = H_const_value(T, delta, G=G, sigma2=sigma2, n=n, d_x=d_x)
    L_x, L_y, kappa = pos("L_x", L_x), pos("L_y", L_y), pos("kappa", kappa)
    ex = min(pos("eta_x_cap", eta_x_cap), kappa * G / (n * L_x * (G + H)))
    ey = min(pos("eta_y_cap", eta_y_cap), kappa * G / (n * L_y * (G + H)))
    return ex, ey


def T_required_recon_value(
    eps: float,
    delta: float,
    *,
    G: float,
    sigma2: float,
    gap0: float,
    n: int,
    d_x: int,
    L_x: float,
    L_y: float,
    eta_x_cap: float,
    eta_y_cap: float,
    kappa: float = 0.125,
    T_max: int = 10**18,
) -> int | None:
    """[RECON, M1] the smallest T with T >= T_B'(eta(T)); None if T_max is exceeded (THEORY 5.4).

    ok(T) is monotone: T_B'(eta(T)) grows like sqrt(T) through H(T) once the caps stop binding, slower than T.
    """
    pos("G", G)

    def ok(T: int) -> bool:
        ex, ey = recon_step_sizes(
            T,
            delta,
            G=G,
            sigma2=sigma2,
            n=n,
            d_x=d_x,
            L_x=L_x,
            L_y=L_y,
            eta_x_cap=eta_x_cap,
            eta_y_cap=eta_y_cap,
            kappa=kappa,
        )
        return T >= T_required_stated_value(eps, delta, G=G, gap0=gap0, eta_x=ex, eta_y=ey, n=n, rendering="Bprime")

    lo, hi = 1, 1
    while not ok(hi):
        lo, hi = hi, 2 * hi
        if hi > T_max:
            return None
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
    return hi


def T_required_recon(
    eps: float,
    delta: float,
    *,
    G: float,
    sigma2: float,
    gap0: float,
    n: int,
    d_x: int,
    L_x: float,
    L_y: float,
    eta_x_cap: float,
    eta_y_cap: float,
    kappa: float = 0.125,
    T_max: int = 10**18,
) -> StatedResult:
    value = T_required_recon_value(
        eps,
        delta,
        G=G,
        sigma2=sigma2,
        gap0=gap0,
        n=n,
        d_x=d_x,
        L_x=L_x,
        L_y=L_y,
        eta_x_cap=eta_x_cap,
        eta_y_cap=eta_y_cap,
        kappa=kappa,
        T_max=T_max,
    )
    return StatedResult(value, "recon", UNCERTAIN["recon"], _NOTES["recon"])


def T_recon_leading_order(
    eps: float,
    delta: float,
    *,
    G: float,
    sigma2: float,
    gap0: float,
    n: int,
    d_x: int,
    L_x: float,
    L_y: float,
    kappa: float = 0.125,
) -> float:
    """T ~ 4 Delta0^2 max(L_x, L_y)^2 v / (kappa^2 G^2 delta eps^4) (THEORY 5.3), the small-eps limit of M1."""
    v = noise_variance_bracket(G=G, sigma2=sigma2, n=n, d_x=d_x)
    return 4.0 * gap0**2 * max(L_x, L_y) ** 2 * v / (kappa**2 * pos("G", G) ** 2 * open_unit("delta", delta) * eps**4)
