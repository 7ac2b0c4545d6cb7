"""Run folders: one folder holds exactly one run, written so that no reader is ever misled.

A run folder holds ``config.json`` (what the run is, with the hash of its identity), ``metrics.csv``,
``summary.json``, optional extra tables (``evals.csv``) and a checkpoint, and ``complete.json``, written
last. The rules:

* Every file is written to a uniquely named temporary file in the same folder, flushed to disk (fsync) and
  moved into place with ``os.replace``: a reader never sees a half-written file. Files get the mode the
  umask allows (``tempfile`` alone would make them 0600, unreadable to a shared group).
* ``complete.json`` is written after everything else and removed before anything is rewritten, so a
  folder without it is a run that is still going, was interrupted or crashed; ``load_run`` refuses it.
* A process that writes a folder holds an exclusive ``flock`` on the folder itself (released by the
  kernel when the process dies, even by ``kill -9``): a second writer is refused at once.
* ``open_run_folder`` refuses a folder that already holds a run unless the caller resumes that very run
  (the same identity hash) or asks to overwrite it (then every run file is removed first).

Non-finite floats (a diverged loss) are written as JSON ``null`` so that every file is strict JSON.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import UsageError
from ..objectives.base import Objective

if TYPE_CHECKING:  # run_description imports this module
    from .run_description import RunDescription

CONFIG_FILE, METRICS_FILE, SUMMARY_FILE = "config.json", "metrics.csv", "summary.json"
EVALS_FILE, CHECKPOINT_FILE, COMPLETE_FILE = "evals.csv", "checkpoint.pt", "complete.json"
RUN_FILES = (CONFIG_FILE, METRICS_FILE, SUMMARY_FILE, EVALS_FILE, CHECKPOINT_FILE, COMPLETE_FILE)
# config keys that say how long a run is, how often it saved or what wrote it, not which run it is: a
# resumed run may extend its length, and a run written by another version of the code is still the same run.
# Paths are relative to the run description (``config["run"]``), or to the config itself when it has none.
_VOLATILE_KEYS = {
    ("optimizer", "epochs"),
    ("steps",),
    ("checkpoint_every",),
    ("model_run", "steps"),
    ("model_run", "checkpoint_every"),
    ("torch_version",),
    ("hybridsmooth_version",),
    ("run_hash",),
    ("threads",),
    ("cpu",),
    ("gpu",),
}


@dataclass(frozen=True, eq=False)
class RunRecord:
    """What ``load_run`` reads back: the config, the tidy metrics, the summary and any extra tables."""

    path: Path
    config: dict
    metrics: pd.DataFrame
    summary: dict
    tables: dict = field(default_factory=dict)


def json_safe(value):
    """Recursively replace non-finite floats by None and tuples by lists (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy / torch scalars
        return json_safe(value.item())
    return value


def _json_text(value) -> str:
    return json.dumps(json_safe(value), indent=2, allow_nan=False) + "\n"


def _file_mode() -> int:
    # the umask can only be read by setting it; set it back at once
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, data: str | bytes | None = None, *, save=None) -> None:
    """Write ``data`` (text or bytes) or call ``save(tmp_path)`` into a temporary file beside ``path``,
    fsync it and rename it over ``path``. A crash leaves either the old file or the new one, never a mix."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode())
        if save is None:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
                fh.flush()
                os.fsync(fh.fileno())
        else:
            os.close(fd)
            save(tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def _identity(config: dict) -> dict:
    """The part of a config that names the run: its description when it has one (what the objective, device
    and versions recorded beside it follow from), else the whole config."""
    run = config.get("run")
    return run if isinstance(run, dict) else config


def run_hash(config: dict) -> str:
    """The identity of a run: a hash of its description without the keys that only say how long it ran or
    how often it saved (a resumed run keeps its hash when it is extended). ``RunDescription.content_hash``
    is this hash, so a sweep can name a run's folder before the run exists."""

    def strip(value, prefix=()):
        if isinstance(value, dict):
            return {k: strip(v, prefix + (k,)) for k, v in value.items() if prefix + (k,) not in _VOLATILE_KEYS}
        return value

    text = json.dumps(json_safe(strip(_identity(config))), sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _run_files_present(folder: Path) -> list[str]:
    return [
        p.name for p in folder.iterdir() if p.name in RUN_FILES or (p.name.startswith(".") and p.name.endswith(".tmp"))
    ]


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UsageError(f"{path}: cannot read the {what} ({err})") from None


class RunFolder:
    """A run folder held for writing by this process (see the module docstring); use as a context manager
    or call ``release``. Create it with ``open_run_folder``."""

    def __init__(self, path: Path, fd: int, *, resume: bool):
        self.path, self._fd, self.resume = path, fd, resume
        self.config: dict | None = None
        self._started_at: float | None = None

    # --- lifecycle ------------------------------------------------------------------------------------
    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    # --- writing ----------------------------------------------------------------------------------------
    def start(self, config: dict) -> dict:
        """Record ``config`` as the folder's run (adding its ``run_hash``); on resume, check that the folder
        holds the same run. Returns the config as written. Removes the completion marker first, so that the
        folder reads as unfinished until ``finish``."""
        config = dict(config)
        config["run_hash"] = self.check_resume(config) if self.resume else run_hash(config)
        (self.path / COMPLETE_FILE).unlink(missing_ok=True)
        write_atomic(self.path / CONFIG_FILE, _json_text(config))
        self.config = config
        self._started_at = time.time()
        return config

    def check_resume(self, config: dict) -> str:
        """The run hash of ``config`` if the folder holds that same run, else a one-line UsageError."""
        stored = self.stored_config()
        if stored is None:
            raise UsageError(f"nothing to resume: {self.path} holds no run (no {CONFIG_FILE})")
        new_hash = run_hash(config)
        if stored.get("run_hash") != new_hash:
            raise UsageError(
                f"--resume: {self.path} holds a different run ({_config_diff(stored, config)}); "
                "give the same problem and options, or --overwrite to replace it"
            )
        return new_hash

    def stored_config(self) -> dict | None:
        path = self.path / CONFIG_FILE
        return _read_json(path, "run config") if path.is_file() else None

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        write_atomic(self.path / name, frame.to_csv(index=False))

    def write_json(self, name: str, value: dict) -> None:
        write_atomic(self.path / name, _json_text(value))

    def update_config(self, **changes) -> None:
        """Change length fields of the recorded config (a resumed run says how long the folder's run is)."""
        if self.config is None:
            raise RuntimeError("start() the run folder before updating its config")
        config = dict(self.config)
        for key, value in changes.items():
            section, _, name = key.partition(".")
            if name:
                config[section] = {**config.get(section, {}), name: value}
            else:
                config[section] = value
        if run_hash(config) != config["run_hash"]:
            raise ValueError(f"update_config may change only the run's length, not its identity: {changes}")
        write_atomic(self.path / CONFIG_FILE, _json_text(config))
        self.config = config

    def finish(self, metrics: pd.DataFrame, summary: dict, tables: dict | None = None) -> Path:
        """Write the metrics, extra tables and summary, then the completion marker (last)."""
        if self.config is None:
            raise RuntimeError("start() the run folder before finishing it")
        for name, frame in (tables or {}).items():
            self.write_table(name, frame)
        self.write_table(METRICS_FILE, metrics)
        self.write_json(SUMMARY_FILE, summary)
        self.write_json(
            COMPLETE_FILE,
            {
                "complete": True,
                "run_hash": self.config["run_hash"],
                "files": sorted([METRICS_FILE, SUMMARY_FILE, *(tables or {})]),
                # wall-clock times of this sitting (a resumed run's last one): a git checkout or a copy
                # resets the files' own times, which a report of where the hours went cannot then read
                "started_at": self._started_at,
                "finished_at": time.time(),
            },
        )
        return self.path


def _config_diff(stored: dict, new: dict) -> str:
    """A short list of the top-level config entries that differ (what a user needs to fix a resume)."""
    stored, new = _identity(stored), _identity(new)
    parts = []
    for key in sorted(set(stored) | set(new)):
        if (key,) in _VOLATILE_KEYS:  # what wrote the run, or how long it ran: not which run it is
            continue
        a, b = stored.get(key), json_safe(new.get(key))
        if isinstance(a, dict) and isinstance(b, dict):
            parts += [
                f"{key}.{k}: {a.get(k)!r} there, {b.get(k)!r} here"
                for k in sorted(set(a) | set(b))
                if a.get(k) != b.get(k) and (key, k) not in _VOLATILE_KEYS
            ]
        elif a != b:
            parts.append(f"{key}: {a!r} there, {b!r} here")
    return "; ".join(parts[:4]) + (" ..." if len(parts) > 4 else "") if parts else "its hash differs"


def _lock(folder: Path) -> int:
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise UsageError(f"run folder {folder} is being written by another process") from None
        raise
    return fd


def check_run_folder(
    path: str | os.PathLike, *, resume: bool = False, overwrite: bool = False, option: str = "--out"
) -> Path:
    """The refusals of ``open_run_folder`` that need no lock, without creating anything: call it before
    expensive work (loading a model) so that a bad ``--out`` costs nothing; ``open_run_folder`` checks again."""
    from ..paths import check_output_dir

    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other: continue the run or replace it")
    folder = check_output_dir(path, option)
    present = _run_files_present(folder) if folder.is_dir() else []
    _refuse_conflict(folder, present, resume=resume, overwrite=overwrite, option=option)
    return folder


def _refuse_conflict(folder: Path, present: list[str], *, resume: bool, overwrite: bool, option: str) -> None:
    if resume:
        if CONFIG_FILE not in present:
            raise UsageError(f"nothing to resume: {folder} holds no run (no {CONFIG_FILE})")
    elif present and not overwrite:
        state = "a finished run" if COMPLETE_FILE in present else "an unfinished run"
        raise UsageError(
            f"{option} {folder} already holds {state}; give --resume to continue it, "
            "--overwrite to replace it, or another folder"
        )


def open_run_folder(
    path: str | os.PathLike, *, resume: bool = False, overwrite: bool = False, option: str = "--out"
) -> RunFolder:
    """Create (if needed), check and lock a run folder for writing; see the module docstring.

    Refused with a one-line ``UsageError`` (before any work): a path that is not a writable folder, a
    folder another process is writing, a folder that already holds a run when neither ``resume`` nor
    ``overwrite`` is given, and ``resume`` of a folder that holds no run. ``overwrite`` removes the run
    files (and only those) of the run that was there.
    """
    from ..paths import ensure_output_dir

    check_run_folder(path, resume=resume, overwrite=overwrite, option=option)
    folder = ensure_output_dir(path, option)
    fd = _lock(folder)
    try:
        present = _run_files_present(folder)  # again under the lock: another writer may have come and gone
        _refuse_conflict(folder, present, resume=resume, overwrite=overwrite, option=option)
        if present and not resume:
            (folder / COMPLETE_FILE).unlink(missing_ok=True)  # first: never a marker beside half-removed files
            for name in present:
                (folder / name).unlink(missing_ok=True)
    except BaseException:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        raise
    return RunFolder(folder, fd, resume=resume)


def write_run(
    out_dir: str | os.PathLike, config: dict, metrics: pd.DataFrame, summary: dict, *, tables: dict | None = None
) -> Path:
    """Write a finished run into ``out_dir`` in one go, replacing any run that was there (the folder then
    holds this run only); returns the folder."""
    with open_run_folder(out_dir, overwrite=True) as folder:
        folder.start(config)
        return folder.finish(metrics, summary, tables)


def load_run(out_dir: str | os.PathLike) -> RunRecord:
    """Read a finished run folder; refuses one without its completion marker or whose files disagree."""
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"{out} is not a run folder")
    marker = out / COMPLETE_FILE
    if not marker.is_file():
        have = CONFIG_FILE in _run_files_present(out)
        raise FileNotFoundError(
            f"{out} is not a finished run: no {COMPLETE_FILE} "
            + (
                "(interrupted, crashed or still running; --resume continues it)"
                if have
                else "(no run was written there)"
            )
        )
    info = _read_json(marker, "completion marker")
    missing = [f for f in (CONFIG_FILE, METRICS_FILE, SUMMARY_FILE, *info.get("files", ())) if not (out / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{out} is not a complete run folder: missing {', '.join(missing)}")
    config = _read_json(out / CONFIG_FILE, "run config")
    if config.get("run_hash") != info.get("run_hash") or run_hash(config) != config.get("run_hash"):
        raise FileNotFoundError(f"{out}: config.json does not belong to the run the completion marker names")
    summary = _read_json(out / SUMMARY_FILE, "summary")
    tables = {f: pd.read_csv(out / f) for f in info.get("files", ()) if f not in (METRICS_FILE, SUMMARY_FILE)}
    return RunRecord(path=out, config=config, metrics=pd.read_csv(out / METRICS_FILE), summary=summary, tables=tables)


def run_config_record(description: RunDescription, objective: Objective) -> dict:
    """The config.json contents: the run description (``run``, what ``RunDescription.from_dict`` reads back)
    and what follows from it on this machine: the objective's sizes and constants, versions, device, dtype."""
    return {
        "run": description.to_dict(),
        "objective": repr(objective),
        "n": objective.n,
        "d_x": objective.d_x,
        "d_y": objective.d_y,
        "constants": objective.constants.as_dict(),
        "device": str(objective.device),
        "gpu": accelerator_name(objective.device),
        "dtype": str(objective.dtype).replace("torch.", ""),
        **environment_record(),
    }


def accelerator_name(device) -> str | None:
    """The GPU's model name for a CUDA device (its kernels decide the last bits as a CPU's do), else None."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.cuda.get_device_name(device)


def environment_record() -> dict:
    """What wrote a result: versions, and what decides the order of float reductions (the same seed gives the
    same bits only with the same thread count and CPU kernels)."""
    import torch

    from .. import __version__

    return {
        "torch_version": torch.__version__,
        "hybridsmooth_version": __version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_name(),
    }


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``, else the machine type."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
