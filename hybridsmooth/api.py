"""The Python entry points: what the command line does, as functions that return the same results.

In a notebook::

    import hybridsmooth as hs
    f = hs.problem("quadratic:dx=20,dy=5,Lx=10,Ly=1,n=8")
    hs.block_constants(f).to_frame()          # L_x, L_y, L_xy at the starting point, with residuals
    run = hs.train(f, eta_x=1e-3, eta_y=0.1, epochs=20, seeds=4)
    run.to_frame()                            # per-epoch loss and gradient norms, one row per (seed, epoch)
    hs.check(only="8,13").to_frame()          # THEORY 7 checks with their verdicts

Every function takes an objective or a problem spec string; what it returns is frozen and turns into a tidy
pandas table with ``to_frame()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .curvature.block_constants import block_constants
from .objectives.base import Objective
from .objectives.registry import as_objective
from .optim.hybrid_sgd import HybridSGDConfig
from .optim.run_metrics import RunResult


def problem(spec: str) -> Objective:
    """The objective a spec string names (``hybridsmooth problems`` lists the names and keys).

    Args:
        spec: ``name:key=value,...``; keys left out take the builder's defaults.

    Returns:
        The objective (an :class:`~hybridsmooth.objectives.base.Objective`).

    Example:
        >>> import hybridsmooth as hs
        >>> f = hs.problem("quadratic:dx=4,dy=2,Lx=3,Ly=1,n=2,seed=0")
        >>> (f.d_x, f.d_y, f.n, round(f.constants.L_x, 9))
        (4, 2, 2, 3.0)
    """
    from .problems import make_problem

    return make_problem(spec)


def list_problems() -> pd.DataFrame:
    """One row per registered problem: its name, its keys with their defaults, and what it is.

    Returns:
        A table with columns ``problem``, ``keys``, ``summary``.

    Example:
        >>> import hybridsmooth as hs
        >>> "quadratic" in set(hs.list_problems().problem)
        True
    """
    from .objectives.registry import problem_rows

    return pd.DataFrame(problem_rows())


def train(
    objective: Objective | str,
    *,
    seeds: int | Iterable[int] | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    **optimizer,
) -> RunResult:
    """Reshuffling hybrid SGD (or a baseline) on a synthetic problem, many seeds as one batched run.

    What runs is a :class:`~hybridsmooth.engine.run_description.RunDescription`, with the defaults of
    ``hybridsmooth train``.

    Args:
        objective: a batched objective or its spec string (models train with ``hybridsmooth train``).
        seeds: how many seeds (indices 0..seeds-1), or the seed indices themselves (None: the default count).
        out: a run folder to write config, metrics, summary and checkpoints to (None: nothing is written).
        resume, overwrite: what to do with an existing ``out`` (as ``hybridsmooth train``).
        progress: show a progress bar.
        **optimizer: fields of :class:`~hybridsmooth.optim.hybrid_sgd.HybridSGDConfig`: ``eta_x``, ``eta_y``
            (the step sizes of the ZO block x and the FO block y, 0 for a frozen block), ``epochs``,
            ``method`` (``hybrid``, ``fo_full``, ``fo_peft``, ``zo_full``, ``zo_peft``), ``order``, ``form``,
            ``mu``, ``q``, ``seed``, ``update``, ``fo_point``, ``divergence_factor``.

    Returns:
        The :class:`~hybridsmooth.optim.run_metrics.RunResult`; ``to_frame()`` gives the per-epoch metrics.

    Example:
        >>> import hybridsmooth as hs
        >>> run = hs.train("quadratic:dx=4,dy=2,Lx=2,Ly=1,n=4,seed=0", eta_x=0.02, eta_y=0.2, epochs=30, seeds=2)
        >>> table = run.to_frame()
        >>> sorted(set(table.seed)), int(table.epoch.max())
        ([0, 1], 30)
        >>> first, last = table[table.epoch == 0].loss.values, table[table.epoch == 30].loss.values
        >>> bool((last < first).all())
        True
    """
    from .engine.execute import execute
    from .engine.run_description import RunDescription

    f = as_objective(objective)
    if not f.batched:
        raise ValueError(f"{f.spec or f.name} is a model: train it with `hybridsmooth train` (one run, step by step)")
    if not f.spec:
        raise ValueError("the objective has no spec string to describe the run by: pass the spec instead")
    seeds = seeds if seeds is None or isinstance(seeds, int) else list(seeds)
    description = RunDescription(f.spec, HybridSGDConfig(**optimizer), seeds=seeds)
    return execute(description, folder=out, resume=resume, overwrite=overwrite, progress=progress, objective=f)


@dataclass(frozen=True)
class CheckReport:
    """Rows of THEORY 7 checks with their verdicts and expected verdicts (what ``hybridsmooth check`` prints).

    ``ok`` is False when a row expected to pass failed; ``failures()`` lists those rows.

    Example: check 8's rows are identities and inclusions that hold exactly, so every row passes.

    >>> import hybridsmooth as hs
    >>> report = hs.check(only="8")
    >>> report.ok, len(report.failures()), set(report.to_frame().expected)
    (True, 0, {'pass'})
    """

    rows: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.rows.copy()

    @property
    def ok(self) -> bool:
        return self.failures().empty

    def failures(self) -> pd.DataFrame:
        from .theory.suite import gating_failures

        return gating_failures(self.rows)

    def markdown(self, *, size: str = "fast") -> str:
        from .theory.report import markdown_report

        return markdown_report(self.rows, size=size)


def check(
    only: str | Iterable[str] | None = None,
    *,
    size: str = "fast",
    seeds: int | None = None,
    problems: Iterable[Objective | str] | None = None,
) -> CheckReport:
    """Run the numbered THEORY 7 checks (all, or ``only`` some) and, for each given problem, its assumption
    checks.

    Args:
        only: check numbers, e.g. ``"8,13"`` or ``["8", "13"]``; None for every check.
        size: ``fast`` (seconds each) or ``full``.
        seeds: the number of seeds of the simulated checks (their default when None).
        problems: objectives or spec strings whose assumptions (H1)/(H2)/(V)/... are checked on sampled points.

    Returns:
        A :class:`CheckReport`.

    Example:
        >>> import hybridsmooth as hs
        >>> report = hs.check(only="13")
        >>> report.ok, sorted(set(report.to_frame().verdict))
        (True, ['pass'])
    """
    from .theory.suite import run_suite

    units = None if problems is None else [as_objective(p) for p in problems]
    return CheckReport(run_suite(only=only, size=size, seeds=seeds, problems=units))


__all__ = ["CheckReport", "block_constants", "check", "list_problems", "problem", "train"]
