"""``hybridsmooth check [PROBLEM ...]``: run the standard suite of theory checks (THEORY 7) and print the verdicts.

Without PROBLEM specs it runs the registry of ``hybridsmooth.theory.suite`` (all checks, or ``--only``); with
specs it runs the assumption checks that apply to those problems (and the ``--only`` checks if given); a real-model
spec (``llm:...``) gets the measured checks of ``hybridsmooth.theory.real_model`` (all ``report`` rows). Exit
status: 1 when a row that is expected to pass fails, 0 otherwise (rows that demonstrate a false statement of the
seed are expected to fail and do not count), 2 on bad arguments.
"""
from __future__ import annotations

import json
import sys

import pandas as pd
import torch

from ..engine import json_safe
from ..errors import UsageError


def add_arguments(parser) -> None:
    parser.add_argument("problems", nargs="*", metavar="PROBLEM",
                        help="problem specs whose stated constants to check, e.g. cauchy:dx=10,dy=4 "
                             "(see `hybridsmooth problems`); none: the standard suite")
    parser.add_argument("--only", default=None,
                        help="comma-separated check numbers of the suite, e.g. 8,11 "
                             "(default: all; with PROBLEMs: none)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds of the simulated checks (default: the size's own, 10-500)")
    parser.add_argument("--size", default="fast", choices=["fast", "full"],
                        help="fast (seconds, the test sizes) or full (THEORY's sizes, minutes); default fast")
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list on stdout")
    parser.add_argument("--report", default=None, metavar="FILE",
                        help="also write a markdown report (verdict table and one paragraph per check)")
    parser.add_argument("--figures", default="figures", metavar="DIR",
                        help="folder of the PNGs of `hybridsmooth figures` the report links (default figures)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")


def _table(df: pd.DataFrame) -> str:
    cols = ["check", "instance", "computed", "theoretical", "verdict", "expected", "slack"]
    view = df[cols].copy()
    view["instance"] = view["instance"].str.slice(0, 60)
    with pd.option_context("display.width", 250, "display.max_colwidth", 80, "display.max_rows", None):
        return view.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def run(args) -> int:
    from ..theory import suite

    if args.seeds is not None and args.seeds < 2:
        raise UsageError(f"--seeds must be an integer >= 2, got {args.seeds}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be a positive integer, got {args.threads}")
    try:
        only = suite.parse_only(args.only) if args.only is not None else None
    except ValueError as err:
        raise UsageError(f"--only: {err}") from None
    from ..theory import real_model

    # real-model specs (llm:...) get the measured-assumption checks of theory.real_model instead of the
    # stated-constant checks (a real model states no constants)
    real_specs = [p for p in args.problems if real_model.is_real_model_spec(p)]
    problems = [p for p in args.problems if not real_model.is_real_model_spec(p)]
    if problems or real_specs:
        from ..problems import make_problem

        problems = [make_problem(spec) for spec in problems]       # SpecError -> exit 2
        real_objectives = [(spec, make_problem(spec)) for spec in real_specs]
    before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        frames = []
        if problems or only is not None or not real_specs:
            frames.append(suite.run_suite(only=only, size=args.size, seeds=args.seeds, problems=problems or None))
        for spec, objective in (real_objectives if real_specs else ()):
            report = real_model.measure_real_model(
                objective, real_model.RealModelSettings.for_size(args.size), spec=spec,
                progress=lambda msg: print(f"# {spec}: {msg}", file=sys.stderr, flush=True))
            frames.append(real_model.suite_rows(report))
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
        print(f"\n{len(df)} rows; {len(failures)} unexpected failure(s); {n_exp_fail} row(s) expected to fail "
              f"(the seed's false statements); size={args.size}")
        for _, row in failures.iterrows():
            print(f"UNEXPECTED FAIL: {row['check']} | {row['instance']}")
        if args.report:
            print(f"report written to {args.report}")
    return 1 if len(failures) else 0
