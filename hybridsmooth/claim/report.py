"""The claim test's verdicts in words, and its report (markdown) from the analysed tables."""

from __future__ import annotations

import math

import pandas as pd

from .cells import CONTROL, Cell
from .plots import LABELS
from .stats import RANK_PLAN_MOST, SEEDS_MOST, SIGN_FLIP_EXACT, SIGN_FLIP_RESAMPLES
from .tables import DROP, zo_precisions


def _num(value, digits: int = 3) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int,)) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e6):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def markdown_table(frame: pd.DataFrame, columns=None) -> str:
    frame = frame if columns is None else frame[[c for c in columns if c in frame.columns]]
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_num(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _points(value: float) -> str:
    return f"{100 * value:+.1f}" if math.isfinite(value) else "-"


def _planned(row) -> str:
    """What a 1-point difference would take at this spread (absent from tables analysed before it existed)."""
    seeds = getattr(row, "seeds_to_detect_planned", math.nan)
    if not (isinstance(seeds, (int, float)) and not math.isnan(seeds)):
        return ""
    line = f"; a 1-point difference would need {_seeds(seeds, SEEDS_MOST)} paired seeds at this spread"
    by_rank = getattr(row, "seeds_to_detect_by_rank", math.nan)
    if isinstance(by_rank, (int, float)) and not math.isnan(by_rank):
        line += f" ({_seeds(by_rank, RANK_PLAN_MOST)} on the typical seed, by the signed-rank test)"
    return line


def _seeds(seeds: float, most: int) -> str:
    return f"more than {most}" if math.isinf(seeds) else f"{int(seeds)}"


def _sign_flip(row) -> str:
    """The sign-flip test's p-value, said as exact where every sign pattern was counted, else as drawn."""
    if row.pairs <= SIGN_FLIP_EXACT:
        return (
            f"exact sign-flip p = {row.sign_flip_p:.3g}, the smallest {row.pairs} pairs can give being "
            f"{row.smallest_possible_p:.3g}"
        )
    return f"sign-flip p = {row.sign_flip_p:.3g} from {SIGN_FLIP_RESAMPLES:,} seeded sign patterns"


def _typical(row) -> str:
    """The Hodges-Lehmann difference and its signed-rank interval (absent from tables analysed before it)."""
    low, high = getattr(row, "hodges_lehmann_low", math.nan), getattr(row, "hodges_lehmann_high", math.nan)
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    rank_p = getattr(row, "signed_rank_p", math.nan)
    return (
        f"; the typical seed (Hodges-Lehmann): {_points(row.hodges_lehmann)} [{_points(low)}, {_points(high)}] "
        f"({100 * row.hodges_lehmann_level:.1f}%"
        + (f"; signed-rank p = {rank_p:.3g})" if math.isfinite(rank_p) else ")")
    )


def verdicts(frames: dict) -> dict:
    """One line per comparison (test accuracy), the control's and FO-PEFT's levelling, as a dict."""
    out = {}
    paired = frames["paired"]
    where = {"test_accuracy": "at the best dev checkpoint", "final_test_accuracy": "at the end of the run"}
    # the control's pair after the claim's: the difference rounding alone makes, beside the ones it qualifies
    with_control = _joined(paired, frames.get("control_paired"))
    for row in with_control[with_control["metric"].isin(list(where))].itertuples():
        name = row.comparison.replace(" - ", " vs ") + ("" if row.metric == "test_accuracy" else " (end)")
        out[name] = (
            f"{row.comparison}: {_points(row.mean_difference)} points of test accuracy {where[row.metric]} "
            f"[{_points(row.low)}, {_points(row.high)}] over {row.pairs} paired seeds: {row.verdict} "
            f"(detectable at 80% power: {100 * row.detectable_difference:.1f} points; {_sign_flip(row)})"
            + _planned(row)
            + _typical(row)
        )
    if not len(paired):  # a folder of one method, run to be pooled with the others, has no pair to judge
        out["comparisons"] = "none: no two of the compared methods ran here (`claim pool` joins folders)"
    collapses = _joined(frames.get("collapses", pd.DataFrame()), frames.get("control_collapses"))
    for row in collapses.itertuples():
        a, b = row.comparison.split(" - ")
        out[f"{a} vs {b} (collapses)"] = (
            f"late collapses (diverged, or dev accuracy {100 * DROP:.0f}+ points below its best at the end): "
            f"{a} {row.collapsed_a}/{row.pairs} seeds, {b} {row.collapsed_b}/{row.pairs}; exact McNemar "
            f"p = {row.mcnemar_p:.3g}"
        )
    control = frames["control"]
    if len(control):
        worst = control["max_relative_dev_loss_difference"].max()
        matched = int(control["matches_to_rounding"].sum())
        out["control"] = f"hybrid at eta_x = 0 against FO-PEFT on {len(control)} seeds: " + (
            "matches to rounding on every seed" if matched == len(control) else
            f"DOES NOT match to rounding on {len(control) - matched} (matches on {matched})"
        ) + f"; largest relative dev-loss difference {worst:.2g} along the run"  # fmt: skip
        apart = control[control["first_step_apart"].notna()]
        if len(apart):
            out["control"] += "; apart from step " + ", ".join(_apart(row) for row in apart.to_dict("records"))
    lev = frames["levelled"]
    fo = lev[lev["method"] == "fo_peft"]
    if len(fo):
        row = fo.iloc[0]
        if math.isfinite(row["last_quarter_share"]):
            out["fo_peft_levelled"] = (
                f"FO-PEFT's dev loss {'has levelled off' if row['levelled'] else 'is still falling'}: the last "
                f"quarter of the run lowered its best mean dev loss by {100 * row['last_quarter_share']:.0f}% of "
                "the whole decrease"
            )
        else:  # no decrease to take a share of: too few steps or evaluations, or a step too small to move it
            out["fo_peft_levelled"] = (
                f"FO-PEFT's mean dev loss never fell below its start ({row['dev_loss_start']:.4g}) at the "
                "evaluations of the run: whether it levels off cannot be read from it (more steps, or evaluations "
                "more often)"
            )
    return out


def _joined(frame: pd.DataFrame, more: pd.DataFrame | None) -> pd.DataFrame:
    return frame if more is None or more.empty else pd.concat([frame, more], ignore_index=True)


def _apart(row: dict) -> str:
    """Where one seed's control and FO-PEFT came apart, and how: which run diverged, if one did."""
    step, seed = int(row["first_step_apart"]), int(row["seed"])
    diverged = [
        f"{who} diverged at {int(row[f'{key}_diverged_at'])}"
        for who, key in (("the control", "control"), ("FO-PEFT", "fo_peft"))
        if math.isfinite(row.get(f"{key}_diverged_at", math.nan))
    ]
    return f"{step} on seed {seed}" + (f" ({', '.join(diverged)})" if diverged else "")


def _selection_steps(selection: pd.DataFrame, steps: int) -> list[str]:
    """A paragraph where the selected step sizes were chosen on runs of another length than this folder's (an
    earlier claim's selection given to ``claim run --steps N --selection``): the dev split chose them for that
    budget, not this one."""
    chosen = selection[selection["selected"].astype(bool) & ~selection["diverged"].astype(bool)]
    other = sorted({int(s) for s in chosen["steps_done"]} - {int(steps)})
    if not other:
        return []
    return [
        f"The selected step sizes were chosen on runs of {' and '.join(map(str, other))} steps; this folder's runs "
        f"take {steps}, so the dev split did not choose them for this budget.",
        "",
    ]


def render(
    cell: Cell, frames: dict, selection: pd.DataFrame, constants: dict, meta: dict, *, rule: str, per_seed=None
) -> str:
    """The report; the methods and seeds it names are those of ``per_seed`` (the runs analysed) when given."""
    v = verdicts(frames)
    seeds, control_seeds = list(cell.seeds), list(cell.control_seeds)
    if per_seed is not None and len(per_seed):
        control = per_seed["method"] == CONTROL
        seeds = sorted(int(s) for s in set(per_seed.loc[~control, "seed"]))
        control_seeds = sorted(int(s) for s in set(per_seed.loc[control, "seed"]))
    lines = [
        f"# Claim test, cell `{cell.name}`",
        "",
        f"{cell.notes}. {cell.steps} steps per run, "
        + (
            f"seeds {seeds} (paired: the same splits, adapter initialisation and sample order for every method), "
            if seeds
            else "no method's seeded runs (the control's folder, to be pooled), "
        )
        + (f"the eta_x = 0 control on seeds {control_seeds}." if control_seeds else "no eta_x = 0 control."),
    ]
    if meta.get("run_minutes") is not None:
        lines.append(
            f"{meta['runs']} runs, {meta['run_minutes']:.0f} run-minutes "
            + (
                "(model loading and evaluations included), "
                if meta.get("span_minutes") is not None
                else "(their training steps, as each run timed them), "
            )
            + _wall_time(meta)
            + (
                f"; the last `claim run` took {meta['wall_seconds'] / 60:.0f} min with {meta['workers']} worker(s)."
                if meta.get("wall_seconds")
                else "."
            )
        )
    if per_seed is not None and len(per_seed):
        other = {m: p for m, p in zo_precisions(per_seed).items() if p != "plain"}
        if other:
            lines.append(
                "ZO precision (`zo.precision`): "
                + ", ".join(f"{LABELS.get(m, m)} {p}" for m, p in other.items())
                + "; every other method plain."
            )
    if meta.get("pooled_from"):
        lines.append("Pooled (`claim pool`) from " + "; ".join(_pooled_part(p) for p in meta["pooled_from"]) + ".")
    if meta.get("machines"):
        lines.append(f"Ran on: {'; '.join(meta['machines'])}.")
    lines += ["", "## Verdicts", "", *[f"- {text}" for text in v.values()], ""]
    methods = frames["methods"].copy()
    methods["method"] = [LABELS.get(m, m) for m in methods["method"]]
    lines += [
        "## Accuracy (mean and 95% bootstrap interval over seeds)",
        "",
        "test_accuracy: at the run's best dev evaluation (MeZO's best checkpoint); final_test_accuracy: at the end "
        "of the run; dev_loss: at the end of the run; dropped_at_end: seeds whose dev accuracy fell 10 points "
        "or more from its best by the end.",
        "",
        markdown_table(
            methods,
            [
                "method",
                "seeds",
                "diverged",
                "eta_x",
                "eta_y",
                "test_accuracy",
                "test_accuracy_low",
                "test_accuracy_high",
                "final_test_accuracy",
                "final_test_accuracy_low",
                "final_test_accuracy_high",
                "dev_loss",
                "dev_loss_low",
                "dev_loss_high",
                "dropped_at_end",
            ],
        ),  # fmt: skip
        "",
        "## Paired differences",
        "",
        markdown_table(
            frames["paired"],
            [
                "comparison",
                "metric",
                "pairs",
                "mean_difference",
                "low",
                "high",
                "detectable_difference",
                "seeds_to_detect_planned",
                "seeds_to_detect_by_rank",
                "hodges_lehmann",
                "hodges_lehmann_low",
                "hodges_lehmann_high",
                "sign_flip_p",
                "signed_rank_p",
                "verdict",
            ],
        ),
        "",
        "Verdict: the wider of the bootstrap and paired t intervals excludes zero. sign_flip_p: the paired "
        f"permutation test, which assumes no normality (exact up to {SIGN_FLIP_EXACT} pairs, else from "
        f"{SIGN_FLIP_RESAMPLES:,} seeded sign patterns, the observed one counted). seeds_to_detect_planned: the "
        "paired seeds at which a true difference of 1 point of test accuracy would be detected with 80% power, "
        "if the spread of these seeds' differences is the true one (a plan, as uncertain as that spread: a few "
        "collapses widen it, and the t test it rests on assumes the differences are roughly normal; inf: more than "
        f"{SEEDS_MOST}). seeds_to_detect_by_rank: the same plan for the signed-rank test of the typical seed, "
        "by simulated experiments drawn from these seeds' differences moved to a 1-point centre (a few failed "
        f"seeds count there by their share, not their size; inf: more than {RANK_PLAN_MOST}). "
        "hodges_lehmann: the typical difference, the median of the pairwise means of the per-seed "
        "differences, with the interval of the exact signed-rank test (95%, or the nearest level the seeds allow: "
        "the verdict lines give it); a few seeds that fail apart from the rest move it by a rank, where they move "
        "the mean by their size. signed_rank_p: the signed-rank test of a zero typical difference, the "
        "sign-flip test of the signed ranks (so exact given the ties up to the same number of pairs, drawn "
        "beyond). The verdict is the mean's.",
        "",
        "## Late collapses",
        "",
        f"A run collapsed when it diverged or its dev accuracy ended {100 * DROP:.0f} points or more below its "
        "best; a: the first method of the comparison, b: the second; only_a, only_b: seeds where only that one "
        "collapsed.",
        "",
        markdown_table(frames["collapses"]) if len(frames.get("collapses", [])) else "(no pairs)",
        "",
        f"## Steps and seconds to the target dev loss ({_num(frames['targets']['target_dev_loss'].iloc[0])}: "
        "90% of the decrease of FO-PEFT's mean dev loss to its lowest point)"
        if len(frames["targets"])
        else "## Steps to target",
        "",
        markdown_table(frames["targets"].drop(columns=["target_dev_loss"], errors="ignore")),
        "",
        "## Has the dev loss levelled off?",
        "",
        markdown_table(frames["levelled"]),
        "",
    ]
    if len(frames["contributions"]):
        every = cell.probe_every
        lines += [
            "## What each block contributes (first-order decrease of the probe loss, summed over the run)",
            "",
            *(
                [
                    f"x_distance_end, y_distance_end: ||x_t - x_0|| and ||y_t - y_0|| at the last probe (one every "
                    f"{every} steps from step 0, before that step's update: in a run of {cell.steps} steps the last "
                    f"is at step {(cell.steps - 1) // every * every}, not at its end).",
                    "",
                ]
                if every > 0
                else []
            ),
            markdown_table(frames["contributions"]),
            "",
        ]
    lines += ["## Selection on the dev split", "", f"Rule: {rule}.", ""]
    if meta.get("tuned_here") is False:
        lines += [
            "No tuning ran in this folder: the step sizes are the selected rows of the table given to "
            "`claim run --selection`, shown as that table has them (a table cut to chosen rows fixes the "
            "step sizes by hand, and then they are not the dev split's choice).",
            "",
        ]
    lines += _selection_steps(selection, cell.steps)
    lines += [
        markdown_table(
            selection,
            [
                "method",
                "eta_x",
                "eta_y",
                "mu",
                "diverged",
                "best_dev_accuracy",
                "best_dev_loss",
                "best_dev_step",
                "final_dev_accuracy",
                "final_dev_loss",
                "selected",
            ],  # fmt: skip
        ),
        "",
        "## Step sizes: the grids' stable range against the theory",
        "",
    ]
    if constants:
        lines += [constants_sentence(constants), ""]
    lines += [markdown_table(frames["step_sizes"]), "", "## Budget", "", markdown_table(frames["budget"]), ""]
    shared = frames["budget"].get("shared_runs")
    if shared is not None and shared.sum() > 0:
        lines += [
            f"{int(shared.sum())} seeded run(s) are the selected tuning runs themselves (the tuning seed's run at "
            "the selected setting, the same description): they ran once and count with the tuning runs.",
            "",
        ]
    if CONTROL in set(frames["methods"]["method"]):
        lines += ["## Control", ""]
        if frames["control"].empty:
            lines += [
                "FO-PEFT did not run on the control's seeds here: `claim pool` joins this folder to one that did.",
                "",
            ]
        else:
            lines += [markdown_table(frames["control"]), "", "Evaluation by evaluation: `control.png`.", ""]
            if len(frames.get("control_paired", [])):
                lines += [
                    "What rounding alone does to the comparison (the same pairing and tests as the claim's; read "
                    "Hybrid - FO-PEFT against it):",
                    "",
                    markdown_table(
                        frames["control_paired"],
                        ["comparison", "metric", "pairs", "mean_difference", "low", "high", "sign_flip_p", "verdict"],
                    ),
                    "",
                    markdown_table(frames["control_collapses"]),
                    "",
                ]
    return "\n".join(lines)


def constants_sentence(constants: dict) -> str:
    """What the step-size limits rest on: each block's Lanczos value with its relative residual and products,
    and whether the solve converged (a constants.json from before the residual rule holds a fixed product
    count and absolute residuals)."""

    def block(name: str) -> str:
        value = constants[f"L_{name}"]
        rel = constants.get(f"L_{name}_rel_residual", constants[f"L_{name}_residual"] / abs(value))
        state = ""
        if f"L_{name}_converged" in constants:
            state = ", converged" if constants[f"L_{name}_converged"] else ", NOT converged"
        return (
            f"L_{name} = {_num(value, 4)} (relative residual {_num(rel, 2)}, "
            f"{constants[f'L_{name}_products']} products{state})"
        )

    if "rtol" in constants:
        how = (
            f"Lanczos to relative residual {constants['rtol']:g} (at most {constants['max_products']} products): "
            "Ritz values, lower bounds of the block norms, within about the residual of an eigenvalue"
        )
    else:
        how = f"{constants['iterations']} Lanczos products per block: lower bounds"
    text = (
        f"{block('x')}, {block('y')} on minibatch 0 at the start point, {how}; so the limits are upper bounds "
        "of the theory's limits."
    )
    if constants.get("tr_x") is not None:
        text += (
            f" tr(H_xx) = {_num(constants['tr_x'], 4)} +- {_num(constants['tr_x_stderr'], 2)} there "
            f"({constants['tr_x_directions']} second differences of forward passes) against d_x L_x = "
            f"{_num(constants['d_x'] * constants['L_x'], 2)}: descent_bound = 2/(tr(H_xx) + 2 L_x) is the step below "
            "which a Gaussian ZO step lowers the loss in expectation on the local quadratic (a one-step condition "
            "at one point, inf where tr(H_xx) + 2 L_x <= 0; THEORY's limit is this bound with the worst case "
            "d_x L_x in place of the trace)."
        )
    return text


def _pooled_part(part: dict) -> str:
    text = f"`{part['folder']}`: {part['seeded_runs_pooled']} seeded runs"
    if part.get("run_minutes") is not None and part.get("runs"):
        text += f" (the folder's {part['runs']} runs took {part['run_minutes']:.0f} run-minutes"
        span = part.get("span_minutes")
        text += f", {span:.0f} min from first start to last end)" if span is not None else ")"
    return text


def _wall_time(meta: dict) -> str:
    span, busy = meta.get("span_minutes"), meta.get("busy_minutes")
    if span is None:
        return "wall time not recorded (run folders written before their completion markers recorded it)"
    if busy is None or span - busy < max(1.0, 0.05 * span):
        return f"{span:.0f} min from the first run's start to the last one's end"
    return (
        f"{busy:.0f} min of wall time with at least one run going ({span:.0f} min from the first run's start to "
        f"the last one's end: the runs ran in separate sittings)"
    )
