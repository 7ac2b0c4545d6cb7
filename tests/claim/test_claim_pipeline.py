"""The claim test end to end on a tiny random model (``claim run --quick``): the pipeline, not a result."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from hybridsmooth.claim.cells import CONTROL, cell_named
from hybridsmooth.cli import main
from hybridsmooth.errors import UsageError

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("claim") / "quick"
    assert main(["claim", "run", "--quick", "--out", str(out)]) == 0
    return out


def test_the_quick_claim_writes_every_table_the_figure_and_the_report(quick_run):
    for name in (
        "selection", "per_seed", "curves", "probes", "methods", "paired", "targets", "levelled", "control",
        "control_steps", "control_paired", "control_collapses", "contributions", "step_sizes", "budget",
    ):  # fmt: skip
        assert not pd.read_csv(quick_run / f"{name}.csv").empty, name
    assert (quick_run / "claim.png").stat().st_size > 10_000
    assert (quick_run / "control.png").stat().st_size > 10_000
    report = (quick_run / "report.md").read_text()
    assert "## Verdicts" in report and "hybrid - fo_peft" in report
    # the distances are those of the last probe (every 4 steps from 0 in 8 steps: step 4), not of the run's end
    assert "in a run of 8 steps the last is at step 4, not at its end" in report
    assert sorted(set(pd.read_csv(quick_run / "probes.csv")["step"])) == [0, 4]
    constants = json.loads((quick_run / "constants.json").read_text())
    assert constants["L_x"] > 0 and constants["L_y"] > 0


def test_the_theory_limits_rest_on_converged_constants_and_the_report_says_so(quick_run):
    from hybridsmooth.claim.protocol import CONSTANTS_RTOL

    constants = json.loads((quick_run / "constants.json").read_text())
    assert constants["rtol"] == CONSTANTS_RTOL
    for b in "xy":
        rel = constants[f"L_{b}_rel_residual"]
        assert rel == pytest.approx(constants[f"L_{b}_residual"] / constants[f"L_{b}"])
        assert constants[f"L_{b}_converged"] == (rel <= CONSTANTS_RTOL)
        assert constants[f"L_{b}_products"] <= constants["max_products"]
    report = (quick_run / "report.md").read_text()
    assert f"Lanczos to relative residual {CONSTANTS_RTOL:g}" in report
    # the x block's trace from forward passes, and the descent bound it gives a ZO block in the step-size table
    from hybridsmooth.claim.protocol import TRACE_DIRECTIONS
    from hybridsmooth.claim.selection import zo_descent_bound

    assert constants["tr_x_directions"] == TRACE_DIRECTIONS and constants["tr_x_stderr"] > 0
    sizes = pd.read_csv(quick_run / "step_sizes.csv")
    zo = sizes[(sizes["method"] == "hybrid") & (sizes["block"] == "x")].iloc[0]
    expected = zo_descent_bound(constants["tr_x"], constants["L_x"])  # infinite where tr + 2 L <= 0
    assert zo["descent_bound"] == (expected if math.isinf(expected) else pytest.approx(expected))
    assert sizes.loc[sizes["estimator"] == "FO", "descent_bound"].isna().all()
    assert "tr(H_xx) = " in report and "descent_bound" in report


def test_the_zo_descent_bound_is_where_gaussian_zo_steps_stop_lowering_a_quadratic_in_expectation():
    """Ground truth on f(x) = x^T H x / 2 with a chosen indefinite-free spectrum: the exact descent limit
    eta* = 2 ||g||^2 / (||g||^2 tr H + 2 g^T H g) (central differences are exact on a quadratic), checked by
    200,000 sampled Gaussian ZO steps on each side of it; 2/(tr H + 2 L) is below eta* and above THEORY's
    2/(L (d + 2))."""
    from hybridsmooth.claim.selection import theory_limit, zo_descent_bound

    gen = torch.Generator().manual_seed(0)
    d = 12
    eig = torch.linspace(0.1, 4.0, d, dtype=torch.float64)
    x = torch.randn(d, generator=gen, dtype=torch.float64)
    f = 0.5 * (eig * x * x).sum()
    g = eig * x
    exact = float(2 * (g @ g) / ((g @ g) * eig.sum() + 2 * (g * eig * g).sum()))
    U = torch.randn(200_000, d, generator=gen, dtype=torch.float64)
    steps = (U @ g)[:, None] * U  # (f(x + mu u) - f(x - mu u)) / (2 mu) u, exact here

    def mean_change(eta: float) -> float:
        moved = x - eta * steps
        return float((0.5 * (eig * moved * moved).sum(1) - f).mean())

    assert mean_change(0.8 * exact) < 0 < mean_change(1.25 * exact)
    bound = zo_descent_bound(float(eig.sum()), float(eig.max()))
    assert theory_limit("zo", float(eig.max()), d) < bound <= exact
    assert zo_descent_bound(-10.0, 1.0) == math.inf and math.isnan(zo_descent_bound(math.nan, 1.0))


def test_the_constants_sentence_reads_a_file_from_before_the_residual_rule():
    from hybridsmooth.claim.report import constants_sentence

    old = {"iterations": 8, "L_x": 4.0, "L_x_residual": 0.4, "L_x_products": 9}
    old.update({"L_y": 2.0, "L_y_residual": 2e-4, "L_y_products": 6})
    text = constants_sentence(old)
    # the stored residuals are in the units of L: the sentence gives them relative
    assert "L_x = 4 (relative residual 0.1, 9 products)" in text and "8 Lanczos products per block" in text
    new = {**old, "rtol": 1e-2, "max_products": 60, "L_x_converged": False, "L_y_converged": True}
    text = constants_sentence(new)
    assert "NOT converged" in text and "L_y = 2 (relative residual 0.0001, 6 products, converged)" in text


def test_selection_uses_the_dev_split_only_and_takes_the_best_dev_accuracy(quick_run):
    sel = pd.read_csv(quick_run / "selection.csv")
    assert "test_accuracy" not in sel.columns or sel["test_accuracy"].isna().all()
    for _method, rows in sel.groupby("method"):
        best = rows.sort_values(["best_dev_accuracy", "best_dev_loss"], ascending=[False, True]).iloc[0]
        assert rows[rows["selected"]].index.tolist() == [best.name]
    per_seed = pd.read_csv(quick_run / "per_seed.csv")
    chosen = sel[sel["selected"]].set_index("method")
    for row in per_seed[per_seed["method"] != CONTROL].itertuples():
        assert (row.eta_x, row.eta_y) == (chosen.loc[row.method, "eta_x"], chosen.loc[row.method, "eta_y"])


def test_the_selected_tuning_run_is_the_tuning_seed_s_final_run_and_runs_once(quick_run):
    sel = pd.read_csv(quick_run / "selection.csv")
    per_seed = pd.read_csv(quick_run / "per_seed.csv")
    cell = cell_named("quick")
    mine = per_seed[(per_seed["seed"] == cell.tune_seed) & (per_seed["method"] != CONTROL)].set_index("method")
    chosen = sel[sel["selected"]].set_index("method")
    assert (mine.loc[chosen.index, "folder"] == chosen["folder"]).all()
    # the final table reads that run's test split; the selection table never shows it
    assert mine["test_accuracy"].notna().all() and sel["test_accuracy"].isna().all()
    budget = pd.read_csv(quick_run / "budget.csv").set_index("method")
    assert budget.loc[list(cell.methods), "shared_runs"].eq(1).all()
    assert "are the selected tuning runs themselves" in (quick_run / "report.md").read_text()
    meta = json.loads((quick_run / "meta.json").read_text())
    assert meta["runs"] == len(set(sel["folder"]) | set(per_seed["folder"]))
    # where the runs ran: one machine here, named with its torch and thread count, and said in the report
    assert len(meta["machines"]) == 1 and f"torch {torch.__version__}" in meta["machines"][0]
    assert f"Ran on: {meta['machines'][0]}." in (quick_run / "report.md").read_text()


def test_seeds_are_paired_across_methods(quick_run):
    per_seed = pd.read_csv(quick_run / "per_seed.csv")
    cell = cell_named("quick")
    assert sorted(per_seed[per_seed["method"] == "hybrid"]["seed"]) == list(cell.seeds)
    for seed, rows in per_seed.groupby("seed"):
        problems = {json.loads((p / "config.json").read_text())["run"]["problem"] for p in map(Path, rows["folder"])}
        assert problems == {cell.problem_at(seed)}  # the same splits and initialisation for every method
        orders = {tuple(pd.read_csv(Path(f) / "metrics.csv")["sample"]) for f in rows["folder"]}
        assert len(orders) == 1  # the same sample order


def test_the_control_matches_fo_peft_and_the_verdicts_are_computed(quick_run):
    control = pd.read_csv(quick_run / "control.csv")
    assert control["matches_to_rounding"].all()
    paired = pd.read_csv(quick_run / "paired.csv")
    assert set(paired["comparison"]) == {"hybrid - fo_peft", "hybrid - fo_full"}
    assert paired["verdict"].notna().all()


def test_a_second_run_trains_nothing_and_report_rebuilds_the_same_tables(quick_run, capsys):
    before = pd.read_csv(quick_run / "methods.csv")
    capsys.readouterr()
    assert main(["claim", "run", "--quick", "--out", str(quick_run)]) == 0
    said = capsys.readouterr().out
    assert "7 runs, 0 to run" in said and "12 runs, 0 to run" in said
    assert main(["claim", "report", "--quick", "--out", str(quick_run)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(quick_run / "methods.csv"), before)


def test_merge_brings_another_machines_runs_in_phase_by_phase(quick_run, tmp_path, capsys):
    """What a GPU box made joins a claim folder without running again: first only the tuning runs (the seeded
    runs cannot be named before), then everything, after which report gives the source's tables."""
    import shutil

    box = tmp_path / "box"
    shutil.copytree(quick_run / "runs", box / "runs")
    cell = cell_named("quick")
    tuning = {r.content_hash() for _, _, r in cell.tuning_runs()}
    for folder in (box / "runs").iterdir():
        if folder.name not in tuning:
            (folder / "complete.json").unlink()  # the box stopped before its seeded runs ended
    here = tmp_path / "here"
    capsys.readouterr()
    assert main(["claim", "merge", "--quick", "--out", str(here), "--from", str(box)]) == 0
    said = capsys.readouterr().out
    # the five selected tuning runs are seeded runs too (budget.csv's shared_runs); the other seven did not end
    assert "tuning: 7 runs: 7 copied" in said and "seeded: 12 runs: 5 here, 7 unfinished" in said
    assert main(["claim", "merge", "--quick", "--out", str(here), "--from", str(quick_run)]) == 0
    said = capsys.readouterr().out
    assert "tuning: 7 runs: 7 here" in said and "seeded: 12 runs: 7 copied, 5 here" in said
    assert main(["claim", "report", "--quick", "--out", str(here)]) == 0
    for table in ("methods", "per_seed", "paired"):
        mine, theirs = (pd.read_csv(d / f"{table}.csv") for d in (here, quick_run))
        if "folder" in mine:  # where the runs live; the folder names (their hashes) must agree
            mine["folder"], theirs["folder"] = (t["folder"].map(lambda f: Path(f).name) for t in (mine, theirs))
        pd.testing.assert_frame_equal(mine, theirs)
    assert main(["claim", "merge", "--quick", "--out", str(here), "--from", str(tmp_path / "none")]) == 2
    assert "not a claim folder" in capsys.readouterr().err


