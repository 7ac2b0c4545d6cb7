"""The standard suite of theory checks (THEORY 7) at full size: verdicts, slacks, high-probability rates, slopes.

Prints, from one run of ``hybridsmooth.theory.suite.run_suite(size="full")``:

1. the verdict table (one line per result, with its expected verdict);
2. the slack (bound / measured) of every one-sided upper bound, smallest first, vacuous ones marked;
3. the empirical delta of each high-probability claim of check 14 with its Clopper-Pearson 95% upper bound;
4. the fitted log-log slopes of check 12 with their 95% bootstrap intervals;
5. wall time per check and in total.

Exit status 1 when a row expected to pass fails (as ``hybridsmooth check``).

    .venv/bin/python benchmarks/bound_checks.py                   # full size (several minutes on one core)
    .venv/bin/python benchmarks/bound_checks.py --only 11,12a     # a subset
    .venv/bin/python benchmarks/bound_checks.py --size fast       # the test sizes (seconds)
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd
import torch

from hybridsmooth.theory import suite


def _print_table(df: pd.DataFrame) -> None:
    view = df[["key", "check", "instance", "computed", "theoretical", "verdict", "expected", "slack"]].copy()
    view["instance"] = view["instance"].str.slice(0, 70)
    with pd.option_context("display.width", 260, "display.max_colwidth", 90, "display.max_rows", None):
        print(view.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _print_slacks(df: pd.DataFrame) -> None:
    upper = df[df.details.map(lambda d: isinstance(d, dict) and d.get("sense") == "upper") & df.slack.notna()]
    upper = upper.sort_values("slack")
    print(f"\n== slack of the one-sided upper bounds ({len(upper)} rows; bound/measured, smallest first) ==")
    for _, r in upper.iterrows():
        mark = "  VACUOUS" if r.verdict == "vacuous pass" else ("  FAIL" if r.verdict == "fail" else "")
        print(f"  {r.slack:12.4g}  {r.check[:70]:70s} | {r.instance[:80]}{mark}")


def _print_rates(df: pd.DataFrame) -> None:
    rows = df[(df.key == "14")]
    if rows.empty:
        return
    print("\n== check 14: empirical rates with Clopper-Pearson 95% upper bounds ==")
    for _, r in rows.iterrows():
        d = r.details
        if "rate" in d:
            print(
                f"  {r.check[4:]:70s} rate {d['rate']:.4g} ({d['successes']}/{r.samples}), CP upper "
                f"{r.computed:.4g} vs {r.theoretical:.4g} -> {r.verdict}"
            )
        elif "misuse" in r.check:
            print(
                f"  {r.check[4:]:70s} rate {r.computed:.4g} ({d['exits']}/{r.samples}), CP upper "
                f"{d['clopper_pearson_upper']:.4g}; steps {d['step_ratio_vs_theory']:.3g}x theory -> {r.verdict} "
                f"(reported, not gating)"
            )
        else:
            print(f"  {r.check[4:]:70s} measured {r.computed:.4g} vs {r.theoretical:.4g} (slack {r.slack:.3g})")
    d = rows.iloc[0].details
    print(
        f"  constants: F = {d['F']:.4g} ({d['F_iterations']} iterations, monotone={d['F_monotone']}), "
        f"L_x(F) = {d['L_x(F)']:.4g}, G = {d['G']:.4g}, eta_x = {d['eta_x']:.3g}, eta_y = {d['eta_y']:.3g}"
    )


def _print_slopes(df: pd.DataFrame) -> None:
    rows = df[df.key.isin(["12a", "12b"])]
    if rows.empty:
        return
    print("\n== check 12: fitted slopes of log Phi vs log T (95% bootstrap over seeds) ==")
    for _, r in rows.iterrows():
        d = r.details
        if "asymptotic slope" in r.check:
            print(
                f"  {r.key:4s} exact recursion (quadratic, with replacement): slope {r.computed:+.4f} "
                "vs -0.5 +- 0.05 "
                f"-> {r.verdict}"
            )
        if "interval" not in d:
            continue
        lo, hi = d["interval"]
        print(
            f"  {r.key:4s} slope {d['slope']:+.4f}  [{lo:+.4f}, {hi:+.4f}]  bound {r.theoretical:+.4f} -> {r.verdict}"
            f"  T = {list(d['Ts'])}"
        )
        if "supports" in d:
            print(f"       supports: {d['supports']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated check keys (default: all)")
    parser.add_argument("--size", default="full", choices=["fast", "full"])
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    df = suite.run_suite(only=suite.parse_only(args.only), size=args.size, seeds=args.seeds)
    total = time.perf_counter() - start
    print(f"== verdicts (size {args.size}) ==")
    _print_table(df)
    _print_slacks(df)
    _print_rates(df)
    _print_slopes(df)
    print("\n== wall time per check ==")
    for key, secs in df.groupby("key", sort=False).seconds.first().items():
        print(f"  check {key:4s} {secs:8.1f} s")
    bad = suite.gating_failures(df)
    print(
        f"\n{len(df)} rows; {len(bad)} unexpected failure(s); {int((df.expected == 'fail').sum())} expected "
        f"failure(s) (the seed's false statements); total {total:.1f} s"
    )
    return 1 if len(bad) else 0


if __name__ == "__main__":
    sys.exit(main())
