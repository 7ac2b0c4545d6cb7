"""Print the measured numbers behind THEORY 7 checks 1, 2, 4 and 16: ``python -m hybridsmooth.zo.report``.

Every figure is measured here (seeded), never typed in: z-scores of the exact moments (check 1), fitted bias
orders (check 2), the slack of each second-moment bound (check 4) and the restore error and cost of the
in-place seed trick (check 16).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from .inplace import zo_step_inplace
from .inplace_reference import regenerate_directions
from .instances import cos_sum_instance, log_cosh_instance, quadratic_instance, signed_quadratic_instance
from .moments import (
    quadratic_central_second_moment,
    quadratic_central_sq_norm_variance,
    quadratic_curvature_term,
    quadratic_forward_second_moment,
    rademacher_second_moment,
)
from .monte_carlo import monte_carlo_moments, second_moment_bound_checks


def _quadratic(d: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    M = torch.randn(d, d, generator=gen, dtype=torch.float64)
    A = (M + M.T) / math.sqrt(2 * d)
    return (
        quadratic_instance(A, torch.randn(d, generator=gen, dtype=torch.float64)),
        A,
        torch.randn(d, generator=gen, dtype=torch.float64),
    )


def report_exact_moments(n: int) -> None:
    print("check 1: E||g||^2 on a dense quadratic, (measured - exact)/se")
    for d in (1, 10, 100):
        inst, A, x = _quadratic(d, d)
        g = inst.grad(x)
        g2 = float(g @ g)
        for form in ("central", "forward", "spsa"):
            for mu in (1e-3, 0.3):
                mc = monte_carlo_moments(inst.loss, x, mu=mu, form=form, n_samples=n, seed=1, grad=g)
                exact = {
                    "central": quadratic_central_second_moment(g2, d),
                    "forward": quadratic_forward_second_moment(g2, d, mu=mu, T_A=quadratic_curvature_term(A)),
                    "spsa": rademacher_second_moment(g2, d),
                }[form]
                se = math.sqrt(quadratic_central_sq_norm_variance(g2, d) / n) if form == "central" else mc.sq_norm_se
                # Rademacher at d = 1 is deterministic (g_S = g): its "se" is float rounding, so no z-score
                exact_case = se <= 1e-9 * exact
                z = "  exact (se = 0)" if exact_case else f"z={(mc.sq_norm - exact) / se:+6.2f}"
                zmean = "" if exact_case else f"   max z(mean)={float(((mc.mean - g).abs() / mc.mean_se).max()):5.2f}"
                print(f"  d={d:3d} {form:7s} mu={mu:<6g} E||g||^2 {mc.sq_norm:11.5g} exact {exact:11.5g} {z}{zmean}")


def report_bias_orders(n: int) -> None:
    print("check 2: bias norm vs mu (control variate), fitted log-log slope")
    mus = np.geomspace(1e-3, 1e-1, 5)
    for name, make, point in [
        ("cos-sum w=2", lambda d: cos_sum_instance(d, 2.0), "random"),
        ("signed-quadratic L=1", lambda d: signed_quadratic_instance(d, 1.0), "zero"),
    ]:
        for d in (1, 20):
            inst = make(d)
            x = (
                torch.zeros(d, dtype=torch.float64)
                if point == "zero"
                else torch.randn(d, generator=torch.Generator().manual_seed(d), dtype=torch.float64)
            )
            meas, exact = [], []
            for i, mu in enumerate(mus):
                mc = monte_carlo_moments(
                    inst.loss,
                    x,
                    mu=float(mu),
                    form="central",
                    n_samples=n,
                    seed=100 + i,
                    grad=inst.grad(x),
                    control_variate=True,
                )
                meas.append(float(mc.bias.norm()))
                exact.append(float((inst.smoothed_grad(x, float(mu)) - inst.grad(x)).norm()))
            slope = np.polyfit(np.log(mus), np.log(meas), 1)[0]
            slope_exact = np.polyfit(np.log(mus), np.log(exact), 1)[0]
            rel = max(abs(a - b) / b for a, b in zip(meas, exact))
            print(
                f"  {name:22s} d={d:2d} slope measured {slope:.4f} exact-formula {slope_exact:.4f} "
                f"max rel. dev. from formula {rel:.3f}"
            )


def report_bound_slack(n: int) -> None:
    print("check 4: smallest slack (bound / measured) over 4 points x mu in {1e-3, 0.3, 1}; '!' = mean + 4 se > bound")
    print("  (NS-5 is a central-form bound, stated for convex phi; it is shown for every case to see where it holds)")
    makers = {
        "quadratic": lambda d: _quadratic(d, d)[0],
        "cos-sum": lambda d: cos_sum_instance(d, 2.0),
        "log-cosh": log_cosh_instance,
        "signed-quad": lambda d: signed_quadratic_instance(d, 1.0),
    }
    keys = ("D-2", "Z-seed-2", "D-1", "NS-4", "NS-5")
    print("  " + " " * 30 + "".join(f"{k:>10s}" for k in keys))
    for name, make in makers.items():
        for form in ("central", "forward"):
            for d in (1, 10, 100):
                inst = make(d)
                gen = torch.Generator().manual_seed(123 + d)
                points = [torch.zeros(d, dtype=torch.float64)] + [
                    torch.randn(d, generator=gen, dtype=torch.float64) for _ in range(3)
                ]
                worst = {k: math.inf for k in keys}
                failed = {k: False for k in keys}
                for p, x in enumerate(points):
                    for m, mu in enumerate((1e-3, 0.3, 1.0)):
                        checks = second_moment_bound_checks(
                            inst.loss, x, grad=inst.grad(x), L=inst.L, mu=mu, form=form, n_samples=n, seed=1000 * p + m
                        )
                        for k in keys:
                            # no slack (measured <= 0) reads as an infinite one
                            slack = checks[k].slack
                            worst[k] = min(worst[k], math.inf if slack is None else slack)
                            failed[k] |= not checks[k].passed
                cells = "".join(f"{worst[k]:9.3g}{'!' if failed[k] else ' '}" for k in keys)
                print(f"  {name:12s} {form:7s} d={d:3d}        {cells}")


def report_inplace(sizes: tuple[int, ...] = (10**6, 10**7)) -> None:
    print("check 16: in-place seed trick, eta = 0 restore error (in ulp of |x| + 2 mu |u|) and seconds per step")
    for size in sizes:
        for dtype in (torch.float64, torch.float32):
            x = torch.randn(size, generator=torch.Generator().manual_seed(0), dtype=dtype)
            params = [x.clone()]
            loss = lambda: (params[0] ** 2).sum()  # noqa: E731
            for mode in ("regenerate", "buffer"):
                step = zo_step_inplace(params, loss, mu=1e-3, eta=0.0, run_seed=0, epoch=0, step=0, noise_mode=mode)
                u = regenerate_directions(params, run_seed=0, epoch=0, step=0)[0][0]
                scale = torch.finfo(dtype).eps * (x.abs() + 2e-3 * u.abs())
                err = float(((params[0] - x).abs() / scale).max())
                params[0].copy_(x)
                print(
                    f"  n={size:.0e} {str(dtype):14s} {mode:10s} max restore error {err:5.2f} ulp  "
                    f"{step.seconds * 1e3:8.1f} ms/step  noise draws {step.noise_draws}"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="Monte Carlo directions per point (default 20000)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument(
        "--inplace-sizes",
        type=int,
        nargs="+",
        default=[10**6, 10**7],
        help="parameter counts for the in-place timing (default 1e6 1e7)",
    )
    args = parser.parse_args(argv)
    if args.n < 8 or args.threads < 1 or min(args.inplace_sizes) < 1:
        parser.error("--n must be >= 8, --threads >= 1 and every --inplace-sizes entry >= 1")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    report_exact_moments(args.n)
    report_bias_orders(args.n)
    report_bound_slack(max(2, args.n // 4))
    report_inplace(tuple(args.inplace_sizes))
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
