"""Sweeps: a grid file expanded into run descriptions, one run folder each, run until all are finished.

A grid file (TOML, or YAML with the same keys) names the problems, methods and optimizer settings; a key
whose value is a list is an axis of the grid (the sweep is the cartesian product of its axes), a scalar is
fixed. Instead of axes a grid may list its runs (``[[runs]]`` tables, a YAML list), each entry one run with
the keys of a grid point, for sets of runs that are no product (``hybridsmooth figures --write-grid``).
Each description lives in ``<root>/<content_hash>``, so the folders alone say what is done: re-running a
sweep skips finished runs, continues partial ones from their checkpoints and starts the rest. Nothing is
kept in memory between commands; ``collect`` reads its table from the folders.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from ..errors import UsageError
from ..optim.hybrid_sgd import METHODS, HybridSGDConfig
from .run_description import RunDescription
from .rundir import CHECKPOINT_FILE, COMPLETE_FILE, CONFIG_FILE, SUMMARY_FILE, load_run, open_run_folder, write_atomic

FAILED_FILE = "failed.json"
STATES = ("new", "finished", "partial", "failed", "conflict")
_RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunDescription) if f.name not in ("problem", "optimizer"))
_OPT_FIELDS = tuple(f.name for f in dataclasses.fields(HybridSGDConfig))
_PLURALS = {"problems": "problem", "methods": "method"}
# a run's length and checkpoint interval are not its identity: two lengths would name one folder
_NOT_AXES = ("epochs", "steps", "checkpoint_every", "seeds")


@dataclass(frozen=True)
class Grid:
    root: Path
    descriptions: tuple[RunDescription, ...]


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its place in the plan's order, what it is, where it lives and how far it got."""

    index: int
    description: RunDescription
    folder: Path
    state: str
    note: str = ""


# --- the grid ------------------------------------------------------------------------------------------------
_YAML_SUFFIXES = (".yaml", ".yml")


