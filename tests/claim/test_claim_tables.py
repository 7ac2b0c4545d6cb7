"""The claim test's tables on hand-made per-seed records and curves, whose answers are known."""

import math

import pandas as pd
import pytest

from hybridsmooth.claim.cells import CONTROL
from hybridsmooth.claim.tables import (
    COLLAPSE_COLUMNS,
    CONTROL_TOLERANCE,
    PAIRED_COLUMNS,
    collapse_table,
    collapsed,
    control_steps,
    control_table,
    paired_table,
)


def _per_seed(method, best, final, diverged=None, steps_done=150):
    n = len(best)
    return pd.DataFrame(
        {
            "method": method,
            "seed": range(n),
            "best_dev_accuracy": best,
            "final_dev_accuracy": final,
            "diverged": diverged or [False] * n,
            "steps_done": steps_done,
            "test_accuracy": 0.8,
            "test_loss": 0.4,
        }
    )


def test_a_run_collapsed_when_it_diverged_or_fell_ten_points_from_its_best():
    table = _per_seed("m", [0.84, 0.84, 0.84, 0.84], [0.75, 0.74, 0.5, math.nan], [False, False, False, True])
    assert collapsed(table).tolist() == [False, True, True, True]


def test_collapse_table_counts_discordant_seeds_and_gives_the_exact_mcnemar_p():
    per_seed = pd.concat(
        [
            _per_seed("hybrid", [0.84] * 5, [0.83, 0.84, 0.5, 0.84, 0.84]),
            _per_seed("fo_peft", [0.84] * 5, [0.5, 0.5, 0.5, 0.5, 0.83]),
        ]
    )
    row = collapse_table(per_seed).iloc[0]
    assert row["comparison"] == "hybrid - fo_peft" and row["pairs"] == 5
    assert (row["collapsed_a"], row["collapsed_b"], row["only_a"], row["only_b"]) == (1, 4, 0, 3)
    assert row["mcnemar_p"] == pytest.approx(0.25)  # 3 discordant seeds, all one way: 2 / 2^3
    assert len(collapse_table(per_seed[per_seed["method"] == "hybrid"])) == 0  # no pair to compare


def test_a_folder_of_one_method_writes_its_pair_tables_with_their_columns(tmp_path):
    """Seeds of one method run to be pooled later have no pair; the empty tables keep their columns, so that the
    figure and a reader can load them (an empty frame without columns wrote a file pandas cannot read)."""
    one = _per_seed("fo_full", [0.84] * 3, [0.84] * 3).assign(final_test_accuracy=0.8, final_dev_loss=0.4)
    for table, columns in ((paired_table(one), PAIRED_COLUMNS), (collapse_table(one), COLLAPSE_COLUMNS)):
        assert table.empty and tuple(table.columns) == columns
        table.to_csv(tmp_path / "t.csv", index=False)
        assert tuple(pd.read_csv(tmp_path / "t.csv").columns) == columns
    two = pd.concat([one, one.assign(method="hybrid")])
    assert tuple(paired_table(two).columns) == PAIRED_COLUMNS  # the names a filled table has
    assert tuple(collapse_table(two).columns) == COLLAPSE_COLUMNS


def _curve(method, seed, losses):
    return pd.DataFrame({"method": method, "seed": seed, "step": [0, 50, 100, 150], "dev_loss": losses})


def test_control_table_finds_where_the_control_and_fo_peft_came_apart():
    per_seed = pd.concat([_per_seed("fo_peft", [0.8, 0.8], [0.8, 0.8]), _per_seed(CONTROL, [0.8, 0.8], [0.8, 0.8])])
    curves = pd.concat(
        [
            _curve("fo_peft", 0, [0.7, 0.6, 0.5, 0.4]),
            _curve(CONTROL, 0, [0.7, 0.6 * (1 + 1e-8), 0.5 * (1 + 1e-5), 0.6]),  # apart at step 150
            _curve("fo_peft", 1, [0.7, 0.6, 0.5, 0.4]),
            _curve(CONTROL, 1, [0.7, 0.6, 0.5, 0.4 * (1 + CONTROL_TOLERANCE / 2)]),
        ]
    )
    table = control_table(per_seed, curves).set_index("seed")
    assert table.loc[0, "first_step_apart"] == 150
    assert table.loc[0, "first_evaluation_difference"] == pytest.approx(1e-8, rel=1e-6)
    assert table.loc[0, "max_relative_dev_loss_difference"] == pytest.approx(0.5)
    assert not table.loc[0, "matches_to_rounding"]
    assert math.isnan(table.loc[1, "first_step_apart"]) and table.loc[1, "matches_to_rounding"]
    # evaluation by evaluation (control.png): the same differences the table's maxima come from
    steps = control_steps(per_seed, curves)
    assert list(steps.columns) == ["seed", "step", "control_dev_loss", "fo_peft_dev_loss", "relative_difference"]
    seed0 = steps[steps["seed"] == 0].set_index("step")["relative_difference"]
    assert seed0[0] == 0 and seed0[100] == pytest.approx(1e-5, rel=1e-6) and seed0[150] == pytest.approx(0.5)
    assert steps.groupby("seed")["relative_difference"].max().to_dict() == pytest.approx(
        table["max_relative_dev_loss_difference"].to_dict()
    )
    assert table["control_diverged_at"].isna().all() and table["fo_peft_diverged_at"].isna().all()
    # a control whose FO-PEFT runs are elsewhere: nothing to compare, with the columns a filled table has
    alone = control_steps(per_seed[per_seed["method"] == CONTROL], curves)
    assert alone.empty and list(alone.columns) == list(steps.columns)


