"""Grid files: a TOML or YAML grid expanded into run descriptions (the axes' cartesian product, or an
explicit ``runs`` list), and a list of descriptions written back as a grid (``figures --write-grid``).

Split from ``engine.sweep`` (which plans, runs and collects what a grid names); ``engine.sweep`` re-exports
``Grid``, ``read_grid``, ``expand`` and ``write_grid``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..optim.hybrid_sgd import METHODS, HybridSGDConfig
from .run_description import RunDescription
from .rundir import write_atomic

_RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunDescription) if f.name not in ("problem", "optimizer"))
_OPT_FIELDS = tuple(f.name for f in dataclasses.fields(HybridSGDConfig))
_PLURALS = {"problems": "problem", "methods": "method"}
# a run's length and checkpoint interval are not its identity: two lengths would name one folder
_NOT_AXES = ("epochs", "steps", "checkpoint_every", "seeds")


@dataclass(frozen=True)
class Grid:
    root: Path
    descriptions: tuple[RunDescription, ...]


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
