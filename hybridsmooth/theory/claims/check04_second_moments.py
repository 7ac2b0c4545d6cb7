"""Check 4 (THEORY 7.4; bounds of THEORY 4.1, 4.2, 4.4): ZO second-moment bounds, one-sided, with slack.

Statement: for the quadratic, cos-sum, log-cosh and signed quadratic, both Gaussian forms, d in {1, 10, 100},
mu in {1e-3, 0.3}, the measured E||g - grad||^2 <= (D-2) <= (Z-seed-2) and E||g||^2 <= (D-1), (NS-4); each
one-sided at mean + 4 se <= bound. One row per (instance, d, form, bound): the worst slack over points and mu
(a failing case is shown if there is one). ``seeds`` is unused: the Monte Carlo sample count is the size.
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from ..checks import CheckResult, one_sided
from ..sizes import check_size

KEY = "4"
TITLE = "ZO second-moment bounds"
SUMMARY = (
    "Monte Carlo E||g - grad||^2 and E||g||^2 against (D-2), (Z-seed-2), (D-1) and (NS-4) on four one-block "
    "instances, both Gaussian forms (THEORY 4.1-4.4)."
)
FIGURES: tuple[str, ...] = ()
BOUNDS = ("D-2", "Z-seed-2", "D-1", "NS-4")
MUS = (1e-3, 0.3)


def _quadratic(d: int):
    from ...zo.instances import quadratic_instance

    gen = torch.Generator().manual_seed(d)
    M = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return quadratic_instance((M + M.T) / math.sqrt(2 * d), torch.randn(d, generator=gen, dtype=torch.float64))


def _instances() -> dict:
    from ...zo.instances import cos_sum_instance, log_cosh_instance, signed_quadratic_instance

    return {
        "quadratic": _quadratic,
        "cos-sum w=2": lambda d: cos_sum_instance(d, 2.0),
        "log-cosh": log_cosh_instance,
        "signed quadratic L=1": lambda d: signed_quadratic_instance(d, 1.0),
    }


def _points(d: int, n_points: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(400 + d)
    return [torch.zeros(d, dtype=torch.float64)] + [
        torch.randn(d, generator=gen, dtype=torch.float64) for _ in range(n_points - 1)
    ]


def _worst_per_bound(inst, d: int, points, form: str, N: int) -> dict:
    """For each bound, the (check, mu) of the least favourable point and mu: a failure first, then least slack."""
    from ...zo.monte_carlo import second_moment_bound_checks

    worst: dict = {}
    for p, x in enumerate(points):
        for m, mu in enumerate(MUS):
            res = second_moment_bound_checks(
                inst.loss, x, grad=inst.grad(x), L=inst.L, mu=mu, form=form, n_samples=N, seed=1000 * p + m + 17 * d
            )
            for k in BOUNDS:
                c = res[k]
                score = (not c.passed, -(c.slack if c.slack is not None else math.inf))
                if k not in worst or score > worst[k][0]:
                    worst[k] = (score, c, mu)
    return {k: (c, mu) for k, (_, c, mu) in worst.items()}


def check4_second_moment_bounds(*, size: str = "fast", seeds: int | None = None) -> list[CheckResult]:
    """The rows of check 4 (see the module docstring)."""
    check_size(size)
    dims, n_points, N = ((1, 10), 2, 4000) if size == "fast" else ((1, 10, 100), 6, 20000)
    out = []
    for name, make in _instances().items():
        for d in dims:
            inst, points = make(d), _points(d, n_points)
            for form in ("central", "forward"):
                worst = _worst_per_bound(inst, d, points, form, N)
                for k in BOUNDS:
                    c, mu = worst[k]
                    out.append(
                        one_sided(
                            f"4: ({k}) one-sided, mean + 4 se <= bound",
                            f"{name} d={d} {form} (worst of {n_points} points x mu in {{1e-3, 0.3}}; at mu={mu:g})",
                            c.computed,
                            c.theoretical,
                            se=c.details["se"],
                            k=c.details["k"],
                            samples=N * n_points * 2,
                        )
                    )
    return out


def run(size: str, seeds: int | None) -> list[CheckResult]:
    return check4_second_moment_bounds(size=size, seeds=seeds)


def report_sentence(rows: pd.DataFrame) -> str:
    return ""
