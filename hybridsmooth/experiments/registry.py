"""The experiments registry: each figure is a named experiment = a config -> runs (CSV tables beside their
config.json) -> one plotting function that reads only the stored tables (the figures issue; THEORY 8).

Rebuilding a plot never retrains: ``plot(tables_dir, png_path)`` sees the folder ``run`` wrote and nothing else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from ..engine.rundir import environment_record, json_safe, write_atomic
from ..errors import UsageError

if TYPE_CHECKING:
    from ..engine.run_description import RunDescription

Kind = Literal["paper", "theory"]
Mode = Literal["quick", "full"]
MODES: tuple[str, ...] = ("quick", "full")
CONFIG_FILE = "config.json"
ENVIRONMENT_FILE = "environment.json"


@dataclass(frozen=True)
class Experiment:
    """One figure. ``run(config, out_dir)`` writes ``config.json`` and the CSV tables into ``out_dir``;
    ``plot(tables_dir, png_path)`` draws from those tables only. ``main_table`` is the CSV copied next to the
    PNG; ``required`` lists the tables (and config keys) a run must produce and a plot may read. ``runs(config)``
    lists the training runs of ``run`` as descriptions without training them (``figures --write-grid``)."""

    name: str
    title: str
    caption: str
    kind: Kind
    quick: Mapping[str, object]
    full: Mapping[str, object]
    run: Callable[[Mapping[str, object], Path], None]
    plot: Callable[[Path, Path], None]
    main_table: str
    tables: tuple[str, ...] = ()
    required_keys: tuple[str, ...] = ()
    implemented: bool = True
    validate: Callable[[Mapping[str, object]], None] | None = field(default=None, compare=False)
    # the runs ``run`` trains, listed without training (a sweep can run them elsewhere); None: it trains none
    runs: Callable[[Mapping[str, object]], list[RunDescription]] | None = field(default=None, compare=False)

    def config(self, mode: Mode) -> dict:
        if mode not in MODES:
            raise UsageError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")
        return dict(self.quick if mode == "quick" else self.full)


def config_int(config: Mapping[str, object], key: str, *, minimum: int = 1) -> int:
    """``config[key]`` as an integer >= minimum, else a UsageError naming the key (shared config checks)."""
    v = config.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise UsageError(f"config {key!r} must be an integer >= {minimum}, got {v!r}")
    return v


def config_positive(config: Mapping[str, object], key: str) -> float:
    """``config[key]`` as a finite number > 0, else a UsageError naming the key."""
    v = config.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise UsageError(f"config {key!r} must be a finite number > 0, got {v!r}")
    return float(v)


def config_positive_list(config: Mapping[str, object], key: str) -> list[float]:
    """``config[key]`` as a non-empty list of positive numbers, in the given order (the theory figures' lists)."""
    v = config.get(key)
    if not isinstance(v, (list, tuple)) or not v or not all(isinstance(t, (int, float)) and t > 0 for t in v):
        raise UsageError(f"config {key!r} must be a non-empty list of positive numbers, got {v!r}")
    return [float(t) for t in v]


def config_rates(config: Mapping[str, object], key: str) -> list[float]:
    """``config[key]`` as a non-empty list of finite positive numbers, sorted and without repeats."""
    v = config.get(key)
    if (
        not isinstance(v, (list, tuple))
        or not v
        or not all(not isinstance(t, bool) and isinstance(t, (int, float)) and math.isfinite(t) and t > 0 for t in v)
    ):
        raise UsageError(f"config {key!r} must be a non-empty list of positive numbers, got {v!r}")
    return sorted({float(t) for t in v})


def validate_config(exp: Experiment, config: Mapping[str, object]) -> None:
    """Raise UsageError when a config lacks a key the experiment needs or fails its own validator."""
    missing = [k for k in exp.required_keys if k not in config]
    if missing:
        raise UsageError(f"experiment {exp.name!r}: config lacks {', '.join(missing)}")
    if exp.validate is not None:
        exp.validate(config)


def write_config(out_dir: Path, config: Mapping[str, object]) -> None:
    """config.json (what ``figures`` compares to reuse stored tables) and, beside it, environment.json (what
    wrote them: versions, thread count, CPU; not part of the comparison)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / CONFIG_FILE, json.dumps(json_safe(dict(config)), indent=2, allow_nan=False) + "\n")
    write_atomic(out_dir / ENVIRONMENT_FILE, json.dumps(environment_record(), indent=2) + "\n")


def read_config(tables_dir: Path) -> dict:
    return json.loads((Path(tables_dir) / CONFIG_FILE).read_text(encoding="utf-8"))


def write_table(out_dir: Path, name: str, table: pd.DataFrame) -> Path:
    """Write one CSV table atomically (a reader never sees half a table)."""
    path = Path(out_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, table.to_csv(index=False))
    return path


def read_table(tables_dir: Path, name: str) -> pd.DataFrame:
    path = Path(tables_dir) / name
    if not path.is_file():
        raise UsageError(f"missing table {path}; run the experiment first (figures --rerun)")
    return pd.read_csv(path)


def tables_exist(exp: Experiment, tables_dir: Path) -> bool:
    """True when a previous run left every table of ``exp`` and its config in ``tables_dir``."""
    d = Path(tables_dir)
    return (d / CONFIG_FILE).is_file() and all((d / t).is_file() for t in (exp.main_table, *exp.tables))


def stored_mode(tables_dir: Path) -> str | None:
    try:
        return read_config(tables_dir).get("mode")
    except (OSError, ValueError):
        return None


def select(names: str | None, experiments: Mapping[str, Experiment]) -> list[Experiment]:
    """The experiments named in a comma list (None or '' = all); unknown names -> UsageError listing the
    accepted ones."""
    if not names:
        return list(experiments.values())
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in experiments]
    if unknown or not wanted:
        raise UsageError(
            f"unknown figure name(s) {', '.join(unknown) or repr(names)}; accepted: {', '.join(experiments)}"
        )
    return [experiments[n] for n in dict.fromkeys(wanted)]
