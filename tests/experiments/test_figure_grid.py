"""Figures as sweeps: each training figure lists the runs it trains, ``figures --write-grid`` writes them as a
grid rooted in the figures' run store, ``sweep run`` trains them, and ``figures`` then plots without training
the same tables as in-process training."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from hybridsmooth import experiments as ex
from hybridsmooth.cli import main
from hybridsmooth.engine import sweep
from hybridsmooth.experiments import figure_runs
from hybridsmooth.experiments.paper_setup import llm_problem
from hybridsmooth.experiments.training_configs import panel_config

TINY = {"model": "tiny-bert", "task": "sentiment", "data": {"n_train": 8, "batch_size": 4, "max_length": 16}}
TINY_PROBLEM = llm_problem("tiny-bert", "lora", n_train=8, batch_size=4, max_length=16, n_dev=8, n_test=0)
# two runs of a few steps: seconds on CPU
TINY_FIG3 = {
    "mode": "full",
    "window": 2,
    "target_fraction": 0.5,
    "panels": [
        panel_config(
            TINY_PROBLEM,
            "tiny",
            seeds=(0,),
            steps=3,
            eval_every=2,
            eval_limit=8,
            methods={"hybrid": [1e-4, 0.5], "fo_peft": [0.0, 0.5]},
        )
    ],
}
TIMING = ("seconds", "elapsed", "seconds_to_target")


class _Stop(Exception):
    pass


def trained_by_run(exp, config, tmp_path, monkeypatch) -> list:
    """The descriptions ``exp.run`` hands to training (recorded, not trained)."""
    seen = []

    def record(cache, specs, **kw):
        seen.extend(specs)
        raise _Stop

    monkeypatch.setattr(figure_runs, "train_all", record)
    with pytest.raises(_Stop):
        exp.run(config, tmp_path / exp.name)
    return seen


CONFIGS = {
    "fig3": ex.EXPERIMENTS["fig3"].config("full"),
    "fig6": ex.EXPERIMENTS["fig6"].config("full"),
    "fig7": ex.EXPERIMENTS["fig7"].config("quick"),
    "fig4": {**ex.EXPERIMENTS["fig4"].config("full"), **TINY, "adapter": "prompt"},
    # the theory pair is measured (Lanczos on the tiny model), not trained
    "fig2": {
        **ex.EXPERIMENTS["fig2"].config("quick"),
        **TINY,
        "eta_x_grid": [1e-4, 1.0],
        "eta_y_grid": [1e-2],
        "shared_rates": [1e-2],
        "lanczos_iter": 2,
    },
}


@pytest.mark.parametrize("name", CONFIGS)
def test_listed_runs_are_the_runs_the_figure_trains(name, tmp_path, monkeypatch):
    exp = ex.EXPERIMENTS[name]
    listed = exp.runs(CONFIGS[name])
    # a multi-panel figure trains panel by panel: compare the union in order
    trained = []
    if name in ("fig6",):
        for panel in CONFIGS[name]["panels"]:
            trained += trained_by_run(exp, {**CONFIGS[name], "panels": [panel]}, tmp_path, monkeypatch)
    else:
        trained = trained_by_run(exp, CONFIGS[name], tmp_path, monkeypatch)
    assert listed == trained and all(d.is_model for d in listed)


def test_experiments_without_runs_train_nothing_of_their_own():
    without = {e.name for e in ex.EXPERIMENTS.values() if e.runs is None}
    # curvature measurements (fig1 steps its own out-of-place run) and exact linear algebra
    assert without >= {"fig1", "fig5", "stability_region", "speedup_vs_rho"}
    assert {"fig2", "fig3", "fig4", "fig6", "fig7", "bound_vs_measured", "rate_slopes"}.isdisjoint(without)


def test_written_grid_lists_the_figures_runs_once_rooted_in_their_store(tmp_path, capsys):
    grid_file = tmp_path / "figures.yaml"
    args = ["figures", "--full", "--only", "fig3,fig7,fig1", "--runs-dir", str(tmp_path / "runs")]
    assert main([*args, "--write-grid", str(grid_file)]) == 0
    out = capsys.readouterr().out
    assert "fig1: no training runs" in out
    grid = sweep.read_grid(grid_file)
    fig3, fig7 = (ex.EXPERIMENTS[n].runs(ex.EXPERIMENTS[n].config("full")) for n in ("fig3", "fig7"))
    # Figure 7's runs include Figure 3's: listed once
    assert list(grid.descriptions) == list(dict.fromkeys([*fig3, *fig7]))
    assert grid.root == (tmp_path / "runs" / figure_runs.MODEL_RUNS_DIR).resolve()
    assert not (tmp_path / "runs" / "fig3").exists()  # nothing trained


@pytest.mark.parametrize("bad, message", [("grid.json", "give a .toml or .yaml file")])
def test_write_grid_refuses_other_formats(tmp_path, capsys, bad, message):
    assert main(["figures", "--only", "fig3", "--write-grid", str(tmp_path / bad)]) == 2
    assert message in capsys.readouterr().err


def test_write_grid_refuses_figures_without_model_runs(tmp_path, capsys):
    assert main(["figures", "--only", "stability_region", "--write-grid", str(tmp_path / "g.toml")]) == 2
    assert "train no runs" in capsys.readouterr().err


def _tables(folder) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_csv(p).drop(columns=list(TIMING), errors="ignore") for p in sorted(folder.glob("*.csv"))}


def test_grid_then_sweep_then_figures_plots_without_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(ex.EXPERIMENTS, "fig3", dataclasses.replace(ex.EXPERIMENTS["fig3"], full=TINY_FIG3))
    figure = ["figures", "--full", "--only", "fig3"]
    here, swept = tmp_path / "in_process", tmp_path / "swept"
    assert main([*figure, "--out", str(here / "out"), "--runs-dir", str(here / "runs")]) == 0

    grid_file = tmp_path / "fig3.toml"
    assert main([*figure, "--runs-dir", str(swept / "runs"), "--write-grid", str(grid_file)]) == 0
    assert main(["sweep", "run", str(grid_file)]) == 0
    assert main(["sweep", "plan", str(grid_file)]) == 0
    assert "2 runs: 0 new, 2 finished" in capsys.readouterr().out
    assert main(["sweep", "collect", str(grid_file), "--out", str(tmp_path / "collected.csv")]) == 0
    assert set(pd.read_csv(tmp_path / "collected.csv")["method"]) == {"hybrid", "fo_peft"}

    def no_training(*a, **kw):
        raise AssertionError("the figure trained a run the sweep had finished")

    monkeypatch.setattr(figure_runs, "execute", no_training)
    monkeypatch.setattr(figure_runs, "objective_at_start", no_training)
    assert main([*figure, "--out", str(swept / "out"), "--runs-dir", str(swept / "runs")]) == 0
    assert (swept / "out" / "fig3.png").is_file()
    ours, theirs = _tables(swept / "runs" / "fig3"), _tables(here / "runs" / "fig3")
    assert ours.keys() == theirs.keys() == {"fig3.csv", "fig3_evals.csv", "fig3_targets.csv"}
    for name in ours:
        pd.testing.assert_frame_equal(ours[name], theirs[name], check_exact=False, rtol=1e-6)


def test_a_swept_folder_of_another_length_or_run_is_not_read(tmp_path):
    spec = figure_runs.figure_run(TINY_PROBLEM, "fo_peft", 0.0, 0.5, 2, eval_limit=4)
    grid = sweep.Grid(tmp_path, (spec.replace(steps=3),))
    sweep.run_all(sweep.plan(grid))
    assert figure_runs.load_figure_run(tmp_path, spec) is None  # 3 steps stored, 2 asked for
    assert figure_runs.load_figure_run(tmp_path, spec.replace(steps=3)) is not None
    figure_runs.fresh_runs(True)
    try:  # --rerun: a run another process made does not count
        assert figure_runs.load_figure_run(tmp_path, spec.replace(steps=3)) is None
    finally:
        figure_runs.fresh_runs(False)


# --- the theory figures' synthetic runs --------------------------------------------------------------------
SMALL_THEORY = {
    "bound_vs_measured": {**ex.EXPERIMENTS["bound_vs_measured"].config("quick"), "seeds": 2, "T": 3, "mus": [1e-1]},
    "rate_slopes": {**ex.EXPERIMENTS["rate_slopes"].config("quick"), "Ts": [32, 64, 128], "seeds": 2, "cases": ["12a"]},
}


@pytest.mark.parametrize("name", SMALL_THEORY)
def test_theory_figures_list_the_synthetic_runs_they_train(name, tmp_path, monkeypatch):
    from hybridsmooth.theory import slope_cases

    exp, config = ex.EXPERIMENTS[name], SMALL_THEORY[name]
    trained = []
    real = slope_cases.run_in_process

    def record(description, objective):
        trained.append(description)
        return real(description, objective)

    monkeypatch.setattr(slope_cases, "run_in_process", record)
    exp.run(config, tmp_path / name)
    listed = exp.runs(config)
    assert listed == trained and not any(d.is_model for d in listed)


@pytest.mark.parametrize("name", SMALL_THEORY)
def test_a_theory_figure_reads_the_runs_a_sweep_finished(name, tmp_path, monkeypatch, capsys):
    from hybridsmooth.theory import slope_cases

    exp, config = ex.EXPERIMENTS[name], SMALL_THEORY[name]
    exp.run(config, tmp_path / "here" / name)  # in-process, nothing stored
    grid = tmp_path / "grid.toml"
    sweep.write_grid(grid, tmp_path / "swept" / figure_runs.MODEL_RUNS_DIR, exp.runs(config))
    assert main(["sweep", "run", str(grid)]) == 0

    def refuse(description, objective):
        raise AssertionError(f"trained {description.label()} although a sweep finished it")

    monkeypatch.setattr(slope_cases, "run_in_process", refuse)
    exp.run(config, tmp_path / "swept" / name)
    swept, here = _tables(tmp_path / "swept" / name), _tables(tmp_path / "here" / name)
    assert swept.keys() == here.keys()
    for table in here:
        pd.testing.assert_frame_equal(swept[table], here[table])