def test_a_control_that_diverges_where_fo_peft_does_not_has_come_apart_whatever_their_shared_evaluations_say():
    """Seed 4 of the cut SmolLM2 cell: the control diverged at step 45 and FO-PEFT ran on; their two shared
    evaluations (steps 0 and 25) agree to 2e-5. Both diverging at the same step is still a match."""
    curve = [0.7, 0.6, 0.5, 0.4]
    per_seed = pd.concat(
        [
            _per_seed("fo_peft", [0.8] * 3, [0.8] * 3, [False, True, True], steps_done=[150, 23, 23]),
            _per_seed(CONTROL, [0.8] * 3, [0.8] * 3, [True, True, True], steps_done=[46, 23, 31]),
        ]
    )
    curves = pd.concat(
        [
            _curve("fo_peft", 0, curve),
            _curve(CONTROL, 0, curve).iloc[:1],  # diverged before its second evaluation
            _curve("fo_peft", 1, curve).iloc[:1],
            _curve(CONTROL, 1, curve).iloc[:1],
            _curve("fo_peft", 2, curve).iloc[:1],
            _curve(CONTROL, 2, curve).iloc[:1],
        ]
    )
    table = control_table(per_seed, curves).set_index("seed")
    assert table.loc[0, "max_relative_dev_loss_difference"] == 0 and table.loc[0, "evaluations"] == 1
    assert not table.loc[0, "matches_to_rounding"] and table.loc[0, "first_step_apart"] == 45
    assert table.loc[0, "control_diverged_at"] == 45 and math.isnan(table.loc[0, "fo_peft_diverged_at"])
    assert table.loc[1, "matches_to_rounding"] and math.isnan(table.loc[1, "first_step_apart"])  # both at step 22
    assert not table.loc[2, "matches_to_rounding"] and table.loc[2, "first_step_apart"] == 22  # at 30 and 22


def test_the_target_is_set_by_fo_peft_s_lowest_mean_dev_loss_not_its_collapsed_end():
    from hybridsmooth.claim.tables import target_dev_loss, targets_table

    curves = pd.concat(
        [
            _curve("fo_peft", 0, [0.7, 0.5, 0.3, 0.9]).assign(seconds=[0, 1, 2, 3]),  # collapses at the end
            _curve("fo_peft", 1, [0.7, 0.5, 0.5, 0.9]).assign(seconds=[0, 1, 2, 3]),
            _curve("hybrid", 0, [0.7, 0.6, 0.55, 0.4]).assign(seconds=[0, 2, 4, 6]),
        ]
    )
    # mean curve 0.7, 0.5, 0.4, 0.9: lowest 0.4, target 0.7 - 0.9 * 0.3
    assert target_dev_loss(curves) == pytest.approx(0.43)
    table = targets_table(curves, target_dev_loss(curves)).set_index("method")
    assert table.loc["fo_peft", "reached"] == 1 and table.loc["fo_peft", "steps_to_target"] == 100
    assert table.loc["hybrid", "steps_to_target"] == 150 and table.loc["hybrid", "seconds_to_target"] == 6
    rising = _curve("fo_peft", 0, [0.7, 0.8, 0.9, 1.0]).assign(seconds=0)
    assert math.isnan(target_dev_loss(rising))


def test_the_control_takes_fo_peft_s_adapter_step_when_the_selections_differ():
    """The eta_x = 0 control is compared with FO-PEFT's runs: at the hybrid's own eta_y it would differ by
    construction (the topic cell selected 0.2 for the hybrid and 0.3 for FO-PEFT)."""
    from hybridsmooth.claim.cells import cell_named

    cell = cell_named("quick")
    selected = {m: dict(cell.grids[m][0]) for m in cell.methods}
    selected["hybrid"] = {"eta_x": 1e-3, "eta_y": 0.1, "mu": 1e-3}
    selected["fo_peft"] = {"eta_x": 0.0, "eta_y": 0.3, "mu": 1e-3}
    controls = [r for m, _, r in cell.final_runs(selected) if m == CONTROL]
    assert len(controls) == len(cell.control_seeds)
    for run in controls:
        assert (run.optimizer.method, run.optimizer.eta_x, run.optimizer.eta_y) == ("hybrid", 0.0, 0.3)
