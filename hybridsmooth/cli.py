"""hybridsmooth command line: estimate | train | sweep | claim | check | figures | demo | problems.

Thin by design: parse, call one function of a command module, print, map user errors to exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from . import __version__
from .errors import UsageError

# sub-command -> module in hybridsmooth.commands with add_arguments(parser) and run(args) -> int
COMMANDS = {
    "train": "train a problem with reshuffling hybrid SGD or a baseline; writes config.json + metrics.csv",
    "sweep": "plan, run, inspect and collect a grid of runs (a TOML file), one run folder each; resumable",
    "claim": "test the paper's accuracy claim: tuned on dev, seeded, paired, with intervals; resumable",
    "estimate": "estimate block smoothness constants (L_x, L_y, L_xy, traces, spectra) by Hessian-vector products",
    "check": "check the theorem's assumptions and bounds; prints a verdict table, exits 1 if an expected pass fails",
    "figures": (
        "build the figures (theory figures now; paper figures listed) from stored run tables; --rerun redoes the runs"
    ),
    "demo": "the main job on embedded defaults; prints where its outputs went",
    "problems": "list the problem specs and their keys",
}


# argparse takes "-1e-4" for an option (its own pattern knows only -1 and -1.5), so `--eta-x -1e-4` would fail
# with "expected one argument" instead of reaching the check that names the real problem (a negative step)
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str):  # one line, exit status 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hybridsmooth", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"hybridsmooth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(f"hybridsmooth.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("hybridsmooth.commands"):
                continue
            raise
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_module", None) is None:
        parser.print_help()
        return 2
    try:
        status = int(args._module.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not at exit where it could not be handled
        return status
    except UsageError as err:
        print(f"hybridsmooth {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`hybridsmooth problems | head -1`): not an error of ours. Point stdout at
        # devnull so that the interpreter's final flush does not raise again.
        _silence_stdout()
        return 1


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by an object without a file descriptor
        pass


if __name__ == "__main__":
    sys.exit(main())
