"""Model training runs shared by the paper figures: one ``RunDescription`` -> one stored run folder.

(The training loop itself is ``engine.model_run.train_model``; this module decides which runs a figure
needs, stores each once and reads it back.)

A figure asks for runs by description (``figure_run``: problem string, method, step sizes, steps, seed,
...). Each run lives in ``<cache>/<variant>-<hash>-<steps>/`` (``hash`` = the description's content hash):
the training core's ``config.json``, per-step ``metrics.csv``, ``evals.csv``, its ``complete.json`` and a
``done.json`` written last. A run whose ``done.json`` matches its description is read back instead of
retrained, so Figures 3, 6 and 7 share their runs and a re-plot never trains; so is a run a sweep finished
in ``<cache>/<hash>`` (``figures --write-grid`` writes the grid of a figure's runs with the cache as root);
``fresh_runs()`` (the figures command's ``--rerun``) makes only the runs of the current process count.

Objectives are loaded once per problem string (a few at a time) and reset to their initial weights before
every run, so every run of a figure starts from the same point.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..engine.execute import execute
from ..engine.model_run import EVALS_FILE
from ..engine.run_description import RunDescription
from ..engine.rundir import COMPLETE_FILE, METRICS_FILE, json_safe, load_run, write_atomic
from ..errors import UsageError
from ..objectives.base import is_model_objective
from ..optim.hybrid_sgd import METHODS, HybridSGDConfig

DONE_FILE = "done.json"
MODEL_RUNS_DIR = "model_runs"  # under the figures' runs folder, shared by every paper figure
# What the figures' runs set differently from every other run (their numbers depend on it):
# a figure's run stops once its loss exceeds 10x the first step's loss, since a classification loss 10x its
# start value has left the region any curve of the figure is about; and the ZO directions are drawn once
# per step into a buffer (the same numbers as regenerating them, fewer random draws per step).
FIGURE_SETTINGS = {"divergence_factor": 10.0, "noise_mode": "buffer"}
_OPTIMIZER_FIELDS = {f.name for f in dataclasses.fields(HybridSGDConfig)}


def figure_run(problem: str, method: str, eta_x: float, eta_y: float, steps: int, **settings) -> RunDescription:
    """The description of one training run of a model objective, with the figures' settings
    (``FIGURE_SETTINGS``); ``settings`` are further fields of the optimizer (``seed``, ``mu``, ``q``,
    ``form``, ``fo_point``) or of the run (``eval_every``, ``eval_limit``). The step size of a frozen block
    is ignored (set 0). Bad values: a one-line UsageError naming the run."""
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}; accepted: {', '.join(METHODS)}")
    etas = {
        f"eta_{b}": 0.0 if mode == "frozen" else float(eta)
        for b, mode, eta in zip("xy", METHODS[method], (eta_x, eta_y))
    }
    settings = {**FIGURE_SETTINGS, **settings}
    optimizer = {k: settings.pop(k) for k in list(settings) if k in _OPTIMIZER_FIELDS}
    try:
        # epochs: a model run's length is its steps
        config = HybridSGDConfig(method=method, epochs=0, **etas, **optimizer)
    except ValueError as err:
        where = f"{method} eta_x={etas['eta_x']:g} eta_y={etas['eta_y']:g} {optimizer}"
        raise UsageError(f"run {where}: {err}") from None
    return RunDescription(problem, config, steps=int(steps), **settings)


@dataclass(frozen=True, eq=False)
class StoredRun:
    spec: RunDescription
    steps: pd.DataFrame
    evals: pd.DataFrame
    diverged: bool
    diagnosis: str
    seconds: float
    folder: Path


# --- which stored runs count ---------------------------------------------------------------------------
_FRESH_ONLY = False
_MADE_HERE: set[str] = set()


def fresh_runs(enabled: bool = True) -> None:
    """With ``enabled``, stored runs count only when this process made them (``--rerun``)."""
    global _FRESH_ONLY
    _FRESH_ONLY = bool(enabled)


# --- objectives, loaded once per problem string ------------------------------------------------------------
_POOL: OrderedDict[str, tuple] = OrderedDict()
POOL_SIZE = 2  # a SmolLM2 objective and its start point take ~1 GB; keep at most this many alive


def objective_at_start(problem: str):
    """The objective of ``problem``, with its weights reset to the values it had when first loaded."""
    from ..problems import make_problem

    if problem in _POOL:
        _POOL.move_to_end(problem)
        obj, x0, y0 = _POOL[problem]
    else:
        while len(_POOL) >= POOL_SIZE:
            _POOL.popitem(last=False)
        obj = make_problem(problem)
        if not is_model_objective(obj):
            raise UsageError(f"{problem!r} is not a model objective; paper figures train llm:... problems")
        x0, y0 = obj.initial_point()
        _POOL[problem] = (obj, x0, y0)
    obj.set_point(x0, y0)
    return obj


# --- runs ---------------------------------------------------------------------------------------------------
def run_folder(cache: Path, spec: RunDescription) -> Path:
    # the content hash leaves the length out (a continuation is the same run); a figure's stored run is
    # read back as it is, so runs of different lengths need folders of their own
    return Path(cache) / f"{spec.variant}-{spec.content_hash()}-{spec.steps}"


def sweep_folder(cache: Path, spec: RunDescription) -> Path:
    """Where ``hybridsmooth sweep run`` finishes ``spec`` when the grid's root is ``cache`` (``figures
    --write-grid``): the sweep names a folder by the content hash alone."""
    return Path(cache) / spec.content_hash()


def load_figure_run(cache: Path, spec: RunDescription) -> StoredRun | None:
    """The stored run of ``spec`` if it is complete and counts (see ``fresh_runs``), else None: the figure's
    own folder, else a folder a sweep finished (``load_swept_run``)."""
    stored = _load_own_run(cache, spec)
    if stored is None and not _FRESH_ONLY:  # a sweep's run was made by another process: --rerun ignores it
        stored = load_swept_run(cache, spec)
    return stored


def _load_own_run(cache: Path, spec: RunDescription) -> StoredRun | None:
    folder = run_folder(cache, spec)
    done = folder / DONE_FILE
    if not done.is_file() or not (folder / COMPLETE_FILE).is_file():
        return None
    try:
        info = json.loads(done.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if info.get("spec") != spec.to_dict() or (_FRESH_ONLY and spec.content_hash() not in _MADE_HERE):
        return None
    return StoredRun(
        spec,
        pd.read_csv(folder / METRICS_FILE),
        pd.read_csv(folder / EVALS_FILE),
        bool(info["diverged"]),
        str(info["diagnosis"]),
        float(info["seconds"]),
        folder,
    )


def load_swept_run(cache: Path, spec: RunDescription) -> StoredRun | None:
    """The run of ``spec`` as a sweep finished it in ``sweep_folder(cache, spec)``, when that folder holds this
    very description at this length (only the checkpoint interval may differ: it changes no number); else
    None. What ``train_figure_run`` records in done.json comes from the run's own summary.json, so its
    ``seconds`` is the run's elapsed time rather than the wall clock around it."""
    folder = sweep_folder(cache, spec)
    record = _swept_record(folder, spec)
    if record is None or EVALS_FILE not in record.tables:
        return None
    summary = record.summary
    return StoredRun(
        spec,
        record.metrics,
        record.tables[EVALS_FILE],
        bool(summary.get("diverged")),
        str(summary.get("diagnosis", "")),
        float(summary.get("seconds") or 0.0),
        folder,
    )


