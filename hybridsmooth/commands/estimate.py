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
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .. import validate
from ..curvature.block_constants import BLOCK_QUANTITY
from ..curvature.eigen import REORTH
from ..curvature.hvp import BACKENDS
from ..errors import UsageError
from ..objectives.base import Objective
from ..paths import ensure_output_file
from ..problems import make_problem
from .estimate_format import FD_COLUMNS, format_secants, format_table, format_unconverged, table_columns
from .estimate_secants import secant_report
from .estimate_table import estimate_table


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
    parser.add_argument(
        "--rtol",
        "--tol",
        dest="tol",
        type=float,
        default=None,
        help="stop each eigen-solve when its explicit residual ||H v - lambda v|| <= rtol |lambda| (default "
        "1e-5 in float32, 1e-10 in float64); a solve that spends --max-iter first is reported as not converged",
    )
    parser.add_argument(
        "--max-iter", type=int, default=300, help="product budget per eigen-solve (default 300; see --rtol)"
    )
    parser.add_argument(
        "--reorth",
        choices=REORTH,
        default="auto",
        help="Lanczos' re-orthogonalisation: partial (a pass over the basis only when the estimated loss of "
        "orthogonality asks), full (a pass per product), auto (default: partial on blocks of 2^20 weights "
        "or more with exact products, full below)",
    )
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
    parser.add_argument(
        "--mu",
        type=float,
        default=1e-3,
        help="ZO smoothing radius of the secant run and of --forward-only (default 1e-3)",
    )
    parser.add_argument(
        "--end-point",
        action="store_true",
        help="with --secant-steps: estimate the blocks again at the run's last point",
    )
    parser.add_argument(
        "--forward-only",
        action="store_true",
        help="estimate tr(H_xx) from forward passes alone (second differences and a HiZOO diagonal; no "
        "autograd graph), instead of the Hessian-vector-product table; uses --mu, --directions, --seed, --idx",
    )
    parser.add_argument("--directions", type=int, default=16, help="directions of --forward-only (default 16)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--out", default=None, help="also write the table as CSV to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def _parse_blocks(text: str) -> list[str]:
    blocks = [b.strip() for b in text.split(",") if b.strip()]
    bad = [b for b in blocks if b not in BLOCK_QUANTITY]
    if not blocks or bad:
        raise UsageError(f"--blocks takes a comma-separated list among xx, yy, xy; got {text!r}")
    return list(dict.fromkeys(blocks))


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


def _check_reorth(args) -> None:
    """--reorth tells Lanczos how to re-orthogonalise: refused where no Lanczos runs, and 'partial' where block
    Lanczos runs (--k 2 and more re-orthogonalise fully)."""
    if args.reorth == "auto":
        return
    if args.forward_only or args.method != "lanczos":
        what = "--forward-only" if args.forward_only else f"--method {args.method}"
        raise UsageError(f"--reorth {args.reorth} applies to --method lanczos; {what} runs no Lanczos")
    if args.reorth == "partial" and args.k != 1:
        raise UsageError(f"--reorth partial applies to single-vector Lanczos (--k 1); --k {args.k} runs block Lanczos")


def run(args) -> int:
    if args.out is not None:
        ensure_output_file(args.out, "--out")  # before the work: a long estimate must not end unwritable
    blocks = _parse_blocks(args.blocks)
    if args.tol is not None:  # before the model loads
        validate.positive("--rtol", args.tol, error=UsageError)
    _check_reorth(args)
    with _loading_bars(args):
        objective = make_problem(args.problem)
    if args.forward_only:
        from .estimate_forward import forward_only_run

        return forward_only_run(objective, args)
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
        reorth=args.reorth,
    )
    secants, end_rows = (
        secant_report(objective, args, blocks, _show_progress(args)) if args.secant_steps else (None, None)
    )
    if args.out:
        _write_csv(args.out, rows)
    if args.json:
        _print_json(args, rows, secants, end_rows)
    else:
        _print_text(args, objective, rows, secants, end_rows)
    return 0


def _write_csv(path: str, rows: list[dict]) -> None:
    try:
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=(*table_columns(rows), "rtol", "reorth"), extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    except OSError as err:
        raise UsageError(f"cannot write --out {path!r}: {err.strerror}") from None


def _print_json(args, rows: list[dict], secants: dict | None, end_rows: list[dict] | None) -> None:
    json.dump(
        dict(
            problem=args.problem,
            method=args.method,
            backend=args.backend,
            reorth=args.reorth,
            seed=args.seed,
            idx=args.idx,
            rows=rows,
            **({} if secants is None else dict(secant_run=secants, end_point_rows=end_rows)),
        ),
        sys.stdout,
        indent=2,
    )
    print()


def _print_text(
    args, objective: Objective, rows: list[dict], secants: dict | None, end_rows: list[dict] | None
) -> None:
    where = "the initial point" if args.points == 1 else f"max over {args.points} points (a lower bound on the sup)"
    target = "f" if args.idx is None else f"f_{args.idx}"
    print(f"# {args.problem}: {args.method}, {args.backend}, {target} at {where}")
    print(format_table(rows))
    for line in format_unconverged(rows, args.max_iter):
        print(line)
    if any(c in rows[0] for c in FD_COLUMNS):
        print(
            "# finite differences on random probes u, v, w: asymmetry = |u'Hv - v'H'u| / (|u| |H| |v|), "
            "nonlinearity = |H(v+w) - Hv - Hw| / (|Hv| + |Hw|); both are rounding only for exact products"
        )
    if secants is not None:
        print(format_secants(secants))
        if end_rows is not None:
            print("# at the run's last point")
            print(format_table(end_rows))
    if objective.constant_hessian() is None and any(r["exact"] is not None for r in rows):
        print(
            "# exact = the problem's closed-form constant, a sup over all z: estimates at sampled points "
            "lie at or below it"
        )
