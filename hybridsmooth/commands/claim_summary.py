"""``hybridsmooth claim summary``: the paired differences of finished claim folders of any cells in one table and
figure (``claim.summary``), with Holm's correction over the table and what the ZO block did in each row."""

from __future__ import annotations

import math

from ..errors import UsageError


def add_summary_arguments(actions) -> None:
    from ..claim.summary import METRICS

    text = "one table and figure of the paired differences of finished claim folders of any cells"
    p = actions.add_parser("summary", help=text, description=text)
    p.add_argument("--out", required=True, help="folder for summary.csv and summary.png")
    p.add_argument(
        "--from",
        dest="sources",
        action="append",
        required=True,
        metavar="DIR[=LABEL]",
        help="a finished claim folder (its paired.csv); folders with the same LABEL make one row, each comparison "
        "taken from the first of them that has it; LABEL defaults to the folder's name",
    )
    p.add_argument(
        "--metric", choices=METRICS, default=METRICS[0], help=f"default {METRICS[0]} (at the best dev check)"
    )
    p.add_argument("--title", default="", help="the figure's title")


def summary(args) -> int:
    from ..claim.plots import plot_summary
    from ..claim.summary import parse_source, summary_table, zo_block_table
    from ..paths import ensure_output_dir

    try:
        sources = [parse_source(s) for s in args.sources]
        table = summary_table(sources, metric=args.metric)
        zo_block = zo_block_table(sources)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(f"claim summary: {err}") from None
    out = ensure_output_dir(args.out)
    table.to_csv(out / "summary.csv", index=False)
    zo_block.to_csv(out / "zo_block.csv", index=False)
    plot_summary(table, out / "summary.png", title=args.title, zo_block=zo_block)
    shown = table.assign(
        difference=in_points(table, "mean_difference", "low", "high"),
        typical=in_points(table, "hodges_lehmann", "hodges_lehmann_low", "hodges_lehmann_high"),
    )
    shown["holm_p"] = [f"{p:.2g}" for p in table["holm_p"]]
    columns = ["row", "comparison", "pairs", "difference", "typical", "verdict", "holm_p", "verdict_holm"]
    print(shown[columns].to_string(index=False))
    block = zo_block.assign(
        zo_share=[_percent(m, e) for m, e in zip(zo_block["zo_share_measured"], zo_block["zo_share_expected"])]
    )
    print(block[["row", "seeds", "zo_share", "x_distance_end", "y_distance_end"]].to_string(index=False))
    print(f"wrote {out / 'summary.csv'}, {out / 'zo_block.csv'}, {out / 'summary.png'}")
    return 0


def _percent(measured: float, expected: float) -> str:
    """The ZO block's share as printed: measured (expected), in percent; '-' where it was not probed."""
    if not math.isfinite(expected):
        return "-"
    return f"{100 * measured:.2g}% ({100 * expected:.2g}% expected)"


def in_points(table, mid: str, low: str, high: str) -> list[str]:
    """ "+0.1 [-0.3, +0.5]": a difference of accuracies and its interval, in points."""
    return [
        f"{100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"
        for m, lo, hi in zip(table[mid], table[low], table[high], strict=True)
    ]