def _swept_record(folder: Path, spec: RunDescription):
    """The record of ``folder`` when a sweep finished exactly ``spec`` there (only the checkpoint interval may
    differ: it changes no number), else None."""
    from ..engine.sweep import folder_state

    if folder_state(folder, spec)[0] != "finished":
        return None
    try:
        record = load_run(folder)
        stored = RunDescription.from_dict(record.config["run"])
    except (FileNotFoundError, ValueError, KeyError, UsageError):  # a damaged folder: run it again
        return None
    return record if stored.replace(checkpoint_every=spec.checkpoint_every) == spec else None


def synthetic_runner(cache: Path | None):
    """``run(description, objective) -> (metrics, diverged)`` for a theory figure's synthetic run: read from
    ``<cache>/<hash>`` when a sweep finished this very run there (``figures --write-grid``), else run in this
    process without storing it (such a run takes seconds; the figure's tables are what is kept)."""
    from ..theory.slope_cases import run_in_process

    def run(description: RunDescription, objective) -> tuple[pd.DataFrame, bool]:
        record = None if cache is None or _FRESH_ONLY else _swept_record(sweep_folder(cache, description), description)
        if record is None:
            return run_in_process(description, objective)
        summary = record.summary
        return record.metrics, bool(summary.get("diverged_seeds") or summary.get("diverged"))

    return run