def test_bad_claim_options_get_one_line_errors(tmp_path, capsys):
    assert main(["claim", "run", "--cell", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown cell 'nope'" in capsys.readouterr().err
    assert main(["claim", "run", "--quick", "--set", "seed=3", "--out", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert main(["claim", "run", "--quick", "--set", "colour=red", "--out", str(tmp_path)]) == 2
    assert "unknown key 'colour'" in capsys.readouterr().err
    assert main(["claim", "report", "--quick", "--out", str(tmp_path / "none")]) == 2
    assert "claim run" in capsys.readouterr().err


def test_every_cell_describes_its_runs_and_set_changes_the_problem_only():
    from hybridsmooth.claim.cells import CELLS
    from hybridsmooth.commands.claim import _with_keys

    for cell in CELLS.values():
        runs = cell.tuning_runs()
        assert len({r.content_hash() for _, _, r in runs}) == len(runs)  # one folder per grid point
        # each tuning run is described as a final run, so the selected one is also its seed's final run
        assert all(r.eval_test and r.probe_every == cell.probe_every for _, _, r in runs)
        first = {m: cell.grids[m][0] for m in cell.methods}
        tuned = {r.content_hash() for _, _, r in runs}
        on_tune_seed = [r for m, s, r in cell.final_runs(first) if s == cell.tune_seed and m != CONTROL]
        assert len(on_tune_seed) == len(cell.methods) and all(r.content_hash() in tuned for r in on_tune_seed)
    paper = CELLS["paper"]
    spec = _with_keys(paper.problem, ["model=/ckpt/llama-7b", "dtype=bfloat16"])
    assert "model=/ckpt/llama-7b" in spec and "dtype=bfloat16" in spec and "facebook" not in spec
    bf16 = paper.with_changes(problem=spec, zo_precision="master")
    _, _, run = bf16.tuning_runs()[0]
    assert run.optimizer.zo_precision == "master" and run.problem.endswith(",seed=0")
    fo = [r for m, _, r in bf16.tuning_runs() if m == "fo_peft"][0]
    assert fo.optimizer.zo_precision == "plain"  # no ZO block, no ZO rounding mode


def test_methods_names_any_method_the_cell_has_a_grid_for_and_refuses_the_others(monkeypatch):
    import argparse

    from hybridsmooth.commands.claim import add_arguments, cell_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)

    def cell(*words):
        return cell_from_args(parser.parse_args(["run", "--out", "x", *words]))

    short = ["--cell", "smollm2_short"]
    assert cell(*short).methods == ("hybrid", "fo_peft")  # FO-Full has a grid but runs only when named
    only = cell(*short, "--methods", "fo_full")
    assert only.methods == ("fo_full",) and [m for m, _, _ in only.tuning_runs()] == ["fo_full"] * 4
    # named in any order, run in the cell's method order
    assert cell(*short, "--methods", "fo_full,hybrid").methods == ("hybrid", "fo_full")
    assert cell(*short, "--methods", "zo_full,zo_peft").methods == ("zo_full", "zo_peft")
    from hybridsmooth.claim import cells

    cut = cells.CELLS["smollm2_short"]
    without = {m: g for m, g in cut.grids.items() if m != "zo_peft"}
    monkeypatch.setitem(cells.CELLS, "smollm2_short", cut.with_changes(grids=without))
    with pytest.raises(
        UsageError, match="no step-size grid for zo_peft; it has grids for hybrid, fo_peft, fo_full, zo_full"
    ):
        cell(*short, "--methods", "hybrid,zo_peft")
    monkeypatch.undo()
    # the control: not run by this cell unless named; named, on the seeds given, else the cell's control seeds
    # (every seed here, since the cell has none)
    assert cell(*short).control_seeds == ()
    assert cell(*short, "--methods", "hybrid,hybrid_eta_x_0").control_seeds == (0, 1, 2, 3, 4)
    assert cell("--methods", "hybrid,fo_peft,hybrid_eta_x_0").control_seeds == (0, 1)  # the main cell's own
    assert cell("--methods", "hybrid,fo_peft,hybrid_eta_x_0", "--seeds", "5-7").control_seeds == (5, 6, 7)
    assert cell("--seeds", "5-7").control_seeds == ()  # not named: the cell's control seeds among those
    assert cell("--methods", "hybrid,fo_peft", "--seeds", "0-4").control_seeds == ()


def test_the_best_dev_point_the_run_kept_is_the_one_its_evaluations_name(quick_run):
    per_seed = pd.read_csv(quick_run / "per_seed.csv")
    for row in per_seed.itertuples():
        summary = json.loads((Path(row.folder) / "summary.json").read_text())
        assert summary["best_dev_step"] == row.best_dev_step
        assert summary["best_test_accuracy"] == row.test_accuracy
        assert summary["final_test_accuracy"] == row.final_test_accuracy


def test_report_rebuilds_every_table_from_the_committed_tables_without_the_run_folders(quick_run, tmp_path):
    import shutil

    kept = tmp_path / "kept"
    shutil.copytree(quick_run, kept, ignore=shutil.ignore_patterns("runs"))
    names = (
        "methods",
        "paired",
        "collapses",
        "targets",
        "levelled",
        "control",
        "control_steps",
        "contributions",
        "budget",
    )
    before = {name: pd.read_csv(quick_run / f"{name}.csv") for name in names}
    for name in names:
        (kept / f"{name}.csv").unlink()
    (kept / "report.md").unlink()
    assert main(["claim", "report", "--quick", "--out", str(kept)]) == 0
    for name in names:
        pd.testing.assert_frame_equal(pd.read_csv(kept / f"{name}.csv"), before[name], check_exact=False, rtol=1e-12)
    assert (kept / "report.md").read_text() == (quick_run / "report.md").read_text()
    (kept / "per_seed.csv").unlink()
    assert main(["claim", "report", "--quick", "--out", str(kept)]) == 2  # neither runs nor the tables


def test_more_seeds_for_some_methods_reuse_the_earlier_selection_and_repeat_its_numbers(quick_run, tmp_path, capsys):
    more = tmp_path / "more"
    # a selection whose tuning folders are gone (only its table travels)
    selection = pd.read_csv(quick_run / "selection.csv").assign(folder="gone/runs/0")
    selection.to_csv(tmp_path / "selection.csv", index=False)
    args = ["claim", "run", "--quick", "--out", str(more), "--selection", str(tmp_path / "selection.csv")]
    assert main([*args, "--methods", "hybrid,fo_peft", "--seeds", "3", "--no-constants"]) == 0
    said = capsys.readouterr().out
    assert "no tuning" in said and "tuning.toml" not in said and "6 runs, 6 to run" in said
    # the report says where its step sizes came from; the folder that tuned does not say it
    taken = "No tuning ran in this folder: the step sizes are the selected rows of the table given to"
    assert taken in (more / "report.md").read_text() and taken not in (quick_run / "report.md").read_text()
    assert json.loads((more / "meta.json").read_text())["tuned_here"] is False
    per_seed = pd.read_csv(more / "per_seed.csv")
    assert sorted(set(per_seed["method"])) == ["fo_peft", "hybrid"] and sorted(set(per_seed["seed"])) == [0, 1, 2]
    # the same seed at the same step sizes on the same machine: the same numbers as the earlier run
    earlier = pd.read_csv(quick_run / "per_seed.csv").set_index(["method", "seed"])
    for row in per_seed[per_seed["seed"] < 2].itertuples():
        assert row.test_accuracy == earlier.loc[(row.method, row.seed), "test_accuracy"]
        assert row.final_dev_loss == earlier.loc[(row.method, row.seed), "final_dev_loss"]
    assert main(["claim", "report", "--quick", "--out", str(more), "--methods", "hybrid,fo_peft", "--seeds", "3"]) == 0
    assert set(pd.read_csv(more / "collapses.csv")["comparison"]) == {"hybrid - fo_peft"}
    assert "- hybrid - fo_peft: " in (more / "report.md").read_text()
    # one method's analysis has no pair to judge, and its report says so instead of an empty section
    assert main(["claim", "report", "--quick", "--out", str(more), "--methods", "fo_peft", "--seeds", "3"]) == 0
    assert pd.read_csv(more / "paired.csv").empty
    assert "## Verdicts\n\n- none: no two of the compared methods ran here" in (more / "report.md").read_text()
    assert main([*args, "--methods", "hybrid,sgd"]) == 2
    assert "unknown method(s) ['sgd']" in capsys.readouterr().err
    # the control without the hybrid takes the hybrid's step sizes from a selection, so it needs one
    assert main(["claim", "run", "--quick", "--out", str(tmp_path / "c"), "--methods", "hybrid_eta_x_0"]) == 2
    assert "list hybrid with it, or give the --selection" in capsys.readouterr().err
    assert main(["claim", "plan", "--quick", "--out", str(tmp_path / "c"), "--methods", "hybrid_eta_x_0"]) == 2
    assert "claim plan: the control alone has no grid to tune" in capsys.readouterr().err
    merge = ["claim", "merge", "--quick", "--out", str(tmp_path / "c"), "--from", str(more)]
    assert main([*merge, "--methods", "hybrid_eta_x_0"]) == 2
    assert "claim merge: the control alone has no grid to tune" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    assert not (tmp_path / "c" / "runs").exists()
    # the quick cell's selection given to the main cell is refused before any run
    assert main(["claim", "run", "--out", str(tmp_path / "x"), "--selection", str(tmp_path / "selection.csv")]) == 2
    assert "was not made for cell main" in capsys.readouterr().err
    assert not (tmp_path / "x" / "runs").exists()
    assert main(["claim", "run", "--quick", "--out", str(more), "--selection", str(tmp_path / "none.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_selection_taken_to_another_step_count_says_the_dev_split_chose_it_for_another_budget(
    quick_run, tmp_path, capsys
):
    longer = tmp_path / "longer"
    selection = str(quick_run / "selection.csv")
    base = ["claim", "run", "--quick", "--selection", selection, "--methods", "fo_peft", "--seeds", "2"]
    assert main([*base, "--out", str(longer), "--steps", "12", "--no-constants"]) == 0
    report = (longer / "report.md").read_text()
    assert "were chosen on runs of 8 steps; this folder's runs take 12" in report
    assert "12 steps per run" in report and "run here at 12 steps (--steps), not 8" in report
    assert int(pd.read_csv(longer / "per_seed.csv")["steps_done"].iloc[0]) == 12
    # the runs' folders are those of 8-step runs (a continuation keeps its identity): analysed or pooled as the
    # cell's 8 steps, they are refused instead of reported as 8-step runs
    report = ["claim", "report", "--quick", "--out", str(longer), "--methods", "fo_peft", "--seeds", "2"]
    assert main(report) == 2
    assert "fo_peft seed 0 ran 12 steps, where this analysis expects 8" in capsys.readouterr().err
    pool = ["claim", "pool", "--quick", "--methods", "fo_peft", "--out", str(tmp_path / "p")]
    assert main([*pool, "--from", str(quick_run), "--from", str(longer)]) == 2
    assert f"--from {longer}: fo_peft seed 0 ran 12 steps" in capsys.readouterr().err
    # the progress report too: at 8 steps these runs are no unfinished runs but longer ones
    assert main([*report, "--partial"]) == 2
    assert f"{longer}: fo_peft seed 0 ran 12 steps, where this report expects 8" in capsys.readouterr().err
    assert main([*report, "--partial", "--steps", "12"]) == 0
    assert "seeded runs: 2 of 2 finished" in capsys.readouterr().out
    assert main([*report, "--steps", "12"]) == 0
    # at the selection's own step count neither is said
    same = tmp_path / "same"
    assert main([*base, "--out", str(same), "--steps", "8", "--no-constants"]) == 0
    report = (same / "report.md").read_text()
    assert "were chosen on runs of" not in report and "(--steps)" not in report
    assert "were chosen on runs of" not in (quick_run / "report.md").read_text()


def test_partial_report_of_a_finished_claim_agrees_with_its_selection(quick_run, capsys):
    assert main(["claim", "report", "--quick", "--out", str(quick_run), "--partial"]) == 0
    printed = capsys.readouterr().out
    progress = pd.read_csv(quick_run / "tuning_progress.csv")
    sel = pd.read_csv(quick_run / "selection.csv")
    assert progress["finished"].all() and len(progress) == len(sel)
    keys = ["method", "eta_x", "eta_y", "mu"]
    chosen = progress[progress["selected"]][keys].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(chosen, sel[sel["selected"]][keys].sort_values(keys).reset_index(drop=True))
    cell = cell_named("quick")
    settings = {r.method: {k: float(getattr(r, k)) for k in ("eta_x", "eta_y", "mu")} for r in chosen.itertuples()}
    total = len(cell.final_runs(settings))
    assert f"seeded runs: {total} of {total} finished" in printed
    assert not pd.read_csv(quick_run / "tuning_curves.csv").empty
    assert (quick_run / "tuning_progress.png").stat().st_size > 10_000
    assert "tuning_progress.png" in printed
    # asked at a shorter length, the finished tuning runs are refused, not counted as unfinished
    assert main(["claim", "report", "--quick", "--out", str(quick_run), "--partial", "--steps", "4"]) == 2
    assert "(tuning) ran 8 steps, where this report expects 4" in capsys.readouterr().err


def test_partial_report_of_a_grid_point_not_yet_run(quick_run):
    """A grid point without a finished run (a time box stopped the run) leaves its method unselected and the
    seeded runs unplanned; the other methods are selected as the full analysis selects them."""
    from hybridsmooth.claim.progress import claim_progress, progress_lines

    cell = cell_named("quick")
    grids = {**cell.grids, "fo_peft": [*cell.grids["fo_peft"], {"eta_y": 0.05}]}
    cell = cell.with_changes(grids=grids)
    progress = claim_progress(cell, quick_run / "runs")
    t = progress.tuning
    fo_peft = t[t["method"] == "fo_peft"]
    assert fo_peft["finished"].sum() == len(fo_peft) - 1 and not fo_peft["selected"].any()
    assert "fo_peft" not in progress.selected and progress.seeded_total is None
    assert set(progress.selected) == set(cell.methods) - {"fo_peft"}
    sel = pd.read_csv(quick_run / "selection.csv")
    for m, setting in progress.selected.items():
        row = sel[(sel["method"] == m) & sel["selected"]].iloc[0]
        assert setting == {k: float(row[k]) for k in ("eta_x", "eta_y", "mu")}
    lines = progress_lines(cell, progress)
    assert f"fo_peft: {len(fo_peft) - 1} of {len(fo_peft)} grid points finished" in lines
    assert lines[-1] == "seeded runs: not planned until the tuning of fo_peft has finished"


def test_the_committed_gpu_runs_rebuild_their_tuning_table_selection_and_paired_verdicts(tmp_path):
    """figures/claim/smollm2_gpu holds the SmolLM2 cell's GPU runs (no checkpoints): every point of the cell's
    23-point grid and 19 of its 27 seeded runs. Read again, they give the committed tuning_progress.csv value for
    value, select the same settings, count the seeded runs done, and give the committed per-seed table and
    paired differences of the three methods whose five seeds finished."""
    from hybridsmooth.claim.progress import claim_progress
    from hybridsmooth.claim.protocol import analyse
    from hybridsmooth.commands.claim import _with_keys

    folder = Path(__file__).resolve().parents[2] / "figures" / "claim" / "smollm2_gpu"
    committed = pd.read_csv(folder / "tuning_progress.csv")
    base = cell_named("smollm2")
    cell = base.with_changes(problem=_with_keys(base.problem, ["device=cuda"]))  # as `claim run --set device=cuda`
    progress = claim_progress(cell, folder / "runs")
    rebuilt = progress.tuning
    assert len(rebuilt) == len(committed) == 23 and rebuilt["finished"].all()
    cols = ["method", "eta_x", "eta_y", "mu", "diverged", "best_dev_step", "best_dev_accuracy", "test_accuracy"]
    cols += ["final_dev_loss", "selected"]
    pd.testing.assert_frame_equal(rebuilt[cols].reset_index(drop=True), committed[cols], check_dtype=False)
    assert set(progress.selected) == set(cell.methods)
    assert progress.selected["hybrid"] == {"eta_x": 1e-5, "eta_y": 0.1, "mu": 1e-3}  # inside the widened grid
    assert (progress.seeded_done, progress.seeded_total) == (19, 27)

    three = cell.with_changes(methods=("hybrid", "fo_peft", "fo_full"), control_seeds=())  # `--methods` does so
    (tmp_path / "runs").symlink_to(folder / "runs", target_is_directory=True)
    analyse(three, tmp_path)
    keys = ["method", "seed"]
    for name, cols in (
        ("per_seed", keys + ["test_accuracy", "final_test_accuracy", "final_dev_loss", "best_dev_step"]),
        ("paired", ["comparison", "metric", "pairs", "mean_difference", "low", "high", "verdict"]),
    ):
        got, want = pd.read_csv(tmp_path / f"{name}.csv"), pd.read_csv(folder / f"{name}.csv")
        pd.testing.assert_frame_equal(got[cols], want[cols], check_dtype=False)


def test_wall_time_counts_the_runs_not_the_hours_between_sittings(tmp_path):
    """A claim resumed across sittings (a GPU lent for minutes at a time): the report gives the wall time during
    which a run was going, from the times each run's completion marker records, and says that the span from the
    first start to the last end holds the gaps. Folders without those times give their runs' own timers and no
    wall time, since a copy or a checkout resets their files' times."""
    from hybridsmooth.claim.protocol import folder_times, union_seconds
    from hybridsmooth.claim.report import _wall_time

    assert union_seconds([(0, 10), (5, 20), (100, 130), (110, 120)]) == 50
    assert union_seconds([]) == 0
    folders = []
    for i, (start, end) in enumerate([(0.0, 600.0), (300.0, 900.0), (7200.0, 7500.0)]):
        f = tmp_path / f"run{i}"
        f.mkdir()
        (f / "config.json").write_text(json.dumps({"device": "cpu", "threads": 1}))
        (f / "complete.json").write_text(json.dumps({"complete": True, "started_at": start, "finished_at": end}))
        folders.append(f)
    meta = folder_times(folders)
    assert meta["runs"] == 3 and meta["busy_minutes"] == 20 and meta["span_minutes"] == 125
    assert meta["run_minutes"] == 25
    line = _wall_time(meta)
    assert line.startswith("20 min of wall time with at least one run going") and "separate sittings" in line
    assert _wall_time({**meta, "busy_minutes": 124.5}) == "125 min from the first run's start to the last one's end"
    # an older marker without the times: the runs' own timers, and no wall time (file times are the copy's)
    (folders[0] / "complete.json").write_text(json.dumps({"complete": True}))
    (folders[0] / "summary.json").write_text(json.dumps({"seconds": 90.0}))
    for f in folders[1:]:
        (f / "summary.json").write_text(json.dumps({"seconds": 60.0}))
    old = folder_times(folders)
    assert old["run_minutes"] == 1.5 + 1 + 1 and old["span_minutes"] is None and old["busy_minutes"] is None
    assert _wall_time(old).startswith("wall time not recorded")


def test_a_finished_run_folder_records_when_it_started_and_ended(quick_run):
    import time

    marker = json.loads(next((quick_run / "runs").glob("*/complete.json")).read_text())
    assert marker["started_at"] <= marker["finished_at"] <= time.time()


def test_a_report_of_an_unfinished_seeded_phase_names_the_methods_it_can_analyse(tmp_path, capsys):
    """The committed GPU cell stopped in its seeded phase: a full report is refused in one line that says how
    many seeded runs finished and which methods ``--methods`` can analyse now."""
    folder = Path(__file__).resolve().parents[2] / "figures" / "claim" / "smollm2_gpu"
    (tmp_path / "runs").symlink_to(folder / "runs", target_is_directory=True)
    args = ["claim", "report", "--cell", "smollm2", "--set", "device=cuda", "--out", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "19 of 27 seeded runs have finished" in err
    assert "`--methods hybrid,fo_peft,fo_full` analyses those now" in err and "control has not" in err
    assert len(err.strip().splitlines()) == 1


def test_more_seeds_in_a_second_folder_pool_with_the_first_and_each_seed_counts_once(quick_run, tmp_path, capsys):
    later = tmp_path / "later"
    args = ["claim", "run", "--quick", "--out", str(later), "--selection", str(quick_run / "selection.csv")]
    assert main([*args, "--methods", "hybrid,fo_peft", "--seeds", "2-3", "--no-constants"]) == 0
    assert "4 runs, 4 to run" in capsys.readouterr().out  # the tuning seed 0 is not among them: nothing shared
    later_seeds = pd.read_csv(later / "per_seed.csv")
    assert sorted(set(later_seeds["seed"])) == [2, 3]
    pooled = tmp_path / "pooled"
    pool = ["claim", "pool", "--quick", "--methods", "hybrid,fo_peft", "--out", str(pooled)]
    assert main([*pool, "--from", str(quick_run), "--from", str(later)]) == 0
    said = capsys.readouterr().out
    assert "hybrid: 4 seeds (0-3)" in said and "fo_peft: 4 seeds (0-3)" in said
    per_seed = pd.read_csv(pooled / "per_seed.csv")
    first = pd.read_csv(quick_run / "per_seed.csv")
    expected = pd.concat([first[first["method"].isin(["hybrid", "fo_peft"])], later_seeds])
    key = ["method", "seed"]
    pd.testing.assert_frame_equal(
        per_seed.sort_values(key).reset_index(drop=True), expected.sort_values(key).reset_index(drop=True)
    )
    paired = pd.read_csv(pooled / "paired.csv")
    row = paired[(paired["comparison"] == "hybrid - fo_peft") & (paired["metric"] == "test_accuracy")].iloc[0]
    assert row["pairs"] == 4
    # the selection rows come from the first folder; one that took them from a given table says so in the pool
    taken = "No tuning ran in this folder: the step sizes are the selected rows of the table given to"
    assert taken not in (pooled / "report.md").read_text()
    assert main([*pool[:-1], str(tmp_path / "pooled_later"), "--from", str(later), "--from", str(quick_run)]) == 0
    assert taken in (tmp_path / "pooled_later" / "report.md").read_text()
    diff = per_seed.pivot(index="seed", columns="method", values="test_accuracy")
    assert row["mean_difference"] == pytest.approx((diff["hybrid"] - diff["fo_peft"]).mean())
    report = (pooled / "report.md").read_text()
    assert "seeds [0, 1, 2, 3]" in report and f"`{later}`: 4 seeded runs" in report
    assert json.loads((pooled / "constants.json").read_text())["L_x"] > 0  # from the first folder that has them
    # a seed in two folders, a folder pooled with itself, a method no folder ran, a different selection: refused
    assert main([*pool[:-1], str(tmp_path / "again"), "--from", str(quick_run), "--from", str(pooled)]) == 2
    assert "seed 0 was run in more than one folder" in capsys.readouterr().err
    assert main([*pool, "--from", str(later), "--from", str(pooled)]) == 2
    assert "is one of the --from folders" in capsys.readouterr().err
    full = ["claim", "pool", "--quick", "--methods", "hybrid,fo_full", "--out", str(tmp_path / "ff")]
    assert main([*full, "--from", str(later), "--from", str(later)]) == 2
    assert "no --from folder ran fo_full" in capsys.readouterr().err
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("per_seed.csv", "curves.csv", "probes.csv"):
        (moved / name).write_text((later / name).read_text())
    sel = pd.read_csv(later / "selection.csv")
    sel.loc[sel["method"] == "hybrid", "eta_y"] = (
        0.1 if sel.loc[sel["method"] == "hybrid", "eta_y"].iloc[0] != 0.1 else 0.3
    )
    sel.to_csv(moved / "selection.csv", index=False)
    assert main([*pool[:-1], str(tmp_path / "other"), "--from", str(quick_run), "--from", str(moved)]) == 2
    assert "pool runs of the same selected step sizes only" in capsys.readouterr().err
    assert main([*pool[:-1], str(tmp_path / "one"), "--from", str(later)]) == 2
    assert "at least two --from folders" in capsys.readouterr().err
    # a folder whose meta.json never recorded its machine is named as such, not passed off as the other's machine
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("selection.csv", "per_seed.csv", "curves.csv", "probes.csv"):
        (bare / name).write_text((later / name).read_text())
    assert main([*pool[:-1], str(tmp_path / "unrecorded"), "--from", str(quick_run), "--from", str(bare)]) == 0
    machines = json.loads((tmp_path / "unrecorded" / "meta.json").read_text())["machines"]
    assert f"not recorded for {bare}" in machines and len(machines) == 2
    # options that do not apply, and another claim's tables as the destination, are refused before any work
    for extra, word in ((["--seeds", "3"], "--seeds"), (["--zo-precision", "master"], "--zo-precision")):
        assert main([*pool, "--from", str(quick_run), "--from", str(later), *extra]) == 2
        assert f"takes no {word}" in capsys.readouterr().err
    assert main([*pool[:-1], str(bare), "--from", str(quick_run), "--from", str(later)]) == 2
    assert "holds another claim's tables" in capsys.readouterr().err
    assert main([*pool, "--from", str(quick_run), "--from", str(later)]) == 0  # an earlier pool is replaced
    capsys.readouterr()


def test_the_control_in_a_folder_of_its_own_pools_with_the_hybrid_and_fo_peft_of_its_seeds(quick_run, tmp_path, capsys):
    """The eta_x = 0 control run later, alone, at an earlier claim's selection: its runs are those the claim
    would have made, its folder says that FO-PEFT is elsewhere, and pooled with the folder of the same seeds'
    hybrid and FO-PEFT runs it gives the control table."""
    selection = ["--selection", str(quick_run / "selection.csv"), "--no-constants"]
    control = tmp_path / "control"
    run = ["claim", "run", "--quick", *selection, "--seeds", "2-3"]
    assert main([*run, "--out", str(control), "--methods", "hybrid_eta_x_0"]) == 0
    assert "2 runs, 2 to run" in capsys.readouterr().out
    assert set(pd.read_csv(control / "per_seed.csv")["method"]) == {"hybrid_eta_x_0"}
    assert (control / "control.csv").read_text().strip() == ""  # nothing to compare with in this folder
    assert not (control / "control.png").exists()
    report = (control / "report.md").read_text()
    assert (
        "no method's seeded runs (the control's folder, to be pooled), the eta_x = 0 control on seeds [2, 3]" in report
    )
    assert "FO-PEFT did not run on the control's seeds here" in report
    # how far it got, at the step sizes it took (no tuning of its own to report)
    partial = ["claim", "report", "--quick", "--out", str(control), "--partial", "--methods", "hybrid_eta_x_0"]
    assert main([*partial, "--seeds", "2-3"]) == 0
    said = capsys.readouterr().out
    assert "step sizes from an earlier claim's selection (no tuning here)" in said
    assert "seeded runs: 2 of 2 finished" in said and not (control / "tuning_progress.csv").exists()
    # the same runs as the control of a claim that ran the hybrid and FO-PEFT beside it
    together = tmp_path / "together"
    assert main([*run, "--out", str(together), "--methods", "hybrid,fo_peft,hybrid_eta_x_0"]) == 0
    assert "6 runs, 6 to run" in capsys.readouterr().out
    apart = tmp_path / "apart"
    assert main([*run, "--out", str(apart), "--methods", "hybrid,fo_peft"]) == 0
    pooled = tmp_path / "pooled"
    pool = ["claim", "pool", "--quick", "--methods", "hybrid,fo_peft,hybrid_eta_x_0", "--out", str(pooled)]
    assert main([*pool, "--from", str(apart), "--from", str(control)]) == 0
    assert "hybrid_eta_x_0: 2 seeds (2-3)" in capsys.readouterr().out
    expected = pd.read_csv(together / "control.csv")
    assert list(expected["seed"]) == [2, 3]
    pd.testing.assert_frame_equal(pd.read_csv(pooled / "control.csv"), expected)
    for name in ("control_steps", "control_paired", "control_collapses"):
        pd.testing.assert_frame_equal(pd.read_csv(pooled / f"{name}.csv"), pd.read_csv(together / f"{name}.csv"))
    assert len(pd.read_csv(pooled / "control_paired.csv")) == 3  # best checkpoint, end, final dev loss
    assert "## Control\n\n|" in (pooled / "report.md").read_text()
    assert "What rounding alone does to the comparison" in (pooled / "report.md").read_text()
    # step by step (examples/control_step_by_step.py): the same code path, so the same gradient at the start
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "examples" / "control_step_by_step.py"
    table = tmp_path / "step_by_step.csv"
    args = [sys.executable, str(script), str(control), str(apart), "--second-method", "fo_peft", "--out", str(table)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps = pd.read_csv(table)
    assert sorted(set(steps["seed"])) == [2, 3] and len(steps) == 2 * 8
    assert (steps[steps["step"] == 0]["relative"] == 0).all()
    assert "seed 2: grad_y_norm at most" in proc.stdout
    # the control's folder pooled with a folder that ran it too counts a seed twice: refused
    assert main([*pool[:-1], str(tmp_path / "twice"), "--from", str(together), "--from", str(control)]) == 2
    assert "hybrid_eta_x_0 seed 2 was run in more than one folder" in capsys.readouterr().err


def test_the_control_with_an_exact_restore_matches_fo_peft_bit_for_bit_and_pools_only_with_its_precision(
    quick_run, tmp_path, capsys
):
    """In ZO precision master the weights are restored by a copy of the float32 iterate, so at eta_x = 0 the
    hybrid's code path IS FO-PEFT's to the bit: every dev loss equal. The precision changes a run's numbers
    as a step size does, so a pool refuses to join runs of one method in two precisions, and says which
    methods ran in which."""
    selection = ["--selection", str(quick_run / "selection.csv"), "--no-constants"]
    run = ["claim", "run", "--quick", *selection, "--seeds", "2-3"]
    exact, plain, baselines = tmp_path / "exact", tmp_path / "plain", tmp_path / "baselines"
    control = ["--methods", "hybrid_eta_x_0"]
    assert main([*run, "--out", str(exact), *control, "--zo-precision", "master"]) == 0
    assert main([*run, "--out", str(plain), *control]) == 0
    assert main([*run, "--out", str(baselines), "--methods", "hybrid,fo_peft"]) == 0
    assert set(pd.read_csv(exact / "per_seed.csv")["zo_precision"]) == {"master"}
    assert set(pd.read_csv(baselines / "per_seed.csv")["zo_precision"]) == {"plain"}
    pool = ["claim", "pool", "--quick", "--methods", "hybrid,fo_peft,hybrid_eta_x_0"]
    pooled = tmp_path / "pooled"
    assert main([*pool, "--out", str(pooled), "--from", str(baselines), "--from", str(exact)]) == 0
    steps = pd.read_csv(pooled / "control_steps.csv")
    assert len(steps) == 2 * 3 and (steps["control_dev_loss"] == steps["fo_peft_dev_loss"]).all()
    assert (pd.read_csv(pooled / "control.csv")["max_relative_dev_loss_difference"] == 0).all()
    assert (
        "ZO precision (`zo.precision`): Hybrid, eta_x=0 master; every other method plain."
        in (pooled / "report.md").read_text()
    )
    capsys.readouterr()
    mixed = ["--out", str(tmp_path / "mixed"), "--from", str(baselines), "--from", str(exact), "--from", str(plain)]
    assert main([*pool, *mixed]) == 2
    assert "ran hybrid_eta_x_0 in ZO precision plain" in capsys.readouterr().err


def test_the_seed_ablation_example_reruns_the_protocols_own_runs(quick_run, tmp_path):
    """examples/claim_seed_ablation.py at the quick cell's selected hybrid setting gives that cell's per-seed
    numbers: the same run descriptions (splits, adapter start, data order, ZO directions)."""
    import subprocess
    import sys

    from hybridsmooth.claim.selection import select

    selected, _ = select(pd.read_csv(quick_run / "selection.csv"))
    hybrid = selected["hybrid"]
    script = Path(__file__).resolve().parents[2] / "examples" / "claim_seed_ablation.py"
    args = [sys.executable, str(script), "--cell", "quick", "--method", "hybrid", "--seeds", "0,1"]
    args += ["--eta-x", str(hybrid["eta_x"]), "--eta-y", str(hybrid["eta_y"]), "--mu", str(hybrid["mu"])]
    proc = subprocess.run([*args, "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(tmp_path / "ablation.csv").set_index("seed")
    earlier = pd.read_csv(quick_run / "per_seed.csv").query("method == 'hybrid'").set_index("seed")
    for seed in (0, 1):
        assert Path(table.loc[seed, "folder"]).name == Path(earlier.loc[seed, "folder"]).name  # the same run
        assert table.loc[seed, "best_test_accuracy"] == earlier.loc[seed, "test_accuracy"]
        assert table.loc[seed, "best_dev_step"] == earlier.loc[seed, "best_dev_step"]
