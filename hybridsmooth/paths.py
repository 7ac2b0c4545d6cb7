"""Output paths checked before any work: a command that would train for an hour and then fail to write its
results must refuse at once, with one line naming the option and the path.

Writability is probed by creating (and removing) a file, not with ``os.access``: a process running as root
passes ``os.access`` on a read-only folder, and a read-only file system fails only at the write.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UsageError


def _probe_writable(folder: Path, option: str, shown: Path) -> None:
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.")
    except OSError as err:
        raise UsageError(
            f"{option} {str(shown)!r}: cannot write into {str(folder)!r} ({err.strerror or err})"
        ) from None
    os.close(fd)
    os.unlink(probe)


def _nearest_existing(folder: Path, option: str, shown: Path) -> Path:
    """The folder itself or the nearest folder above it that exists; refuses a file on the way."""
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{option} {str(shown)!r}: {str(parent)!r} is a file, not a folder")
            return parent
    return Path(".")


def _make_folder(folder: Path, option: str, shown: Path) -> None:
    _nearest_existing(folder, option, shown)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"{option} {str(shown)!r}: cannot create the folder ({err.strerror or err})") from None


def _folder_name(path: str | os.PathLike, option: str) -> Path:
    if str(path) == "":
        raise UsageError(f"{option} needs a folder name, got an empty string")
    return Path(path)


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Like ``ensure_output_dir`` but creates nothing: the folder, or the nearest folder above it that
    exists, must be writable and no component of the path may be a file."""
    folder = _folder_name(path, option)
    _probe_writable(_nearest_existing(folder, option, folder), option, folder)
    return folder


def ensure_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Create the folder ``path`` (and its parents) if needed and check that files can be written into it.

    Raises a one-line ``UsageError`` naming ``option`` when a component of the path is a file, the folder
    cannot be created, or nothing can be written into it.
    """
    folder = _folder_name(path, option)
    _make_folder(folder, option, folder)
    _probe_writable(folder, option, folder)
    return folder


def ensure_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check that the file ``path`` can be written (its folder is created if needed); the file itself is
    not created. Refuses an existing folder at ``path`` and an unwritable existing file."""
    target = Path(path)
    if str(path) == "":
        raise UsageError(f"{option} needs a file name, got an empty string")
    if target.is_dir():
        raise UsageError(f"{option} {str(target)!r} is a folder, not a file")
    parent = target.parent if str(target.parent) else Path(".")
    _make_folder(parent, option, target)
    _probe_writable(parent, option, target)
    if target.exists():
        try:
            with open(target, "a"):
                pass
        except OSError as err:
            raise UsageError(f"{option} {str(target)!r}: cannot write the file ({err.strerror or err})") from None
    return target
