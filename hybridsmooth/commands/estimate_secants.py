"""``hybridsmooth estimate --secant-steps``: one-block secants along a short hybrid run on one sample."""

from __future__ import annotations

from dataclasses import asdict

from ..errors import UsageError
from ..objectives.base import Objective
from .estimate_table import estimate_table


def secant_report(objective: Objective, args, blocks: list[str], progress: bool) -> tuple[dict, list[dict] | None]:
    """A short hybrid run on one sample from the initial point with the one-block secants of each step
    (THEORY 3.1; ``theory.real_model_measure.fixed_sample_secant_run``) and, with --end-point, the block
    estimates again at its last point."""
    # imported on use: only this option needs the theory modules, which load pandas
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
            progress=progress,
        )
    return out, end_rows
