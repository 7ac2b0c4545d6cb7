"""A markdown report of a suite run (``hybridsmooth check --report FILE``): the verdict table, one paragraph per
check (instance, what was measured, the slack), the counterexamples and repairs of check 5 / (G3) written out,
and the figures ``figures/<name>.png`` that exist (this module never creates figures)."""
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
    lines = ["| check | instance | computed | theoretical | tolerance | verdict | expected | as expected | slack |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (_, r), good in zip(df.iterrows(), ok):
        lines.append("| " + " | ".join(_cell(x) for x in (
            r["check"], r["instance"], _fmt(r["computed"]), _fmt(r["theoretical"]), _fmt(r["tolerance"]),
            r["verdict"], r["expected"], "yes" if good else "**no**", _fmt(r["slack"]))) + " |")
    return "\n".join(lines)


def _slack_sentence(rows: pd.DataFrame) -> str:
    slacks = rows.slack.dropna()
    if slacks.empty:
        return ""
    vac = int((rows.verdict == "vacuous pass").sum())
    s = f" One-sided slack (bound/measured) ranges from {slacks.min():.3g} to {slacks.max():.3g}"
    return s + (f"; {vac} row(s) pass vacuously (slack > 1e3)." if vac else ".")


def _counterexamples(rows: pd.DataFrame) -> list[str]:
    """Check 5: the (BD) and (G3) counterexamples and the repairs, from the rows' details."""
    out = []
    for _, r in rows.iterrows():
        d = r["details"] if isinstance(r["details"], dict) else {}
        if r["check"].startswith("5: seed lemma (BD) with Lambda") and r["verdict"] == "fail":
            z1 = ", ".join(f"{v:.4g}" for v in d.get("counterexample_z1", []))
            z2 = ", ".join(f"{v:.4g}" for v in d.get("counterexample_z2", []))
            out.append(f"- (BD) counterexample on {r['instance']}: z1 = ({z1}), z2 = ({z2}); the residual "
                       f"f(z1) - f(z2) - <grad f(z2), z1 - z2> - 1/2 (z1 - z2)^T Lambda (z1 - z2) = "
                       f"{_fmt(d.get('residual'))} > 0, i.e. {_fmt(d.get('residual_ratio'))} times 1/2 D^T Lambda D "
                       "(THEORY 3.2: exactly s).")
        if r["check"].startswith("5: seed lemma (G3)") and r["verdict"] == "fail":
            z = ", ".join(f"{v:.4g}" for v in d.get("counterexample_z", []))
            out.append(f"- (G3) counterexample on {r['instance']}: at z = ({z}) the ratio LHS/RHS of (G3) is "
                       f"{_fmt(r['computed'])} > 1, while (G1) and (G2) hold there (THEORY 3.3: sup = 1 + s).")
        if r["check"].startswith("5: seed lemma (BD) on b x y") and r["verdict"] == "fail":
            out.append(f"- (BD) on f = b x y with L_x = L_y = 0: residual {_fmt(r['computed'])} > 0 "
                       "(THEORY 3.2, counterexample 1).")
    repairs = rows[rows.check.str.contains("repaired")]
    if len(repairs):
        held = bool((repairs.verdict != "fail").all())
        out.append("- Repairs: (BD) with 2 Lambda (valid when grad^2 f >= 0) and with "
                   "Lambda' = diag(L_x + tau L_xy, L_y + L_xy/tau) (valid when ||grad^2_xy f|| <= L_xy) "
                   + ("hold on every instance." if held else "**fail on some instance** (see the table)."))
        out.append("- For simultaneous (Jacobi) updates the theory needs the joint condition grad^2 f <= Lambda "
                   "(THEORY 3.5, (R1)); Gauss-Seidel updates need only (H1)-(H2) (check 9).")
        out.append("- (G3) repair: (G3) follows from (BD) with the constants ell_b(2g) (THEORY 3.3); on a PSD "
                   "quadratic "
                   "it holds iff H <= diag(ell_x I, ell_y I), so ell_b scaled by 1 + s (or by 2, H >= 0) restores it; "
                   "(G1)-(G2), which the seed derives from one-block arguments, hold throughout.")
    return out


def _figures(names, base: Path, figures_dir: Path) -> list[str]:
    out = []
    for name in dict.fromkeys(names):
        png = Path(figures_dir) / f"{name}.png"
        if png.is_file():
            rel = os.path.relpath(png.resolve(), base.resolve())
            out.append(f"![{name}]({rel})")
    return out


def _details_sentence(key: str, rows: pd.DataFrame) -> str:
    """Check-specific numbers a reader wants in the paragraph."""
    dets = [d for d in rows.details if isinstance(d, dict)]
    if key == "11" and dets:
        ratios = [d["ratio_lhs_over_B"] for d in dets if "ratio_lhs_over_B" in d]
        quad = [d["ratio_lhs_over_B"] for d, inst in zip(dets, rows.instance)
                if "quadratic" in inst and "100% caps" in inst]
        s = f" LHS/B_R ranges over [{min(ratios):.3g}, {max(ratios):.3g}]" if ratios else ""
        if quad:
            s += (f"; at the caps on the coupled quadratics it is at most {max(quad):.3g} at T = {dets[0]['T']} "
                  "(THEORY 6.1 reports about 0.22 for its own T; the ratio grows with T as 3 Delta0/(nT) fades)")
        return s + "."
    if key in ("12a", "12b") and dets and "interval" in dets[0]:
        d = dets[0]
        lo, hi = d["interval"]
        s = f" Fitted slope {d['slope']:.3f}, 95% bootstrap interval [{lo:.3f}, {hi:.3f}] over T = {list(d['Ts'])}."
        if "supports" in d:
            s += f" The measurement supports {d['supports']}."
        s += (" The steps are eta_x = 1/(L_x (d_x + 2)), eta_y = 1/(n L_y) before the schedule, larger than the "
              "(C1)-(C2) caps, at which Phi does not leave its pre-asymptotic plateau within these T.")
        return s
    if key == "14" and dets:
        parts = []
        for (_, r), d in zip(rows.iterrows(), rows.details):
            if "rate" in d:
                parts.append(f"{r['check'].split(': ', 1)[1]}: empirical {d['rate']:.3g}, CP upper {r['computed']:.3g}")
            if "misuse" in r["check"]:
                parts.append(f"misuse falsifier: exit rate {r['computed']:.3g} (CP upper "
                             f"{d['clopper_pearson_upper']:.3g}) with steps {d['step_ratio_vs_theory']:.3g}x the "
                             "theory steps" + (" -- this example does not show the need for the sublevel-set "
                                               "argument" if r["computed"] < 0.1 else ""))
        return " " + "; ".join(parts) + "." if parts else ""
    return ""


def markdown_report(df: pd.DataFrame, *, size: str = "fast", base: str | Path = ".",
                    figures_dir: str | Path = "figures") -> str:
    """The whole report as a markdown string (``base``: the folder the report is written to, for figure links;
    ``figures_dir``: where ``hybridsmooth figures`` wrote the PNGs)."""
    base = Path(base)
    bad = gating_failures(df)
    lines = ["# hybridsmooth theory checks", "",
             f"Size `{size}`; {len(df)} results; {len(bad)} unexpected failure(s) among rows expected to pass; "
             f"{int((df.expected == 'fail').sum())} row(s) demonstrate statements of the seed that THEORY shows false "
             "(expected to fail). A vacuous pass (slack > 1e3) is a pass that says little.", "",
             "## Verdicts", "", verdict_table(df), ""]
    for key, rows in df.groupby("key", sort=False):
        entry = REGISTRY.get(key)
        title = f"Check {key}: {entry.title}" if entry else "Assumptions of the given problems"
        lines += [f"## {title}", ""]
        text = entry.summary if entry else ("Secant ratios, sample variances, (R1) and (BD) at sampled points against "
                                            "each problem's stated constants; a sampled maximum is only a lower bound "
                                            "on the supremum.")
        n_fail = int((rows.verdict == "fail").sum())
        ok = bool(as_expected(rows).all())
        text += (f" {len(rows)} result(s), {n_fail} failing, "
                 + ("all as expected." if ok else "**some not as expected**.")
                 + f" Seeds: {int(rows.seeds.max())}; samples per row up to {int(rows.samples.max())}; "
                 f"{float(rows.seconds.iloc[0]):.2f} s.")
        text += _slack_sentence(rows) + _details_sentence(key, rows)
        lines += [text, ""]
        if key == "5":
            lines += _counterexamples(rows) + [""]
        if entry:
            lines += _figures(entry.figures, base, Path(figures_dir))
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_report(df: pd.DataFrame, path: str | Path, *, size: str = "fast",
                 figures_dir: str | Path = "figures") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown_report(df, size=size, base=path.parent, figures_dir=figures_dir))
    return path
