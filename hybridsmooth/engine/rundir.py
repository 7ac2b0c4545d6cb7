"""Run directories: config.json + metrics.csv + summary.json, each written atomically.

Each file is written to a temporary file in the same folder and moved into place with ``os.replace``,
so a reader never sees a half-written file and an interrupted run leaves the previous files intact.
Non-finite floats (a diverged loss) are written as JSON ``null`` so that every file is strict JSON.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CONFIG_FILE, METRICS_FILE, SUMMARY_FILE = "config.json", "metrics.csv", "summary.json"


@dataclass(frozen=True, eq=False)
class RunRecord:
    """What ``load_run`` reads back: the config, the tidy metrics and the summary."""

    path: Path
    config: dict
    metrics: pd.DataFrame
    summary: dict


def json_safe(value):
    """Recursively replace non-finite floats by None and tuples by lists (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:   # numpy / torch scalars
        return json_safe(value.item())
    return value


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_run(out_dir: str | os.PathLike, config: dict, metrics: pd.DataFrame, summary: dict) -> Path:
    """Write the three files of a run into ``out_dir`` (created if needed); returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / CONFIG_FILE, json.dumps(json_safe(config), indent=2, allow_nan=False) + "\n")
    write_atomic(out / METRICS_FILE, metrics.to_csv(index=False))
    write_atomic(out / SUMMARY_FILE, json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")
    return out


def load_run(out_dir: str | os.PathLike) -> RunRecord:
    """Read a run directory written by ``write_run``."""
    out = Path(out_dir)
    missing = [f for f in (CONFIG_FILE, METRICS_FILE, SUMMARY_FILE) if not (out / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{out} is not a complete run directory: missing {', '.join(missing)}")
    config = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))
    summary = json.loads((out / SUMMARY_FILE).read_text(encoding="utf-8"))
    return RunRecord(path=out, config=config, metrics=pd.read_csv(out / METRICS_FILE), summary=summary)


def run_config_record(*, problem: str, config, seeds: int | None, objective) -> dict:
    """The config.json contents: problem spec, full optimizer config, seeds, versions, device, dtype."""
    import dataclasses

    import torch

    from .. import __version__
    return {
        "problem": problem,
        "objective": repr(objective),
        "n": objective.n, "d_x": objective.d_x, "d_y": objective.d_y,
        "constants": objective.constants.as_dict(),
        "optimizer": dataclasses.asdict(config),
        "seeds": seeds,
        "torch_version": torch.__version__,
        "hybridsmooth_version": __version__,
        "device": str(objective.device),
        "dtype": str(objective.dtype).replace("torch.", ""),
    }