def read_grid(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Grid:
    """Parse and expand a grid file (TOML, or YAML by its .yaml/.yml suffix); ``root`` (``--root``) replaces
    the file's ``root``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot read the grid {path}: {err.strerror or err}") from None
    data = _parse_yaml(text, path) if path.suffix.lower() in _YAML_SUFFIXES else _parse_toml(text, path)
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a grid is a table of keys, got {type(data).__name__}")
    where = root if root is not None else data.get("root")
    if where is None:
        raise UsageError(f'{path}: give root = "DIR" in the grid or --root DIR')
    if not isinstance(where, (str, os.PathLike)) or not str(where):
        raise UsageError(f"{path}: root must be a folder path, got {where!r}")
    return Grid(Path(where), expand(data, what=str(path)))


def _parse_toml(text: str, path: Path) -> dict:
    tomllib = _toml_reader()
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path} is not valid TOML: {err}") from None


def _toml_reader():
    # tomllib is in the standard library from Python 3.11; the package still installs on 3.10
    try:
        import tomllib
    except ModuleNotFoundError:
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise UsageError("reading a grid needs Python 3.11 or later (or pip install tomli)") from None
    return tomllib


def _parse_yaml(text: str, path: Path):
    try:
        import yaml
    except ModuleNotFoundError:
        raise UsageError(f"{path}: a YAML grid needs PyYAML (pip install pyyaml), or write the grid in TOML") from None
    try:
        return yaml.load(text, Loader=_yaml_loader(yaml))  # a SafeLoader: plain data only
    except yaml.YAMLError as err:
        raise UsageError(f"{path} is not valid YAML: {' '.join(str(err).split())}") from None


def _yaml_loader(yaml):
    """PyYAML's safe loader, but reading 1e-3 as a number: YAML 1.1 wants a dot (1.0e-3) and would hand the
    grid the string '1e-3', where TOML (and YAML 1.2) read a float."""
    import re

    class GridLoader(yaml.SafeLoader):
        pass

    number = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
    GridLoader.add_implicit_resolver("tag:yaml.org,2002:float", number, list("-+0123456789."))
    return GridLoader


def expand(data: dict, what: str = "grid") -> tuple[RunDescription, ...]:
    """The distinct descriptions of a parsed grid, in a deterministic order: with a ``runs`` list, its runs in
    the listed order; otherwise the cartesian product (problems, then methods, then the other axes in the
    order the grid names them)."""
    if "runs" in data:
        return _expand_runs(data, what)
    settings = _flatten(data, what)
    if "problem" not in settings:
        raise UsageError(f'{what}: give problems = ["SPEC", ...]')
    for name in _NOT_AXES:
        if isinstance(settings.get(name), list) and name != "seeds":
            raise UsageError(f"{what}: {name} must be one value, not a list (a run's length is not an axis)")
    axes = {k: v for k, v in settings.items() if isinstance(v, list) and k != "seeds"}
    empty = [k for k, v in axes.items() if not v]
    if empty:
        raise UsageError(f"{what}: empty list for {', '.join(empty)}")
    order = ["problem", "method"] + [k for k in axes if k not in ("problem", "method")]
    names = [k for k in order if k in axes]
    seen: dict[str, RunDescription] = {}
    for values in itertools.product(*(axes[k] for k in names)):
        point = {**settings, **dict(zip(names, values))}
        description = _describe(point, what)
        seen.setdefault(description.content_hash(), description)
    return tuple(seen.values())


def _expand_runs(data: dict, what: str) -> tuple[RunDescription, ...]:
    """An explicit list of runs (``[[runs]]``), for sets that are no product; the grid's other keys are
    settings every run shares and an entry overrides. Axes do not mix with it (which would they multiply?)."""
    data = dict(data)
    entries = data.pop("runs")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{what}: runs must be a non-empty list of tables ([[runs]]), got {entries!r}")
    shared = _flatten(data, what)
    axes = [k for k, v in shared.items() if isinstance(v, list) and k != "seeds"]
    if axes:
        raise UsageError(f"{what}: {', '.join(axes)}: a grid with a runs list takes one value per key, not axes")
    seen: dict[str, RunDescription] = {}
    for i, entry in enumerate(entries):
        where = f"{what}: runs[{i}]"
        if not isinstance(entry, dict):
            raise UsageError(f"{where} must be a table of one run's keys, got {entry!r}")
        point = {**shared, **_flatten(entry, where, allow_root=False)}
        lists = [k for k, v in point.items() if isinstance(v, list) and k != "seeds"]
        if lists:
            raise UsageError(f"{where}: {', '.join(lists)} must be one value, not a list (an entry is one run)")
        if "problem" not in point:
            raise UsageError(f'{where}: give problem = "SPEC" (in the entry or for all runs)')
        _add_once(seen, _describe(point, where), where)
    return tuple(seen.values())


def _add_once(seen: dict[str, RunDescription], description: RunDescription, where: str) -> None:
    """A repeated run is listed once; the same run at another length or checkpoint interval would share one
    folder with it (``<root>/<content_hash>``), so it is refused."""
    key = description.content_hash()
    other = seen.setdefault(key, description)
    if other != description:
        raise UsageError(f"{where}: the same run as an earlier entry with another length; give each run once")


def _flatten(data: dict, what: str, allow_root: bool = True) -> dict:
    """Top-level keys and the [optimizer] table in one namespace, plural names made singular."""
    data = dict(data)
    if allow_root:
        data.pop("root", None)
    optimizer = data.pop("optimizer", {})
    if not isinstance(optimizer, dict):
        raise UsageError(f"{what}: optimizer must be a table ([optimizer]), got {optimizer!r}")
    accepted = (*(("root", "runs") if allow_root else ()), "problem", *_PLURALS, *_RUN_FIELDS, *_OPT_FIELDS)
    unknown = [str(k) for k in data if k not in accepted]
    unknown += [f"optimizer.{k}" for k in optimizer if k not in _OPT_FIELDS]
    if unknown:
        raise UsageError(f"{what}: unknown keys {', '.join(unknown)} (accepted: {', '.join(accepted)}, [optimizer])")
    settings = {}
    for key, value in [*data.items(), *optimizer.items()]:
        name = _PLURALS.get(key, key)
        if name in settings:
            raise UsageError(f"{what}: {name} is given twice")
        settings[name] = value
    return settings


def _describe(point: dict, what: str) -> RunDescription:
    opt = {k: v for k, v in point.items() if k in _OPT_FIELDS}
    run = {k: v for k, v in point.items() if k in _RUN_FIELDS}
    method = opt.get("method", HybridSGDConfig.method)
    for block, mode in zip("xy", METHODS.get(method, ())):
        if mode == "frozen":  # the method ignores this block's step-size axis
            opt[f"eta_{block}"] = 0.0
    label = f"{point['problem']} {' '.join(f'{k}={v}' for k, v in opt.items())}"
    try:
        return RunDescription(point["problem"], HybridSGDConfig(**opt), **run)
    except (ValueError, TypeError) as err:
        raise UsageError(f"{what}: run {label}: {err}") from None


def write_grid(path: str | os.PathLike, root: str | os.PathLike, descriptions) -> Path:
    """Write ``descriptions`` as a grid file that lists its runs (TOML, or YAML by the .yaml/.yml suffix)
    with ``root`` as the folder of their run folders; ``read_grid`` gives back the same descriptions."""
    path = Path(path)
    seen: dict[str, RunDescription] = {}
    for i, description in enumerate(descriptions):
        _add_once(seen, description, f"{path}: runs[{i}]")
    runs = [_grid_entry(d) for d in seen.values()]
    if path.suffix.lower() in _YAML_SUFFIXES:
        import yaml

        text = yaml.safe_dump({"root": str(root), "runs": runs}, sort_keys=False, width=1000)
    else:
        text = "\n".join([f"root = {_toml_value(str(root))}", *(_toml_run(run) for run in runs)]) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)
    return path


def _grid_entry(description: RunDescription) -> dict:
    """One run as the flat keys of a grid point; a None is left out (it is the default of every field that
    may be None, and TOML has no null)."""
    data = description.to_dict()
    flat = {"problem": data.pop("problem"), **data.pop("optimizer"), **data}
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in flat.items() if v is not None}


def _toml_run(run: dict) -> str:
    return "\n[[runs]]\n" + "\n".join(f"{k} = {_toml_value(v)}" for k, v in run.items())


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # Python's repr of a float (1e-05, inf, nan) is a TOML float
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML value for {value!r}")


# --- folder states ---------------------------------------------------------------------------------------------
def plan(grid: Grid) -> list[PlannedRun]:
    """Every run of the grid with its folder and state, in the grid's order."""
    folders = [grid.root / d.content_hash() for d in grid.descriptions]
    return [PlannedRun(i, d, f, *folder_state(f, d)) for i, (d, f) in enumerate(zip(grid.descriptions, folders))]


def folder_state(folder: Path, description: RunDescription) -> tuple[str, str]:
    """(state, note): ``finished`` when complete.json and config.json name this run at this length;
    ``partial`` when a run was started (or finished shorter) and can be continued; ``failed`` when it raised;
    ``conflict`` when the folder holds something a resume cannot reach (a longer run, another run)."""
    config = _read(folder / CONFIG_FILE)
    complete = _read(folder / COMPLETE_FILE)
    failed = _read(folder / FAILED_FILE)
    if config is not None:
        stored = config.get("run") or {}
        if config.get("run_hash") != description.content_hash():
            return "conflict", f"{folder / CONFIG_FILE} holds another run"
        have, want = _length(stored), _length(description.to_dict())
        if have > want:
            return "conflict", f"holds {have} epochs/steps, the grid asks for {want}"
        if complete is not None and complete.get("run_hash") == config["run_hash"] and have == want:
            return "finished", ""
    if failed is not None:
        return "failed", f"{failed.get('type', 'Error')}: {failed.get('error', '')}"
    if config is not None or (folder / CHECKPOINT_FILE).exists():
        return "partial", ""
    return "new", ""


def _length(run: dict) -> int:
    return run.get("steps") or (run.get("optimizer") or {}).get("epochs", 0)


def _read(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def counts(runs: list[PlannedRun]) -> dict[str, int]:
    return {"runs": len(runs), **{s: sum(r.state == s for r in runs) for s in STATES}}


def shard(runs: list[PlannedRun], text: str | None) -> list[PlannedRun]:
    """The runs of shard ``i/N``: those whose plan index % N == i (all runs for None)."""
    if text is None:
        return runs
    i, sep, n = text.partition("/")
    if not (sep and i.isdigit() and n.isdigit() and int(n) >= 1 and int(i) < int(n)):
        raise UsageError(f"--shard takes i/N with 0 <= i < N, e.g. 0/4; got {text!r}")
    return [r for r in runs if r.index % int(n) == int(i)]


# --- running -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    index: int
    folder: str
    status: str  # finished | diverged | failed | interrupted | skipped
    message: str = ""


def run_all(
    runs: list[PlannedRun],
    *,
    workers: int | None = 1,
    threads: int | None = None,
    report: Callable | None = None,
    executor: str = "local",
    options: dict | None = None,
) -> list[Outcome]:
    """Run every run that is not finished, calling ``report(outcome)`` as each ends. A run that raises writes
    failed.json and the others go on.

    ``executor``: ``local`` runs ``workers`` processes (1 runs here, in this process); ``ray`` and ``slurm``
    hand the runs to ``engine.sweep_executors.run_ray`` / ``run_submitit`` with ``options`` (their keyword
    arguments), ``workers`` meaning runs at once there (None: the executor's default)."""
    todo = [r for r in runs if r.state not in ("finished", "conflict")]
    outcomes = [_skipped(r) for r in runs if r not in todo]
    report = report or (lambda outcome: None)
    for outcome in outcomes:
        report(outcome)
    jobs = [(r.index, r.description.to_dict(), str(r.folder)) for r in todo]
    if executor != "local":
        # nothing to run: no cluster to start or job array to submit
        return outcomes + (_run_elsewhere(executor, jobs, workers, threads, report, options or {}) if jobs else [])
    workers = workers or 1
    if workers <= 1 or len(jobs) <= 1:
        with _threads(threads or 1):
            for job in jobs:
                outcomes.append(run_one(*job))
                report(outcomes[-1])
                if outcomes[-1].status == "interrupted":
                    break
        return outcomes
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(threads or 1,)
    )
    with pool:
        futures = {pool.submit(run_one, *job): job for job in jobs}
        try:
            for future in as_completed(futures):
                outcome = _result(future, futures[future])
                outcomes.append(outcome)
                report(outcome)
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return outcomes


def _run_elsewhere(executor: str, jobs: list, workers, threads, report: Callable, options: dict) -> list[Outcome]:
    from . import sweep_executors  # imports ray or submitit only when asked for

    run = {"ray": sweep_executors.run_ray, "slurm": sweep_executors.run_submitit}[executor]
    return run(jobs, workers=workers, threads=threads, report=report, **options)


def _result(future, job) -> Outcome:
    try:
        return future.result()
    except BaseException as err:  # the worker process itself died (killed, out of memory)
        return job_lost(job, err)


def job_lost(job: tuple, err: BaseException) -> Outcome:
    """The outcome of a job ``(index, description, folder)`` whose worker died without returning one: its
    folder gets failed.json, so that ``status`` names it; the next ``sweep run`` continues it."""
    index, _, folder = job
    _write_failed(Path(folder), err)
    return Outcome(index, folder, "failed", _one_line(err))


def _skipped(run: PlannedRun) -> Outcome:
    if run.state == "conflict":
        return Outcome(run.index, str(run.folder), "failed", run.note)
    summary = _read(run.folder / SUMMARY_FILE) or {}
    diverged = bool(summary.get("diverged_seeds") or summary.get("diverged"))
    return Outcome(run.index, str(run.folder), "diverged" if diverged else "skipped")


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


@contextmanager
def _threads(count: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_one(index: int, description: dict, folder: str) -> Outcome:
    """Run (or continue) one planned run in ``folder``; never raises for a failure of the run itself."""
    from .execute import execute
    from .interrupt import RunInterrupted

    path = Path(folder)
    try:
        desc = RunDescription.from_dict(description)
        # a checkpoint is all a resume needs; without one nothing is lost by starting again
        resume = (path / CHECKPOINT_FILE).is_file() and (path / CONFIG_FILE).is_file()
        path.mkdir(parents=True, exist_ok=True)
        with open_run_folder(path, resume=resume, overwrite=not resume) as opened:
            result = execute(desc, folder=opened)
    except RunInterrupted as err:
        return Outcome(index, folder, "interrupted", _one_line(err))
    except Exception as err:
        _write_failed(path, err)
        return Outcome(index, folder, "failed", _one_line(err))
    (path / FAILED_FILE).unlink(missing_ok=True)
    diverged = bool(getattr(result, "diverged", False))
    return Outcome(index, folder, "diverged" if diverged else "finished", getattr(result, "diagnosis", "") or "")


def _write_failed(folder: Path, err: BaseException) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {"error": _one_line(err), "type": type(err).__name__, "traceback": traceback.format_exc()}, indent=2
        )
        write_atomic(folder / FAILED_FILE, text + "\n")
    except OSError:  # the folder itself is unwritable: the outcome still says why
        pass


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


# --- collecting ----------------------------------------------------------------------------------------------------
def collect(runs: list[PlannedRun]) -> tuple[pd.DataFrame, list[PlannedRun]]:
    """One tidy table of the finished runs' metrics (``runs`` as ``plan`` read them from their folders), each row
    labelled with its run's description as stored in its folder (the metrics' own columns win where names
    clash: they are what the run used); and the runs left out because they are not finished."""
    frames, missing = [], []
    for run in runs:
        if run.state != "finished":
            missing.append(run)
            continue
        record = load_run(run.folder)
        stored = RunDescription.from_dict(record.config["run"])
        labels = {
            "run_hash": record.config["run_hash"],
            "problem": stored.problem,
            # the optimizer's seed keys the run's random streams; metrics' "seed" is the seed index in the batch
            **{("run_seed" if k == "seed" else k): v for k, v in dataclasses.asdict(stored.optimizer).items()},
            "seeds": stored.seeds if isinstance(stored.seeds, int) else ",".join(map(str, stored.seeds or ())),
            "folder": str(run.folder),
        }
        metrics = record.metrics
        front = pd.DataFrame({k: [v] * len(metrics) for k, v in labels.items() if k not in metrics.columns})
        frames.append(pd.concat([front, metrics.reset_index(drop=True)], axis=1))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return table, missing
