"""Figures 3, 6, 7: configs validate, runs on a tiny model write the tables, plots read only the tables."""

import json

import numpy as np
import pandas as pd
import pytest

from hybridsmooth.errors import UsageError
from hybridsmooth.experiments import figure_runs as mr
from hybridsmooth.experiments import paper_training as pt
from hybridsmooth.experiments import training_plots, training_runs
from hybridsmooth.experiments.paper_setup import llm_problem
from hybridsmooth.experiments.training_configs import panel_config

TINY = llm_problem("tiny-bert", "lora", n_train=8, batch_size=4, max_length=16, n_dev=8, n_test=0)


def _config(fo_points=(), **over):
    panel = panel_config(
        TINY,
        "tiny",
        seeds=(0, 1),
        steps=3,
        eval_every=2,
        eval_limit=8,
        methods={"hybrid": [1e-4, 0.5], "fo_peft": [0.0, 0.5], "zo_full": [1e-4, 0.0]},
    )
    if fo_points:
        panel["fo_points"] = list(fo_points)
    return {"mode": "quick", "window": 2, "target_fraction": 0.5, "panels": [panel], **over}


@pytest.mark.parametrize("exp", pt.EXPERIMENTS, ids=lambda e: e.name)
def test_quick_and_full_configs_validate(exp):
    exp.validate(exp.config("quick"))
    exp.validate(exp.config("full"))


def test_fig7_quick_reuses_fig3_runs():
    fig3, fig7 = (next(e for e in pt.EXPERIMENTS if e.name == n) for n in ("fig3", "fig7"))
    specs3 = [s.content_hash() for p in fig3.config("quick")["panels"] for s in training_runs.panel_specs(p)]
    specs7 = [s for p in fig7.config("quick")["panels"] for s in training_runs.panel_specs(p)]
    # every run of Figure 3 is one of Figure 7's (stored once); Figure 7 adds the hybrid at the other FO points
    assert set(specs3) <= {s.content_hash() for s in specs7}
    extra = [s for s in specs7 if s.content_hash() not in set(specs3)]
    assert {s.variant for s in extra} == {"hybrid+plus", "hybrid+sym"}


@pytest.mark.parametrize(
    "bad, msg", [({"window": 0}, "window"), ({"target_fraction": 1.5}, "target_fraction"), ({"panels": []}, "panels")]
)
def test_bad_configs_are_refused(bad, msg):
    with pytest.raises(UsageError, match=msg):
        training_runs.validate_panels(_config(**bad))


def test_bad_panel_entries_are_refused():
    cfg = _config()
    cfg["panels"][0]["methods"] = {"adam": [1.0, 1.0]}
    with pytest.raises(UsageError, match="unknown method"):
        training_runs.validate_panels(cfg)
    cfg = _config()
    cfg["panels"][0]["methods"] = {"hybrid": [-1.0, 1.0]}
    with pytest.raises(UsageError, match="eta_x"):
        training_runs.validate_panels(cfg)
    cfg = _config()
    cfg["panels"][0]["problem"] = "quadratic:d_x=3"
    with pytest.raises(UsageError, match="llm"):
        training_runs.validate_panels(cfg)
    with pytest.raises(UsageError, match="fo_points"):
        training_runs.validate_panels(_config(fo_points=["halfway"]))


def test_run_writes_tables_and_rerun_reads_them_back(tmp_path):
    out = tmp_path / "runs" / "fig7"
    cfg = _config(fo_points=["plus"])
    training_runs.run_fig7(cfg, out)
    steps = pd.read_csv(out / "fig7.csv")
    assert set(steps["variant"]) == {"hybrid", "hybrid+plus", "fo_peft", "zo_full"}
    assert len(steps) == 4 * 2 * 3  # variants x seeds x steps
    # the FO point changes the adapter's path: the plus runs are not copies of the clean ones
    clean, plus = (
        steps[steps["variant"] == v].sort_values(["seed", "step"])["loss"].to_numpy() for v in ("hybrid", "hybrid+plus")
    )
    assert clean[0] == plus[0] and not np.allclose(clean, plus, rtol=0, atol=1e-9)
    assert np.isfinite(steps["loss"]).all() and (steps["seconds"] > 0).all()
    evals = pd.read_csv(out / "fig7_evals.csv")
    assert set(evals["step"]) == {0, 2, 3}
    assert {"target_dev_loss", "steps_to_target"} <= set(pd.read_csv(out / "fig7_targets.csv").columns)
    targets = pd.read_csv(out / "fig7_targets.csv")
    assert set(targets["method"]) == {"hybrid", "hybrid+plus", "fo_peft", "zo_full"}
    costs = pd.read_csv(out / "fig7_costs.csv").set_index("method")
    assert costs.loc["fo_peft", "ratio_to_fo_peft"] == pytest.approx(1.0)
    assert costs.loc["hybrid+plus", "forwards"] == 2 and costs.loc["hybrid", "forwards"] == 3
    assert json.loads((out / "config.json").read_text())["window"] == 2
    # the shared cache: a second experiment with the same runs trains nothing
    folders = sorted(p.name for p in (tmp_path / "runs" / mr.MODEL_RUNS_DIR).iterdir())
    assert len(folders) == 8
    stamp = {p: (tmp_path / "runs" / mr.MODEL_RUNS_DIR / p / mr.DONE_FILE).stat().st_mtime_ns for p in folders}
    training_runs.run_fig3(_config(), tmp_path / "runs" / "fig3")
    assert {p: (tmp_path / "runs" / mr.MODEL_RUNS_DIR / p / mr.DONE_FILE).stat().st_mtime_ns for p in folders} == stamp
    fig3 = pd.read_csv(tmp_path / "runs" / "fig3" / "fig3.csv")
    pd.testing.assert_frame_equal(
        fig3, steps[steps["variant"] != "hybrid+plus"].reset_index(drop=True), check_like=True
    )
    training_plots.plot_fig7(out, tmp_path / "fig7.png")
    assert (tmp_path / "fig7.png").stat().st_size > 10_000