def train_figure_run(cache: Path, spec: RunDescription, *, progress: bool = False) -> StoredRun:
    """The run of ``spec``: read back when stored, trained (and stored) otherwise."""
    stored = load_figure_run(cache, spec)
    if stored is not None:
        return stored
    folder = run_folder(cache, spec)
    (folder / DONE_FILE).unlink(missing_ok=True)
    obj = objective_at_start(spec.problem)
    t0 = time.perf_counter()
    # a folder without done.json holds an unfinished or stale run of this spec: replace it
    res = execute(spec, folder=folder, overwrite=True, objective=obj, progress=progress)
    seconds = time.perf_counter() - t0
    info = {
        "spec": spec.to_dict(),
        "diverged": res.diverged,
        "diagnosis": res.diagnosis,
        "seconds": seconds,
        "completed_steps": res.completed_steps,
    }
    write_atomic(folder / DONE_FILE, json.dumps(json_safe(info), indent=2) + "\n")
    _MADE_HERE.add(spec.content_hash())
    return StoredRun(spec, res.steps, res.evals, res.diverged, res.diagnosis, seconds, folder)


SPEC_COLUMNS = ("problem", "method", "fo_point", "variant", "eta_x", "eta_y", "mu", "q", "seed")


def train_all(
    cache: Path, specs: Iterable[RunDescription], *, progress: bool | None = None, say=print
) -> list[StoredRun]:
    """Every run of ``specs`` (stored ones read back), in order, with one line per run and, on a terminal,
    a progress bar per run (``progress=None``: only when stderr is a terminal, so logs stay readable)."""
    specs = list(specs)
    if progress is None:
        progress = sys.stderr.isatty()
    runs = []
    for i, spec in enumerate(specs, 1):
        stored = load_figure_run(cache, spec)
        if stored is None:
            say(f"  run {i}/{len(specs)}: {spec.label()} ({spec.steps} steps) on {spec.problem}")
            stored = train_figure_run(cache, spec, progress=progress)
            if stored.diverged:
                say(f"    {stored.diagnosis}")
        runs.append(stored)
    return runs


def steps_table(runs: Iterable[StoredRun], **extra) -> pd.DataFrame:
    """Per-step records of many runs in one tidy table, each row tagged with its run's spec (and a
    cumulative wall-clock ``elapsed`` in seconds of training steps, evaluations excluded)."""
    parts = []
    for r in runs:
        df = r.steps.copy()
        for col in SPEC_COLUMNS:
            df[col] = getattr(r.spec, col)
        df["elapsed"] = df["seconds"].cumsum()
        df["diverged"] = r.diverged
        for k, v in extra.items():
            df[k] = v
        parts.append(df)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def evals_table(runs: Iterable[StoredRun], **extra) -> pd.DataFrame:
    parts = []
    for r in runs:
        df = r.evals.copy()
        for col in SPEC_COLUMNS:
            df[col] = getattr(r.spec, col)
        for k, v in extra.items():
            df[k] = v
        parts.append(df)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def smoothed(values: pd.Series, window: int) -> pd.Series:
    """Trailing running mean: a per-step minibatch loss is noisy, its running mean is what a reader compares."""
    return values.rolling(window=max(1, int(window)), min_periods=1).mean()
