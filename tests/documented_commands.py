"""The commands the documents show a reader, found and parsed the way their own programs would parse them.

A command is a line of a fenced block, or an inline code span, that starts the package's command line
(``hybridsmooth ...``), one of its modules (``python -m hybridsmooth.X ...``, ``torchrun ... -m hybridsmooth.X``)
or a benchmark script (``[python] benchmarks/X.py ...``). Environment settings before it and a ``# comment``
after it are dropped. Parsing goes through the program's own entry (``runpy``) with argparse stopped right after
it has accepted the arguments, so nothing runs: what fails is an option the program does not have, a value
outside its choices, a missing required argument, or a code span whose line break falls inside an argument
(Markdown shows a line break in a code span as a space, which is also what a reader copies). A program that has
not stopped at its argument parser after ``PARSE_SECONDS`` is interrupted and reported. The repository paths
that inline spans name (``documented_paths``) are gathered the same way, for a test that they exist.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import runpy
import shlex
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "figures/README.md", "figures/full/README.md")
PARSE_SECONDS = 60  # imports included; parsing itself takes milliseconds

_ENV = r"(?:[A-Z_][A-Z0-9_]*=\S*\s+)*"
_PY = r"(?:\S*/)?python3?\s+"
_ENTRY = re.compile(
    rf"^{_ENV}(?:(?:\S*/)?hybridsmooth(?:\s|$)|{_PY}-m\s+hybridsmooth[\w.]*|(?:{_PY})?benchmarks/\w+\.py|"
    rf"torchrun\s.*?-m\s+hybridsmooth[\w.]*)"
)
# a span naming a command rather than running it: `hybridsmooth train`, `hybridsmooth claim report`
_MENTION = re.compile(r"^hybridsmooth(?:\s+[a-z_]+){0,2}$")


@dataclass(frozen=True)
class Command:
    """A place in a document (its name and line) and the command or path written there."""

    document: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: {self.text}"


def _strip_comment(line: str) -> str:
    return re.split(r"\s+#\s", line, maxsplit=1)[0].strip()


def commands_in(text: str, document: str = "?") -> list[Command]:
    """Every command of ``text``, with the line it starts on; a command continued by a trailing backslash is
    joined, and a code span's line breaks become spaces, as Markdown shows them."""
    found: list[Command] = []
    fenced = list(re.finditer(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M))
    for block in fenced:
        first = text.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).split("\n")
        i = 0
        while i < len(lines):
            start, line = i, lines[i]
            while line.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1] + " " + lines[i].strip()
            line = _strip_comment(line)
            if _ENTRY.match(line):
                found.append(Command(document, first + start, line))
            i += 1
    prose = _prose(text)
    for span in re.finditer(r"(?<!`)`([^`]+)`(?!`)", prose):
        body = " ".join(span.group(1).split())
        if _ENTRY.match(body) and not _MENTION.match(body):
            found.append(Command(document, text.count("\n", 0, span.start()) + 1, body))
    return sorted(found, key=lambda c: c.line)


# a path of the repository named in prose: it must exist (build outputs excepted: made by `make docs`)
_REPO_PATH = re.compile(r"^(?:figures|benchmarks|hybridsmooth|tests|docs|examples)/[\w./-]*$")
_BUILT = ("docs/_build",)


def _prose(text: str) -> str:
    """``text`` with its fenced blocks blanked, line breaks kept, so that inline spans pair up as shown."""
    return re.sub(r"^```.*?^```", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S | re.M)


def paths_in(text: str, document: str = "?") -> list[Command]:
    """Every repository path an inline code span of ``text`` names, as (document, line, path)."""
    prose, found = _prose(text), []
    for span in re.finditer(r"(?<!`)`([^`]+)`(?!`)", prose):
        for word in span.group(1).split():
            word = word.strip("(),;:'\"")
            if _REPO_PATH.match(word) and not word.startswith(_BUILT):
                found.append(Command(document, text.count("\n", 0, span.start()) + 1, word))
    return found


def documented_paths() -> list[Command]:
    return [p for name in DOCUMENTS for p in paths_in((ROOT / name).read_text(), name)]


def documented_commands() -> list[Command]:
    out: list[Command] = []
    for name in DOCUMENTS:
        out += commands_in((ROOT / name).read_text(), name)
    return out


class _Accepted(BaseException):
    """Raised in place of running a program once argparse has accepted its arguments."""


class _Overran(BaseException):
    """Raised in a program that is still running ``PARSE_SECONDS`` after it started."""


def _overran(signum, frame):
    raise _Overran


def _target(words: list[str]) -> tuple[str, str, list[str]]:
    """("module" or "path", what to run, its arguments) for the words of a command."""
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        words = words[1:]
    head = words[0].rsplit("/", 1)[-1]
    if head == "hybridsmooth":
        return "module", "hybridsmooth.cli", words[1:]
    if head == "torchrun":
        m = words.index("-m")
        return "module", words[m + 1], words[m + 2 :]
    if re.match(r"python3?$", head):
        words = words[1:]
    if words[0] == "-m":
        return "module", words[1], words[2:]
    return "path", str(ROOT / words[0]), words[1:]


def _alternatives(words: list[str]) -> list[list[str]]:
    """``--reorth auto|full`` is notation for two commands: one list of words per alternative."""
    for i, w in enumerate(words):
        if "|" in w and not w.startswith(("'", '"')):
            return [v for alt in w.split("|") for v in _alternatives(words[:i] + [alt] + words[i + 1 :])]
    return [words]


def parse_error(command: Command) -> str | None:
    """None when the program accepts the command's arguments, else what it said (its usage error)."""
    for words in _alternatives(shlex.split(command.text)):
        kind, target, argv = _target(words)
        if kind == "path" and not Path(target).is_file():
            return f"no such script: {target}"
        err = _parse(kind, target, argv)
        if err is not None:
            return err
    return None


def _parse(kind: str, target: str, argv: list[str]) -> str | None:
    original = argparse.ArgumentParser.parse_args

    def accept(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Accepted

    saved_argv, stderr = sys.argv, io.StringIO()
    sys.argv = [target, *argv]
    argparse.ArgumentParser.parse_args = accept
    previous = signal.signal(signal.SIGALRM, _overran)
    signal.alarm(PARSE_SECONDS)
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            if kind == "module":
                runpy.run_module(target, run_name="__main__", alter_sys=False)
            else:
                runpy.run_path(target, run_name="__main__")
    except _Accepted:
        return None
    except _Overran:
        return f"still running after {PARSE_SECONDS} s: it does not stop at an argparse parser"
    except SystemExit as stop:
        if stop.code in (0, None):  # --help, --version
            return None
        return stderr.getvalue().strip() or f"exit status {stop.code}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        argparse.ArgumentParser.parse_args = original
        sys.argv = saved_argv
    return "the program returned without parsing its arguments"
