"""The claim across cells: one row per cell and comparison, read from the ``paired.csv`` of finished claim folders.

Each folder's analysis already holds, per comparison (Hybrid - FO-PEFT, Hybrid - FO-Full), the mean paired
difference with the wider of its bootstrap and t intervals, the typical seed's (Hodges-Lehmann) difference with
the exact signed-rank interval, and the verdict. A summary only gathers them: nothing is recomputed, so a row
says what the folder it names says. Several folders can make one row (a cell whose FO-Full seeds ran in a
folder of their own, ``main_48_seeds`` and ``main_20_seeds_fo_full``): for each comparison the first folder
listed that has it is taken, and the table names that folder and its pairs.

The one thing a summary adds is the family: a claim that holds "consistently" is read off many comparisons at
once, and at 95% each, one of twenty true nulls looks like a difference. So the table carries each comparison's
sign-flip p-value (the test of the mean) and signed-rank p-value (the typical seed) with their Holm
adjustments over all of its comparisons, and ``verdict_holm``, the verdict that survives them: a "better" or
"worse" whose adjusted sign-flip p-value exceeds 1 - LEVEL becomes "no detectable difference over the m
comparisons (Holm)".

Beside the differences, ``zo_block_table`` says for each row what the ZO block did in the hybrid's runs, from the
first of its folders that probed it (``contributions.csv``): its share of the first-order decrease of the probe
loss, measured and expected, and how far x and y moved. A "no detectable difference" where the ZO block made a
tenth of a percent of the decrease is explained by that, not by a weak experiment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .stats import LEVEL, holm_adjusted

COMPARISONS = ("hybrid - fo_peft", "hybrid - fo_full")
METRICS = ("test_accuracy", "final_test_accuracy")
READ = (  # as each folder's paired.csv has them, with the row's label and folder
    "row",
    "comparison",
    "folder",
    "pairs",
    "mean_difference",
    "low",
    "high",
    "hodges_lehmann",
    "hodges_lehmann_low",
    "hodges_lehmann_high",
    "hodges_lehmann_level",
    "detectable_difference",
    "verdict",
    "sign_flip_p",
    "signed_rank_p",
)
ZO_BLOCK_COLUMNS = (  # one row per label: the hybrid's contributions.csv row
    "row",
    "folder",
    "seeds",
    "zo_share_measured",
    "zo_share_expected",
    "x_distance_end",
    "y_distance_end",
)
FAMILY_COLUMNS = ("holm_p", "holm_signed_rank_p", "verdict_holm")  # computed over the summary's own rows
COLUMNS = READ + FAMILY_COLUMNS


def parse_source(text: str) -> tuple[str, Path]:
    """``DIR`` or ``DIR=LABEL`` -> (label, folder); the label defaults to the folder's name."""
    folder, eq, label = str(text).partition("=")
    if not folder.strip() or (eq and not label.strip()):
        raise ValueError(f"--from takes DIR or DIR=LABEL, got {text!r}")
    path = Path(folder.strip())
    return (label.strip() if eq else path.name), path


def _read_with(file: Path, columns: Sequence[str], folder: Path) -> pd.DataFrame:
    """A table of a claim folder, refused in one line naming the command that rebuilds it if it lacks a column."""
    table = pd.read_csv(file)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{file} lacks {', '.join(missing)}: rebuild it with `hybridsmooth claim report --out {folder}`"
        )
    return table


def read_paired(folder: Path, metric: str) -> pd.DataFrame:
    """The rows of ``folder/paired.csv`` for ``metric``, one per comparison it has."""
    file = Path(folder) / "paired.csv"
    if not file.is_file():
        raise FileNotFoundError(
            f"{folder} has no paired.csv: analyse it first (`hybridsmooth claim report --out {folder}`)"
        )
    table = _read_with(file, [c for c in READ if c not in ("row", "folder")], folder)
    rows = table[table["metric"] == metric]
    if rows.empty:
        raise ValueError(f"{file} has no rows for metric {metric!r} (it has {', '.join(sorted(set(table['metric'])))})")
    return rows


def summary_table(sources: Sequence[tuple[str, Path]], metric: str = "test_accuracy") -> pd.DataFrame:
    """One row per (label, comparison) in the order the labels first appear, from the first source of that
    label whose paired.csv has the comparison; a label none of whose folders compares anything is an error."""
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}: accepted {', '.join(METRICS)}")
    if not sources:
        raise ValueError("give at least one claim folder")
    rows = []
    for label in dict.fromkeys(label for label, _ in sources):
        taken: dict[str, dict] = {}  # comparison -> its row, from the first folder that has it
        for source_label, folder in sources:
            if source_label != label:
                continue
            paired = read_paired(folder, metric)
            for comparison in COMPARISONS:
                found = paired[paired["comparison"] == comparison]
                if comparison not in taken and not found.empty:
                    taken[comparison] = {"row": label, "folder": str(folder), **found.iloc[0].to_dict()}
        if not taken:
            raise ValueError(f"{label}: none of its folders compares {' or '.join(COMPARISONS)}")
        rows += [taken[c] for c in COMPARISONS if c in taken]
    table = pd.DataFrame(rows)
    table["pairs"] = table["pairs"].astype(int)
    table = table[list(READ)].reset_index(drop=True)
    return with_family(table)


def with_family(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the Holm-adjusted p-values over all its rows and the verdicts that survive them."""
    table = table.copy()
    table["holm_p"] = holm_adjusted(table["sign_flip_p"])
    table["holm_signed_rank_p"] = holm_adjusted(table["signed_rank_p"])
    family = int(table["sign_flip_p"].notna().sum())
    survives = table["holm_p"] <= 1 - LEVEL
    decided = table["verdict"].isin(("better", "worse"))
    table["verdict_holm"] = table["verdict"].where(
        ~decided | survives, f"no detectable difference over the {family} comparisons (Holm)"
    )
    return table


def zo_block_table(sources: Sequence[tuple[str, Path]]) -> pd.DataFrame:
    """One row per label, in the order the labels first appear: the hybrid's row of ``contributions.csv`` from
    the first folder of that label that has one (shares as fractions; distances as the folder gives them). A
    label none of whose folders probed the hybrid gets NaN and an empty folder, said, not dropped."""
    rows = []
    for label in dict.fromkeys(label for label, _ in sources):
        row = {"row": label, "folder": "", "seeds": 0, **dict.fromkeys(ZO_BLOCK_COLUMNS[3:], math.nan)}
        for source_label, folder in sources:
            file = Path(folder) / "contributions.csv"
            if source_label != label or not file.is_file():
                continue
            needed = ("method", "seeds", "x_share_measured", "x_share_expected", "x_distance_end", "y_distance_end")
            contributions = _read_with(file, needed, folder)
            hybrid = contributions[contributions["method"] == "hybrid"]
            if len(hybrid):
                found = hybrid.iloc[0]
                row = {
                    "row": label,
                    "folder": str(folder),
                    "seeds": int(found["seeds"]),
                    "zo_share_measured": float(found["x_share_measured"]),
                    "zo_share_expected": float(found["x_share_expected"]),
                    "x_distance_end": float(found["x_distance_end"]),
                    "y_distance_end": float(found["y_distance_end"]),
                }
                break
        rows.append(row)
    return pd.DataFrame(rows, columns=list(ZO_BLOCK_COLUMNS))
