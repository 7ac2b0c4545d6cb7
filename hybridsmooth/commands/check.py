"""``hybridsmooth check [PROBLEM ...]``: run the standard suite of theory checks (THEORY 7) and print the verdicts.

Without PROBLEM specs it runs the claims of ``hybridsmooth.theory.suite`` (all checks, or ``--only``); with
specs it runs the assumption checks that apply to those problems (and the ``--only`` checks if given); a real-model
spec (``llm:...``) gets the measured checks of ``hybridsmooth.theory.real_model`` (all ``report`` rows). Exit
status: 1 when a row that is expected to pass fails, 0 otherwise (rows that demonstrate a false statement of the
seed are expected to fail and do not count), 2 on bad arguments (refused before any check runs, output paths
included). A progress bar over the checks goes to stderr unless ``--quiet`` is given or ``--json`` writes to a
pipe (where a script, not a person, is waiting).
"""

from __future__ import annotations

import json
import sys

import pandas as pd
import torch

from .. import validate
from ..engine import json_safe
from ..errors import UsageError
from ..objectives.base import Objective
from ..paths import ensure_output_file

# Each seed is one run of a batched simulation; far beyond the full size's 500 the arrays of a check no
# longer fit in memory, and the run would take hours before failing.
MAX_SEEDS = 10_000


def add_arguments(parser) -> None:
    parser.add_argument(
        "problems",
        nargs="*",
        metavar="PROBLEM",
        help="problem specs whose stated constants to check, e.g. cauchy:dx=10,dy=4 "
        "(see `hybridsmooth problems`); none: the standard suite",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated check numbers of the suite, e.g. 8,11 (default: all; with PROBLEMs: none)",
    )
    parser.add_argument(
        "--seeds", type=int, default=None, help="seeds of the simulated checks (default: the size's own, 10-500)"
    )
    parser.add_argument(
        "--size",
        default="fast",
        choices=["fast", "full"],
        help="fast (seconds, the test sizes) or full (THEORY's sizes, minutes); default fast",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list on stdout")
    parser.add_argument(
        "--report",
        default=None,
        metavar="FILE",
        help="also write a markdown report (verdict table and one paragraph per check)",
    )
    parser.add_argument(
        "--figures",
        default="figures",
        metavar="DIR",
        help="folder of the PNGs of `hybridsmooth figures` the report links (default figures)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def _work_units(suite, only, problems, real_objectives, args) -> list:
    """The work as (label, thunk) pairs, one per suite check, problem and real model, so that progress can be
    shown between them; their frames concatenate to what one ``run_suite`` call over all of them gives."""
    from ..theory import real_model

    units = []
    if problems or only is not None or not real_objectives:
        keys = only if only is not None else ([] if problems else suite.parse_only(None))
        for key in keys:
            units.append(
                (f"check {key}", lambda key=key: suite.run_suite(only=[key], size=args.size, seeds=args.seeds))
            )
        for obj in problems:
            units.append(
                (
                    obj.spec or type(obj).__name__,
                    lambda obj=obj: suite.run_suite(size=args.size, seeds=args.seeds, problems=[obj]),
                )
            )
    for spec, objective in real_objectives:

        def measure(spec=spec, objective: Objective = objective):
            report = real_model.measure_real_model(
                objective,
                real_model.RealModelSettings.for_size(args.size),
                spec=spec,
                progress=lambda msg: print(f"# {spec}: {msg}", file=sys.stderr, flush=True),
            )
            return real_model.suite_rows(report)

        units.append((spec, measure))
    return units


def _progress(units: list, show: bool):
    """Yield each unit's thunk, with a bar on stderr naming the one that runs."""
    if not show or len(units) < 2:
        yield from (thunk for _, thunk in units)
        return
    from tqdm import tqdm

    with tqdm(total=len(units), desc="check", unit="check", file=sys.stderr, leave=False) as bar:
        for label, thunk in units:
            bar.set_postfix_str(label[:40], refresh=True)
            yield thunk
            bar.update(1)


def _table(df: pd.DataFrame) -> str:
    cols = ["check", "instance", "computed", "theoretical", "verdict", "expected", "slack"]
    view = df[cols].copy()
    view["instance"] = view["instance"].str.slice(0, 60)
    with pd.option_context("display.width", 250, "display.max_colwidth", 80, "display.max_rows", None):
        return view.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _check_options(args) -> None:
    if args.seeds is not None:
        validate.integer(
            "--seeds",
            args.seeds,
            minimum=2,
            maximum=MAX_SEEDS,
            error=UsageError,
            why="a standard error needs two; more do not fit in memory",
        )
    if args.threads is not None:
        validate.threads("--threads", args.threads)


def _show_progress(args) -> bool:
    if getattr(args, "quiet", False):
        return False
    to_terminal = getattr(sys.stdout, "isatty", lambda: False)()
    return not (args.json and not to_terminal)


def run(args) -> int:
    from ..theory import suite

    _check_options(args)
    try:
        only = suite.parse_only(args.only) if args.only is not None else None
    except ValueError as err:
        raise UsageError(f"--only: {err}") from None
    if args.report:
        ensure_output_file(args.report, "--report")
    from ..theory import real_model

    # real-model specs (llm:...) get the measured-assumption checks of theory.real_model instead of the
    # stated-constant checks (a real model states no constants)
    real_specs = [p for p in args.problems if real_model.is_real_model_spec(p)]
    problems = [p for p in args.problems if not real_model.is_real_model_spec(p)]
    if problems or real_specs:
        from ..problems import make_problem

        problems = [make_problem(spec) for spec in problems]  # SpecError -> exit 2
        real_objectives = [(spec, make_problem(spec)) for spec in real_specs]
    units = _work_units(suite, only, problems, real_objectives if real_specs else [], args)
    before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        frames = [unit() for unit in _progress(units, _show_progress(args))]
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    finally:
        torch.set_num_threads(before)
    failures = suite.gating_failures(df)
    if args.report:
        from ..theory.report import write_report

        write_report(df, args.report, size=args.size, figures_dir=getattr(args, "figures", "figures"))
    if args.json:
        rows = json_safe(df.to_dict(orient="records"))
        json.dump(rows, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        print(_table(df))
        n_exp_fail = int((df.expected == "fail").sum())
        print(
            f"\n{len(df)} rows; {len(failures)} unexpected failure(s); {n_exp_fail} row(s) expected to fail "
            f"(the paper's false statements); size={args.size}"
        )
        for _, row in failures.iterrows():
            print(f"UNEXPECTED FAIL: {row['check']} | {row['instance']}")
        if args.report:
            print(f"report written to {args.report}")
    return 1 if len(failures) else 0
