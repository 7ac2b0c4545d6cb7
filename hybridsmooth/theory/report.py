"""A markdown report of a suite run (``hybridsmooth check --report FILE``): the verdict table, one paragraph per
check (instance, what was measured, the slack, and the numbers its claim module names), the lines a claim module
adds after its paragraph (check 5's counterexamples and repairs), and the figures ``figures/<name>.png`` that
exist (this module never creates figures)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from .suite import REGISTRY, as_expected, gating_failures


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _cell(text) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def verdict_table(df: pd.DataFrame) -> str:
    """Markdown table: one row per result, with whether the verdict is the expected one."""
    ok = as_expected(df)
    lines = [
        "| check | instance | computed | theoretical | tolerance | verdict | expected | as expected | slack |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (_, r), good in zip(df.iterrows(), ok):
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    r["check"],
                    r["instance"],
                    _fmt(r["computed"]),
                    _fmt(r["theoretical"]),
                    _fmt(r["tolerance"]),
                    r["verdict"],
                    r["expected"],
                    "yes" if good else "**no**",
                    _fmt(r["slack"]),
                )
            )
            + " |"
        )
    return "\n".join(lines)


def _slack_sentence(rows: pd.DataFrame) -> str:
    slacks = rows.slack.dropna()
    if slacks.empty:
        return ""
    vac = int((rows.verdict == "vacuous pass").sum())
    s = f" One-sided slack (bound/measured) ranges from {slacks.min():.3g} to {slacks.max():.3g}"
    return s + (f"; {vac} row(s) pass vacuously (slack > 1e3)." if vac else ".")


def _figures(names, base: Path, figures_dir: Path) -> list[str]:
    out = []
    for name in dict.fromkeys(names):
        png = Path(figures_dir) / f"{name}.png"
        if png.is_file():
            rel = os.path.relpath(png.resolve(), base.resolve())
            out.append(f"![{name}]({rel})")
    return out


def markdown_report(
    df: pd.DataFrame, *, size: str = "fast", base: str | Path = ".", figures_dir: str | Path = "figures"
) -> str:
    """The whole report as a markdown string (``base``: the folder the report is written to, for figure links;
    ``figures_dir``: where ``hybridsmooth figures`` wrote the PNGs)."""
    base = Path(base)
    bad = gating_failures(df)
    lines = [
        "# hybridsmooth theory checks",
        "",
        f"Size `{size}`; {len(df)} results; {len(bad)} unexpected failure(s) among rows expected to pass; "
        f"{int((df.expected == 'fail').sum())} row(s) demonstrate statements of the paper that THEORY shows false "
        "(expected to fail). A vacuous pass (slack > 1e3) is a pass that says little.",
        "",
        "## Verdicts",
        "",
        verdict_table(df),
        "",
    ]
    for key, rows in df.groupby("key", sort=False):
        claim = REGISTRY.get(key)
        title = f"Check {key}: {claim.TITLE}" if claim else "Assumptions of the given problems"
        lines += [f"## {title}", ""]
        text = (
            claim.SUMMARY
            if claim
            else (
                "Secant ratios, sample variances, (R1) and (BD) at sampled points against "
                "each problem's stated constants; a sampled maximum is only a lower bound "
                "on the supremum."
            )
        )
        n_fail = int((rows.verdict == "fail").sum())
        ok = bool(as_expected(rows).all())
        text += (
            f" {len(rows)} result(s), {n_fail} failing, "
            + ("all as expected." if ok else "**some not as expected**.")
            + f" Seeds: {int(rows.seeds.max())}; samples per row up to {int(rows.samples.max())}; "
            f"{float(rows.seconds.iloc[0]):.2f} s."
        )
        text += _slack_sentence(rows) + (claim.report_sentence(rows) if claim else "")
        lines += [text, ""]
        notes = getattr(claim, "report_notes", None)
        if notes is not None:
            lines += notes(rows) + [""]
        if claim:
            lines += _figures(claim.FIGURES, base, Path(figures_dir))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    df: pd.DataFrame, path: str | Path, *, size: str = "fast", figures_dir: str | Path = "figures"
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown_report(df, size=size, base=path.parent, figures_dir=figures_dir))
    return path
