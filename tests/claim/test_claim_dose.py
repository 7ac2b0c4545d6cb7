"""claim.dose and `claim dose`: the hybrid at several ZO step sizes against FO-PEFT on the same seeds, each row
exactly what its runs say."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridsmooth.claim import dose
from hybridsmooth.claim.cells import CELLS
from hybridsmooth.cli import main
from hybridsmooth.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
REF = [0.80, 0.82, 0.81, 0.79, 0.80]


def _row(method, eta_x, seed, acc, *, final_dev=0.8, best_dev=0.8):
    return {
        "arm": dose.arm(method, eta_x),
        "method": method,
        "seed": seed,
        "eta_x": eta_x,
        "eta_y": 0.3,
        "mu": 1e-3,
        "diverged": False,
        "best_dev_accuracy": best_dev,
        "final_dev_accuracy": final_dev,
        "test_accuracy": acc,
    }


def _probes(arm, x_expected, y_expected, seeds=range(5)):
    rows = []
    for seed in seeds:
        for step in (0, 25):
            rows.append(
                {
                    "arm": arm, "seed": seed, "step": step, "x_change": -x_expected, "y_change": -y_expected,
                    "x_expected": -x_expected, "y_expected": -y_expected, "grad_x_norm": 1.0, "grad_y_norm": 1.0,
                    "x_distance": float(step), "y_distance": step / 10,
                }
            )  # fmt: skip
    return rows


def _tables():
    rows = [_row("fo_peft", 0.0, s, a, final_dev=0.5 if s == 0 else 0.8) for s, a in enumerate(REF)]
    # a step that hardly matters: within a point of FO-PEFT either way
    rows += [_row("hybrid", 1e-5, s, a + (0.002 if s % 2 else -0.002)) for s, a in enumerate(REF)]
    # a step that costs ten points on every seed, one seed collapsing late
    rows += [_row("hybrid", 1e-3, s, a - 0.10, final_dev=0.5 if s == 3 else 0.8) for s, a in enumerate(REF)]
    probes = _probes("hybrid eta_x=1e-05", 0.001, 0.999) + _probes("hybrid eta_x=0.001", 0.25, 0.75)
    return pd.DataFrame(rows), pd.DataFrame(probes)


def test_each_row_is_the_paired_difference_its_runs_give_with_holm_over_the_step_sizes():
    per_seed, probes = _tables()
    table = dose.dose_table(per_seed, probes, probe_every=25).set_index("eta_x")
    assert list(table.index) == [1e-5, 1e-3]
    small, large = table.loc[1e-5], table.loc[1e-3]
    assert small["pairs"] == large["pairs"] == 5
    assert math.isclose(small["mean_difference"], -0.0004, abs_tol=1e-12)  # +2 -2 +2 -2 ... over five seeds
    assert small["verdict"] == "no detectable difference at this power"
    assert math.isclose(large["mean_difference"], -0.10, abs_tol=1e-12)
    assert large["verdict"] == "worse" and large["high"] < 0
    assert math.isclose(large["sign_flip_p"], 2 / 32)  # all five pairs one way: the smallest five pairs give
    assert math.isclose(large["holm_p"], 2 * 2 / 32)  # the smaller of two p-values, doubled
    assert large["verdict_holm"] == "no detectable difference over the 2 comparisons (Holm)"  # 0.125 > 0.05
    assert math.isclose(large["test_accuracy"], np.mean(REF) - 0.10)
    assert math.isclose(large["fo_peft_test_accuracy"], np.mean(REF))
    assert (large["collapsed"], large["fo_peft_collapsed"], small["collapsed"]) == (1, 1, 0)
    assert math.isclose(small["x_share_expected"], 0.001) and math.isclose(large["x_share_expected"], 0.25)
    assert math.isclose(large["x_distance_end"], 25.0)


def test_only_the_seeds_both_finished_are_paired_and_an_arm_without_probes_says_so():
    per_seed, probes = _tables()
    per_seed = per_seed[~((per_seed["method"] == "hybrid") & (per_seed["eta_x"] == 1e-3) & (per_seed["seed"] == 4))]
    table = dose.dose_table(per_seed, probes[probes["arm"] != "hybrid eta_x=0.001"], probe_every=25)
    large = table.set_index("eta_x").loc[1e-3]
    assert large["pairs"] == 4 and large["seeds"] == 4
    assert math.isnan(large["x_share_expected"])
    # a diverged seed has no best checkpoint: out of the pairs, FO-PEFT's accuracy beside it on the same seeds
    per_seed, probes = _tables()
    gone = (per_seed["method"] == "hybrid") & (per_seed["eta_x"] == 1e-3) & (per_seed["seed"] == 1)
    per_seed.loc[gone, ["diverged", "test_accuracy"]] = [True, math.nan]
    large = dose.dose_table(per_seed, probes, probe_every=25).set_index("eta_x").loc[1e-3]
    assert (large["pairs"], large["seeds"], large["diverged"], large["collapsed"]) == (4, 5, 1, 2)
    assert math.isclose(large["fo_peft_test_accuracy"], np.mean([REF[s] for s in (0, 2, 3, 4)]))
    assert math.isclose(large["mean_difference"], -0.10, abs_tol=1e-12)
    with pytest.raises(ValueError, match="needs FO-PEFT"):
        dose.dose_table(per_seed[per_seed["method"] == "hybrid"], probes, probe_every=25)


def test_the_runs_are_the_cell_s_own_so_a_claim_folder_s_runs_are_shared():
    cell = CELLS["quick"]
    runs = dose.dose_runs(cell, [1e-3, 0.0], eta_y=0.3, mu=1e-3)
    assert [(m, x, s) for m, x, s, _ in runs] == [
        (m, x, s) for s in cell.seeds for m, x in (("fo_peft", 0.0), ("hybrid", 0.0), ("hybrid", 1e-3))
    ]
    assert {r.eta_y for *_, r in runs} == {0.3}
    selected = {"hybrid": {"eta_x": 1e-3, "eta_y": 0.3, "mu": 1e-3}, "fo_peft": {"eta_y": 0.3, "mu": 1e-3}}
    pair = cell.with_changes(methods=("hybrid", "fo_peft"), control_seeds=())
    claim_runs = {r.content_hash() for *_, r in pair.final_runs(selected)}
    shared = {r.content_hash() for m, x, _, r in runs if x != 0.0 or m == "fo_peft"}
    assert shared == claim_runs  # the same descriptions: one folder each in a shared store


@pytest.mark.parametrize("bad", [[-1e-5], [math.nan], [1e-5, 1e-5], []])
def test_impossible_step_sizes_are_refused(bad):
    with pytest.raises(UsageError, match="--eta-x"):
        dose.check_eta_xs(bad)


def test_eta_x_zero_stands_a_decade_left_of_the_smallest_step():
    assert np.allclose(dose.x_positions([0.0, 1e-5, 1e-3]), [1e-6, 1e-5, 1e-3], rtol=1e-12, atol=0)


def test_the_command_runs_resumes_and_rebuilds_from_its_tables(tmp_path, capsys):
    out = tmp_path / "dose"
    args = ["claim", "dose", "--quick", "--eta-x", "0,1e-2", "--eta-y", "0.3", "--out", str(out)]
    assert main(args) == 0
    first = pd.read_csv(out / "dose.csv")
    assert first["eta_x"].tolist() == [0.0, 0.01] and (first["pairs"] == 2).all()
    assert (out / "dose.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(args) == 0
    assert "dose.toml: 6 runs, 0 to run" in capsys.readouterr().out  # 2 seeds x (FO-PEFT + 2 step sizes), once
    # without the run folders the tables suffice
    shutil.rmtree(out / "runs")
    assert main([*args, "--report"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "dose.csv"), first)
    capsys.readouterr()
    other = ["claim", "dose", "--quick", "--eta-x", "0,1e-3", "--eta-y", "0.3", "--out", str(out), "--report"]
    assert main(other) == 2  # the tables are of other step sizes: refused, not relabelled
    assert "give the options the dose ran with" in capsys.readouterr().err


def test_the_adapter_step_comes_from_one_place(tmp_path, capsys):
    out = str(tmp_path / "d")
    assert main(["claim", "dose", "--quick", "--eta-x", "1e-3", "--out", out]) == 2
    assert "give one of --eta-y" in capsys.readouterr().err
    selection = tmp_path / "selection.csv"
    pd.DataFrame(
        [
            {"method": "hybrid", "eta_x": 1e-3, "eta_y": y, "mu": 1e-3, "diverged": False, "best_dev_accuracy": a,
             "best_dev_loss": 0.5}
            for y, a in ((0.1, 0.6), (0.3, 0.7))
        ]
    ).to_csv(selection, index=False)  # fmt: skip
    assert main(["claim", "dose", "--quick", "--eta-x", "1e-3", "--selection", str(selection), "--out", out]) == 0
    assert pd.read_csv(tmp_path / "d" / "dose_per_seed.csv")["eta_y"].unique().tolist() == [0.3]
    assert main(["claim", "dose", "--quick", "--eta-x", "1e-3,x", "--eta-y", "0.3", "--out", out]) == 2
    assert "--eta-x takes step sizes" in capsys.readouterr().err


def test_the_committed_dose_response_is_what_its_tables_say(tmp_path):
    committed = REPO / "figures" / "claim" / "main_eta_x_dose"
    for name in ("dose_per_seed.csv", "dose_probes.csv"):
        shutil.copy(committed / name, tmp_path / name)
    args = ["claim", "dose", "--selection", str(REPO / "figures" / "claim" / "main" / "selection.csv")]
    args += ["--eta-x", "1e-5,1e-4,3e-4,1e-3", "--seeds", "10", "--out", str(tmp_path), "--report"]
    assert main(args) == 0
    rebuilt, table = pd.read_csv(tmp_path / "dose.csv"), pd.read_csv(committed / "dose.csv")
    pd.testing.assert_frame_equal(rebuilt, table)
    # what the README reads off it: level at the selected step, worse on every seed at 3e-4, after Holm too
    rows = table.set_index("eta_x")
    assert rows.loc[1e-5, "verdict"].startswith("no detectable") and rows.loc[3e-4, "verdict_holm"] == "worse"
    assert rows.loc[3e-4, "sign_flip_p"] == 2 / 2**10 and rows.loc[1e-3, "diverged"] == 7
    assert list(rows["x_share_expected"]) == sorted(rows["x_share_expected"])


@pytest.mark.parametrize(
    "extra, said",
    [
        (["--report", "--workers", "2"], "--report runs nothing: --workers does not apply"),
        (["--shard", "0/2"], "claim dose takes no --shard"),
    ],
)
def test_options_that_would_be_ignored_are_refused(tmp_path, capsys, extra, said):
    args = ["claim", "dose", "--quick", "--eta-x", "1e-3", "--eta-y", "0.3", "--out", str(tmp_path / "d"), *extra]
    assert main(args) == 2
    assert said in capsys.readouterr().err and not (tmp_path / "d").exists()


def test_claim_run_refuses_a_shard_it_would_ignore(tmp_path, capsys):
    assert main(["claim", "run", "--quick", "--out", str(tmp_path / "c"), "--shard", "0/2"]) == 2
    assert "claim run takes no --shard" in capsys.readouterr().err