def _fake_tables(tmp_path, name):
    rows, evals = [], []
    rng = np.random.default_rng(0)
    for panel in ("A", "B"):
        for method in ("hybrid", "fo_peft", "zo_full"):
            for seed in (0, 1):
                loss = 0.7 - 0.01 * np.arange(10) * (method != "zo_full") + 0.01 * rng.standard_normal(10)
                for step in range(10):
                    rows.append(
                        dict(
                            panel=panel,
                            problem="llm:x",
                            method=method,
                            seed=seed,
                            step=step,
                            loss=loss[step],
                            smoothed=loss[: step + 1][-3:].mean(),
                            seconds=0.1,
                            elapsed=0.1 * (step + 1),
                            eta_x=0.0,
                            eta_y=1.0,
                            mu=1e-3,
                            diverged=False,
                        )
                    )
                for step in (0, 5, 10):
                    improves = method != "zo_full"
                    evals.append(
                        dict(
                            panel=panel,
                            method=method,
                            seed=seed,
                            step=step,
                            dev_loss=0.7 - (0.02 * step if improves else 0.0) * (1 + 0.1 * seed),
                            dev_accuracy=0.5 + 0.01 * step,
                            seconds=0.1 * step,
                        )
                    )
    steps = pd.DataFrame(rows)
    steps.to_csv(tmp_path / f"{name}.csv", index=False)
    pd.DataFrame(evals).to_csv(tmp_path / f"{name}_evals.csv", index=False)
    training_runs.targets_table(pd.DataFrame(evals), fraction=0.5).to_csv(tmp_path / f"{name}_targets.csv", index=False)
    (tmp_path / "config.json").write_text(json.dumps({"window": 3}))
    training_runs.cost_table(steps).to_csv(tmp_path / f"{name}_costs.csv", index=False)
    return steps


@pytest.mark.parametrize(
    "name, plot",
    [("fig3", training_plots.plot_fig3), ("fig6", training_plots.plot_fig6), ("fig7", training_plots.plot_fig7)],
)
def test_plots_read_only_stored_tables(tmp_path, name, plot):
    _fake_tables(tmp_path, name)
    plot(tmp_path, tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def test_targets_table_on_known_curves(tmp_path):
    _fake_tables(tmp_path, "fig3")
    evals = pd.read_csv(tmp_path / "fig3_evals.csv")
    t = training_runs.targets_table(evals, fraction=0.5).set_index(["panel", "method"])
    # dev loss 0.7, 0.6, 0.5 (seed 0) and 0.7, 0.59, 0.48 (seed 1): best final mean 0.49, target 0.595, reached
    # at step 10 by seed 0 and at step 5 by seed 1
    assert t.loc[("A", "hybrid"), "target_dev_loss"] == pytest.approx(0.7 - 0.5 * (0.7 - 0.49))
    assert t.loc[("A", "hybrid"), "reached"] == 2 and t.loc[("A", "hybrid"), "steps_to_target"] == 7.5
    # ZO-Full does not improve: it never reaches the target
    assert t.loc[("A", "zo_full"), "reached"] == 0 and np.isnan(t.loc[("A", "zo_full"), "steps_to_target"])
    assert t.loc[("A", "fo_peft"), "steps_ratio_to_fo_peft"] == pytest.approx(1.0)


def test_no_target_when_nothing_improves():
    evals = pd.DataFrame(
        [
            dict(panel="A", method=m, seed=0, step=s, dev_loss=0.7 + 0.01 * s, dev_accuracy=0.5, seconds=s)
            for m in ("hybrid", "fo_peft")
            for s in (0, 4, 8)
        ]
    )
    t = training_runs.targets_table(evals, fraction=0.5)
    assert t["target_dev_loss"].isna().all() and (t["reached"] == 0).all()
