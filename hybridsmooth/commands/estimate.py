"""hybridsmooth estimate PROBLEM: block smoothness constants by Hessian-vector products (THEORY 3.1, 3.4).

For each requested block (xx -> L_x = ||H_xx||, yy -> L_y = ||H_yy||, xy -> L_xy = ||H_xy||) at the
problem's initial point, or the maximum over N points (the initial point and N - 1 Gaussian perturbations
of it), print: the estimate, the problem's closed-form constant beside it where one exists, the solver
residual, HVPs, seconds and convergence. A maximum over N points is a lower bound on the supremum; with
N >= 2 an upper confidence value (Robson-Whitlock, 95%) is printed too.

``converged`` is the eigen-solver's own verdict (the explicit residual ||H v - lambda v|| against the
tolerance), never recomputed here. With ``--backend finite_difference`` the products are approximations
that are neither exactly symmetric nor exactly linear: two more columns give their measured asymmetry and
nonlinearity (:func:`~hybridsmooth.curvature.defects.operator_defects`, four extra products per point and
block, not counted in ``hvps``), and the default tolerance sits above their error.

A progress bar over the (point, block) solves, with the products of the running solve, goes to stderr
unless ``--quiet`` is given or ``--json`` writes to a pipe. ``--out`` is checked before any work.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .. import validate
from ..curvature import block_constants, supremum_bound
from ..curvature.block_constants import BLOCK_QUANTITY, default_tol
from ..curvature.hvp import BACKENDS
from ..errors import UsageError
from ..objectives.base import Objective
from ..paths import ensure_output_file
from ..problems import make_problem

COLUMNS = (
    "block",
    "quantity",
    "estimate",
    "exact",
    "rel_err",
    "upper95",
    "residual",
    "hvps",
    "seconds",
    "converged",
    "points",
)
# measured defects of finite-difference products, worst over the points (finite_difference rows only)
FD_COLUMNS = ("asymmetry", "nonlinearity")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "problem", help="problem spec, e.g. 'quadratic:dx=50,dy=10,coupling=0.5' (see `hybridsmooth problems`)"
    )
    parser.add_argument("--blocks", default="xx,yy,xy", help="comma-separated blocks among xx, yy, xy (default all)")
    parser.add_argument("--method", choices=("lanczos", "power", "eigsh"), default="lanczos")
    parser.add_argument("--k", type=int, default=1, help="eigenvalues per block (lanczos, eigsh; default 1)")
    parser.add_argument(
        "--points",
        type=int,
        default=1,
        help="evaluate at the initial point and N-1 Gaussian perturbations of it (default 1)",
    )
    parser.add_argument(
        "--spread",
        type=float,
        default=0.5,
        help="perturbation std, relative to max(1, rms of the initial point) (default 0.5)",
    )
    parser.add_argument("--idx", type=int, default=None, help="one sample f_i instead of the full f")
    parser.add_argument("--backend", choices=BACKENDS, default="reverse_over_reverse")
    parser.add_argument(
        "--no-graph-cache",
        action="store_true",
        help="rebuild the gradient graph for every product (default: keep one graph per minibatch, "
        "which costs memory ~ n graphs for the full f)",
    )
    parser.add_argument("--tol", type=float, default=None, help="relative residual tolerance (default per dtype)")
    parser.add_argument("--max-iter", type=int, default=300, help="products per eigen-solve (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the start vectors and of the points")
    parser.add_argument(
        "--secant-steps",
        type=int,
        default=0,
        help="also run N hybrid steps (ZO on x, FO on y, one minibatch: --idx, default 0) from the "
        "initial point and report the one-block secants of each step (default 0: none)",
    )
    parser.add_argument("--eta-x", type=float, default=1e-4, help="ZO step size of the secant run (default 1e-4)")
    parser.add_argument("--eta-y", type=float, default=1e-2, help="FO step size of the secant run (default 1e-2)")
    parser.add_argument("--mu", type=float, default=1e-3, help="ZO smoothing radius of the secant run (default 1e-3)")
    parser.add_argument(
        "--end-point",
        action="store_true",
        help="with --secant-steps: estimate the blocks again at the run's last point",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--out", default=None, help="also write the table as CSV to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def _parse_blocks(text: str) -> list[str]:
    blocks = [b.strip() for b in text.split(",") if b.strip()]
    bad = [b for b in blocks if b not in BLOCK_QUANTITY]
    if not blocks or bad:
        raise UsageError(f"--blocks takes a comma-separated list among xx, yy, xy; got {text!r}")
    return list(dict.fromkeys(blocks))


def _closed_form_constant(objective: Objective, block: str, idx) -> float | None:
    """The problem's closed-form constant of a block (a sup over all z) for problems without a constant
    Hessian: L_b of f, or L_b_max of f_idx; none for the cross block of one sample."""
    c = objective.constants
    value = {"xx": c.L_x, "yy": c.L_y, "xy": c.L_xy} if idx is None else {"xx": c.L_x_max, "yy": c.L_y_max, "xy": None}
    return None if value[block] is None else float(value[block])


def _points(objective: Objective, n_points: int, spread: float, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    x0, y0 = objective.initial_point()
    if x0.dim() != 1:
        raise UsageError("the problem's initial point must be one point (no batch dimension)")
    pts = [(x0, y0)]
    if n_points > 1:
        z0 = torch.cat([x0, y0])
        scale = spread * max(1.0, float(z0.pow(2).mean().sqrt()))
        g = torch.Generator(device="cpu").manual_seed(seed)
        for _ in range(n_points - 1):
            dz = scale * torch.randn(z0.numel(), generator=g, dtype=torch.float64).to(z0.dtype)
            pts.append((x0 + dz[: objective.d_x], y0 + dz[objective.d_x :]))
    return pts


class _Progress:
    """A bar on stderr over the (point, block) solves; its postfix counts the products of the running solve.

    The postfix is redrawn at most twice a second: products of a small problem take microseconds."""

    def __init__(self, total: int, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="estimate", unit="solve", file=sys.stderr, leave=False, disable=not enabled)
        self.label, self.products, self.shown_at = "", 0, 0.0

    def start(self, point: int, block: str) -> None:
        self.label, self.products = f"point {point}, {block}", 0
        self.bar.set_postfix_str(self.label, refresh=True)

    def product(self) -> None:
        self.products += 1
        now = time.monotonic()
        if now - self.shown_at >= 0.5:
            self.shown_at = now
            self.bar.set_postfix_str(f"{self.label}: {self.products} products", refresh=True)

    def done(self) -> None:
        self.bar.update(1)
        if self.bar.n == self.bar.total:  # update() redraws at most every 0.1 s: show the end for sure
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def estimate_table(
    objective: Objective,
    *,
    blocks: list[str],
    method: str = "lanczos",
    k: int = 1,
    n_points: int = 1,
    spread: float = 0.5,
    idx: int | None = None,
    backend: str = "reverse_over_reverse",
    tol: float | None = None,
    max_iter: int = 300,
    seed: int = 0,
    reuse_graph: bool = True,
    points: list | None = None,
    progress: bool = False,
) -> list[dict]:
    """One row per block (see the module docstring); the work behind the command, callable from Python.
    ``points``: evaluate at these (x, y) points instead of the initial point and its perturbations.
    ``progress``: draw a bar on stderr."""
    if k < 1:
        raise UsageError(f"--k must be >= 1, got {k}")
    if method == "power" and k != 1:
        raise UsageError("power iteration finds one eigenvalue; use --k 1 or --method lanczos|eigsh")
    if n_points < 1:
        raise UsageError(f"--points must be >= 1, got {n_points}")
    # the start vectors and the points are seeded by 64-bit integers
    validate.integer("--seed", seed, minimum=0, maximum=2**63 - 1 - n_points, error=UsageError)
    # every point is kept (x, y) until the table is made
    validate.check_allocation(n_points * (objective.d_x + objective.d_y), 8, f"--points {n_points}")
    if max_iter < 1:
        raise UsageError(f"--max-iter must be >= 1, got {max_iter}")
    if not (spread >= 0 and math.isfinite(spread)):
        raise UsageError(f"--spread must be a finite number >= 0, got {spread}")
    if idx is not None and not 0 <= idx < objective.n:
        raise UsageError(f"--idx must lie in [0, {objective.n}), got {idx}")
    sizes = {"xx": objective.d_x, "yy": objective.d_y, "xy": min(objective.d_x, objective.d_y)}
    for b in blocks:
        if sizes[b] == 0:
            raise UsageError(f"block {b} is empty for d_x={objective.d_x}, d_y={objective.d_y}")
        if k > sizes[b]:
            raise UsageError(f"--k {k} exceeds the number of eigenvalues of block {b} ({sizes[b]})")
        if method == "eigsh" and k >= (sizes[b] if b != "xy" else objective.d_x + objective.d_y):
            raise UsageError(f"--method eigsh needs --k below the block size ({sizes[b]}) for block {b}")
    if tol is None:
        tol = default_tol(objective.dtype, backend)
    points = _points(objective, n_points, spread, seed) if points is None else list(points)
    solved = _solve_points(
        objective,
        points,
        blocks,
        method=method,
        k=k,
        idx=idx,
        backend=backend,
        tol=tol,
        max_iter=max_iter,
        seed=seed,
        reuse_graph=reuse_graph,
        progress=progress,
    )
    return [_row(objective, b, [point[b] for point in solved], idx) for b in blocks]


def _row(objective: Objective, block: str, per_point: list, idx) -> dict:
    """The table row of one block from its BlockEstimate at every point: the maximum over the points."""
    values = [e.estimate for e in per_point]
    best = per_point[int(max(range(len(values)), key=values.__getitem__))]
    exact = best.exact if best.exact is not None else _closed_form_constant(objective, block, idx)
    row = dict(
        block=block,
        quantity=BLOCK_QUANTITY[block],
        estimate=best.estimate,
        exact=exact,
        rel_err=None if not exact else abs(best.estimate - exact) / abs(exact),
        upper95=supremum_bound(values, level=0.95).upper if len(values) >= 2 else None,
        residual=max(e.residual for e in per_point),
        hvps=sum(e.hvps for e in per_point),
        seconds=sum(e.seconds for e in per_point),
        # the solver's own verdict on its explicit residual, deliberately not re-derived here
        converged=all(e.converged for e in per_point),
        points=len(values),
        top_k=list(best.top_k),
        per_point=values,
    )
    if per_point[0].defects is not None:
        row.update(
            asymmetry=max(e.defects.asymmetry for e in per_point),
            nonlinearity=max(e.defects.nonlinearity for e in per_point),
        )
    return row


def _solve_points(
    objective: Objective,
    points: list,
    blocks: list[str],
    *,
    method: str,
    k: int,
    idx,
    backend: str,
    tol: float,
    max_iter: int,
    seed: int,
    reuse_graph: bool,
    progress: bool,
) -> list:
    """``block_constants`` at every point, one point at a time so that at most one point's cached graphs are
    alive. Every block of point j starts from seed + j: the command's own noise key, kept so that its
    printed residuals and product counts stay those of earlier releases (``block_constants`` would offset
    the blocks). Finite-difference products get their defects measured."""
    solved = []
    bar = _Progress(len(points) * len(blocks), progress)
    try:
        for j, (x, y) in enumerate(points):
            try:
                solved.append(
                    block_constants(
                        objective,
                        x,
                        y,
                        blocks=blocks,
                        idx=idx,
                        solver=method,
                        max_iter=max_iter,
                        tol=tol,
                        backend=backend,
                        seed={b: seed + j for b in blocks},
                        k=k,
                        defects=backend == "finite_difference",
                        reuse_graph=reuse_graph,
                        on_product=bar.product,
                        on_block_start=lambda b, j=j: bar.start(j, b),
                        on_block_done=lambda b: bar.done(),
                    )
                )
            except ValueError as err:  # non-deterministic objective, Krylov breakdown before k values, ...
                raise UsageError(f"point {j}: {err}") from None
    finally:
        bar.close()
    return solved


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.10g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return str(v)


def table_columns(rows: list[dict]) -> tuple[str, ...]:
    """COLUMNS, plus the finite-difference defect columns when the rows carry them."""
    return COLUMNS + (FD_COLUMNS if rows and all(c in rows[0] for c in FD_COLUMNS) else ())


def format_table(rows: list[dict]) -> str:
    columns = table_columns(rows)
    cells = [list(columns)] + [[_fmt(r[c]) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells)


def _show_progress(args) -> bool:
    if args.quiet:
        return False
    return not (args.json and not sys.stdout.isatty())


@contextmanager
def _loading_bars(args) -> Iterator[None]:
    """Under --quiet, also silence the bars a model loader draws on stderr (transformers' weight loading)."""
    llm = args.problem.split(":", 1)[0].strip() == "llm"
    if not (args.quiet and llm and importlib.util.find_spec("transformers") is not None):
        yield
        return
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def run(args) -> int:
    if args.out is not None:
        ensure_output_file(args.out, "--out")  # before the work: a long estimate must not end unwritable
    blocks = _parse_blocks(args.blocks)
    with _loading_bars(args):
        objective = make_problem(args.problem)
    rows = estimate_table(
        objective,
        blocks=blocks,
        method=args.method,
        k=args.k,
        n_points=args.points,
        spread=args.spread,
        idx=args.idx,
        backend=args.backend,
        tol=args.tol,
        max_iter=args.max_iter,
        seed=args.seed,
        reuse_graph=not args.no_graph_cache,
        progress=_show_progress(args),
    )
    secants, end_rows = _secant_report(objective, args, blocks) if args.secant_steps else (None, None)
    if args.out:
        try:
            with open(args.out, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=table_columns(rows), extrasaction="ignore")
                w.writeheader()
                w.writerows(rows)
        except OSError as err:
            raise UsageError(f"cannot write --out {args.out!r}: {err.strerror}") from None
    if args.json:
        json.dump(
            dict(
                problem=args.problem,
                method=args.method,
                backend=args.backend,
                seed=args.seed,
                idx=args.idx,
                rows=rows,
                **({} if secants is None else dict(secant_run=secants, end_point_rows=end_rows)),
            ),
            sys.stdout,
            indent=2,
        )
        print()
    else:
        where = "the initial point" if args.points == 1 else f"max over {args.points} points (a lower bound on the sup)"
        target = "f" if args.idx is None else f"f_{args.idx}"
        print(f"# {args.problem}: {args.method}, {args.backend}, {target} at {where}")
        print(format_table(rows))
        if any(c in rows[0] for c in FD_COLUMNS):
            print(
                "# finite differences on random probes u, v, w: asymmetry = |u'Hv - v'H'u| / (|u| |H| |v|), "
                "nonlinearity = |H(v+w) - Hv - Hw| / (|Hv| + |Hw|); both are rounding only for exact products"
            )
        if secants is not None:
            _print_secants(secants, end_rows)
        if objective.constant_hessian() is None and any(r["exact"] is not None for r in rows):
            print(
                "# exact = the problem's closed-form constant, a sup over all z: estimates at sampled points "
                "lie at or below it"
            )
    return 0


def _secant_report(objective: Objective, args, blocks: list[str]) -> tuple[dict, list[dict] | None]:
    """--secant-steps: a short hybrid run on one sample from the initial point with the one-block secants of
    each step (THEORY 3.1; ``theory.real_model_measure.fixed_sample_secant_run``) and, with --end-point, the
    block estimates again at its last point."""
    from dataclasses import asdict

    from ..theory.real_model import RealModelSettings
    from ..theory.real_model_measure import fixed_sample_secant_run

    if args.secant_steps < 0:
        raise UsageError(f"--secant-steps must be >= 0, got {args.secant_steps}")
    idx = 0 if args.idx is None else args.idx
    # the real-model settings check the run's arguments with the messages of `hybridsmooth check llm:...`
    s = RealModelSettings(
        steps=args.secant_steps, eta_x=args.eta_x, eta_y=args.eta_y, mu=args.mu, idx=idx, seed=args.seed
    )
    x0, y0 = objective.initial_point()
    if x0.dim() != 1:
        raise UsageError("the problem's initial point must be one point (no batch dimension)")
    run = fixed_sample_secant_run(
        objective, x0, y0, steps=s.steps, idx=s.idx, eta_x=s.eta_x, eta_y=s.eta_y, mu=s.mu, seed=s.seed
    )
    out = dict(
        idx=idx,
        eta_x=args.eta_x,
        eta_y=args.eta_y,
        mu=args.mu,
        steps=[asdict(s) | {"grad_norm": s.grad_norm} for s in run.steps],
        max_secant_x=max((s.secant_x for s in run.steps), default=None),
        max_secant_y=max((s.secant_y for s in run.steps), default=None),
    )
    end_rows = None
    if args.end_point:
        end_rows = estimate_table(
            objective,
            blocks=blocks,
            method=args.method,
            k=args.k,
            idx=idx,
            backend=args.backend,
            tol=args.tol,
            max_iter=args.max_iter,
            seed=args.seed,
            reuse_graph=not args.no_graph_cache,
            points=[(run.x, run.y)],
            progress=_show_progress(args),
        )
    return out, end_rows


def _print_secants(secants: dict, end_rows: list[dict] | None) -> None:
    print(
        f"# secants along {len(secants['steps'])} hybrid steps on f_{secants['idx']} (eta_x={secants['eta_x']:g}, "
        f"eta_y={secants['eta_y']:g}, mu={secants['mu']:g}); each is a lower bound on sup ||H_bb|| over its segment"
    )
    cols = ("step", "loss", "grad_norm", "step_x", "secant_x", "step_y", "secant_y")
    cells = [list(cols)] + [[_fmt(float(s[c]) if c != "step" else s[c]) for c in cols] for s in secants["steps"]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    print("\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells))
    if end_rows is not None:
        print("# at the run's last point")
        print(format_table(end_rows))
