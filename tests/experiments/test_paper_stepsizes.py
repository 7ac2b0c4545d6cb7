"""Figures 2 and 4 (step sizes): configs validate, bad configs fail clearly, tables built from hand-made runs
mark the right pairs and plot without training, and a tiny-bert run goes end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridsmooth.errors import UsageError
from hybridsmooth.experiments import figure_runs, paper_fig2, paper_fig4
from hybridsmooth.experiments import paper_stepsizes as ps
from hybridsmooth.experiments.registry import tables_exist, validate_config, write_config, write_table
from hybridsmooth.experiments.stepsize_setup import PAIR_KEYS

EXPERIMENTS = {e.name: e for e in ps.EXPERIMENTS}
TINY = {
    "model": "tiny-bert",
    "task": "sentiment",
    "data": {"n_train": 8, "batch_size": 4, "max_length": 16, "n_dev": 4, "n_test": 0},
}
PROBLEM = "llm:model=tiny-bert,adapter=lora,task=sentiment"


def test_two_paper_experiments_with_exact_names():
    assert list(EXPERIMENTS) == ["fig2", "fig4"]
    for name, e in EXPERIMENTS.items():
        assert e.kind == "paper" and e.implemented and e.main_table == f"{name}.csv"
        assert "reconstruction" in e.caption.lower() and "1 seed" in e.caption


@pytest.mark.parametrize(
    "name,key,bad,match",
    [
        ("fig2", "eta_x_grid", [1e-4, 0.0], "positive"),
        ("fig2", "eta_y_grid", [], "non-empty"),
        ("fig2", "shared_rates", [-1.0], "positive"),
        ("fig2", "adapter", "ia3", "unknown adapter"),
        ("fig2", "theory_factor", 2.0, "theory_factor"),
        ("fig2", "seeds", [], "seeds"),
        ("fig2", "steps", 0, "steps"),
        ("fig4", "eta_x", 0.0, "eta_x"),
        ("fig4", "eta_y", -1e-2, "eta_y"),
        ("fig4", "mus", [], "non-empty"),
        ("fig4", "ratio_factors", [0.1, float("nan")], "positive"),
        ("fig4", "adapter", "adapterless", "unknown adapter"),
        ("fig4", "model", 3, "model"),
    ],
)
def test_bad_config_is_rejected(name, key, bad, match):
    e = EXPERIMENTS[name]
    cfg = {**e.config("quick"), key: bad}
    with pytest.raises(UsageError, match=match):
        validate_config(e, cfg)


def test_missing_key_is_rejected():
    e = EXPERIMENTS["fig2"]
    cfg = e.config("quick")
    del cfg["eta_y_grid"]
    with pytest.raises(UsageError, match="eta_y_grid"):
        validate_config(e, cfg)


def test_run_refuses_a_bad_config_before_training(tmp_path):
    with pytest.raises(UsageError, match="unknown adapter"):
        paper_fig2.run_fig2({**paper_fig2.FIG2_QUICK, "adapter": "nope"}, tmp_path / "fig2")
    assert not (tmp_path / figure_runs.MODEL_RUNS_DIR).exists()


# --- tables from hand-made runs (no training) ------------------------------------------------------------------


def _fake_run(eta_x: float, eta_y: float, losses, *, mu: float = 1e-3, seed: int = 0, diverged: bool = False):
    spec = figure_runs.figure_run(problem=PROBLEM, method="hybrid", eta_x=eta_x, eta_y=eta_y, steps=6, seed=seed, mu=mu)
    n = len(losses)
    steps = pd.DataFrame(
        {
            "step": range(n),
            "epoch": 0,
            "k": range(n),
            "sample": range(n),
            "loss": losses,
            "zo_phi": 0.1,
            "grad_y_norm": 1.0,
            "eta_x": eta_x,
            "eta_y": eta_y,
            "seconds": 0.5,
        }
    )
    return figure_runs.StoredRun(
        spec, steps, pd.DataFrame(), diverged, "diverged at step" if diverged else "ok", 0.5 * n, Path(".")
    )


def _decay(start: float, rate: float, n: int = 6, wobble: float = 0.0) -> list[float]:
    return [start * math.exp(-rate * k) + wobble * (-1) ** k for k in range(n)]


def _fig2_fixture(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    grid = [1e-4, 1.0]
    config = {
        **paper_fig2.FIG2_QUICK,
        **TINY,
        "eta_x_grid": grid,
        "eta_y_grid": grid,
        "shared_rates": grid,
        "seeds": [0, 1],
        "window": 2,
    }
    theory = (3e-7, 0.8)
    pairs = paper_fig2.fig2_pairs(config, theory)
    rates = {(1e-4, 1e-4): 0.01, (1e-4, 1.0): 0.2, (1.0, 1e-4): None, (1.0, 1.0): None, theory: 0.12}
    runs = []
    for (ex, ey), rate in rates.items():
        for seed in (0, 1):
            if rate is None:  # the x block explodes: the core stops the run when the loss leaves the scale
                runs.append(_fake_run(ex, ey, [0.69, 3.0, 80.0, float("inf")], seed=seed, diverged=True))
            else:
                runs.append(_fake_run(ex, ey, _decay(0.69, rate, wobble=0.01 * (seed + 1)), seed=seed))
    constants = {
        "L_x": 4.0,
        "L_y": 1.2,
        "theory_factor": 0.5,
        "limit_x": 6e-7,
        "limit_y": 1.6,
        "limit_x_formula": "2/(L_x(d_x+2))",
        "limit_y_formula": "2/L_y",
        "lanczos_iter": 3,
        "d_x": 1000,
        "d_y": 10,
        "eta_x_theory": theory[0],
        "eta_y_theory": theory[1],
    }
    out = tmp_path / "fig2"
    for name, table in paper_fig2.fig2_tables(runs, pairs, constants, window=2).items():
        write_table(out, name, table)
    write_config(out, config)
    return out, pd.read_csv(out / paper_fig2.FIG2_RUNS)


def test_fig2_tables_mark_best_pair_and_keep_diverged_runs(tmp_path):
    out, runs = _fig2_fixture(tmp_path)
    assert tables_exist(EXPERIMENTS["fig2"], out)
    # the grid, diagonal and theory roles share runs: 4 grid pairs + the theory pair, 2 seeds each
    assert len(runs) == 10 and runs.drop_duplicates(["eta_x", "eta_y"]).shape[0] == 5
    assert runs[runs.on_diagonal].drop_duplicates(["eta_x", "eta_y"]).shape[0] == 2
    diverged = runs[runs.diverged]
    assert len(diverged) == 4 and diverged.final_loss.isna().all()
    assert not (diverged.best_pair | diverged.best_single).any()
    best_pair = runs[runs.best_pair].drop_duplicates(["eta_x", "eta_y"])
    assert list(zip(best_pair.eta_x, best_pair.eta_y)) == [(1e-4, 1.0)]
    best_single = runs[runs.best_single].drop_duplicates(["eta_x", "eta_y"])
    assert list(zip(best_single.eta_x, best_single.eta_y)) == [(1e-4, 1e-4)]
    assert (runs[runs.is_theory].in_grid == False).all()  # noqa: E712
    steps = pd.read_csv(out / paper_fig2.FIG2_TABLE)
    one = steps[(steps.eta_x == 1e-4) & (steps.eta_y == 1.0) & (steps.seed == 0)].sort_values("step")
    assert np.allclose(one.loss_smoothed.iloc[1:], (one.loss.iloc[1:].to_numpy() + one.loss.iloc[:-1].to_numpy()) / 2)


def test_fig2_plot_reads_only_stored_tables(tmp_path):
    out, _ = _fig2_fixture(tmp_path)
    png = tmp_path / "fig2.png"
    paper_fig2.plot_fig2(out, png)
    assert png.is_file() and png.stat().st_size > 20_000
    assert not (tmp_path / figure_runs.MODEL_RUNS_DIR).exists()


def test_fig2_plot_without_tables_says_run_first(tmp_path):
    with pytest.raises(UsageError, match="run the experiment first"):
        paper_fig2.plot_fig2(tmp_path / "nothing", tmp_path / "x.png")


def test_fig4_pairs_share_the_centre_run():
    config = {
        **paper_fig4.FIG4_QUICK,
        "eta_x": 2e-3,
        "eta_y": 0.5,
        "mu": 1e-3,
        "mus": [1e-4, 1e-2],
        "ratio_factors": [0.1, 10.0],
    }
    pairs = paper_fig4.fig4_pairs(config)
    # the centre is added to sweeps that omit it, and is one run listed in both
    assert sorted(pairs[pairs.sweep == "mu"].value) == [1e-4, 1e-3, 1e-2]
    assert sorted(pairs[pairs.sweep == "ratio"].value) == [0.1, 1.0, 10.0]
    centre = pairs[pairs.is_centre]
    assert set(centre.sweep) == {"mu", "ratio"} and len(centre.drop_duplicates(PAIR_KEYS)) == 1
    assert len(pairs.drop_duplicates(PAIR_KEYS)) == 5
    ratio = pairs[pairs.sweep == "ratio"].set_index("value")
    assert ratio.loc[10.0, "eta_x"] == pytest.approx(2e-2) and (ratio.eta_y == 0.5).all()
    assert ratio.loc[0.1, "ratio"] == pytest.approx(0.1 * 2e-3 / 0.5)


def test_fig4_plot_from_hand_made_tables(tmp_path):
    config = {**paper_fig4.FIG4_QUICK, **TINY, "seeds": [0, 1]}
    pairs = paper_fig4.fig4_pairs(config)
    runs = []
    for p in pairs.drop_duplicates(PAIR_KEYS).itertuples():
        for seed in (0, 1):
            if p.eta_x > config["eta_x"]:
                runs.append(_fake_run(p.eta_x, p.eta_y, [0.7, 5.0, float("nan")], mu=p.mu, seed=seed, diverged=True))
            else:
                runs.append(
                    _fake_run(p.eta_x, p.eta_y, _decay(0.7, 0.05 + 10 * p.mu, wobble=0.01 * seed), mu=p.mu, seed=seed)
                )
    out = tmp_path / "fig4"
    for name, table in paper_fig4.fig4_tables(runs, pairs, window=3).items():
        write_table(out, name, table)
    write_config(out, config)
    stored = pd.read_csv(out / paper_fig4.FIG4_RUNS)
    assert len(stored) == 2 * len(pairs)  # the centre's two seeds appear once per sweep
    assert stored[stored.diverged].final_loss.isna().all() and stored.diverged.sum() == 2
    png = tmp_path / "fig4.png"
    paper_fig4.plot_fig4(out, png)
    assert png.is_file() and png.stat().st_size > 20_000


# --- end to end on a tiny model ------------------------------------------------------------------------------


def test_fig2_and_fig4_tiny_runs_end_to_end(tmp_path):
    grid = [1e-4, 1.0]
    config2 = {
        **paper_fig2.FIG2_QUICK,
        **TINY,
        "eta_x_grid": grid,
        "eta_y_grid": grid,
        "shared_rates": grid,
        "steps": 2,
        "lanczos_iter": 2,
        "window": 2,
    }
    paper_fig2.run_fig2(config2, tmp_path / "fig2")
    assert tables_exist(EXPERIMENTS["fig2"], tmp_path / "fig2")
    c = pd.read_csv(tmp_path / "fig2" / paper_fig2.FIG2_CONSTANTS).iloc[0]
    assert c.L_x > 0 and c.L_y > 0
    assert c.eta_x_theory == pytest.approx(0.5 * 2 / (c.L_x * (c.d_x + 2)), rel=5e-3)
    assert c.eta_y_theory == pytest.approx(0.5 * 2 / c.L_y, rel=5e-3)
    runs = pd.read_csv(tmp_path / "fig2" / paper_fig2.FIG2_RUNS)
    assert runs.drop_duplicates(["eta_x", "eta_y"]).shape[0] == 5 and (runs.completed_steps <= 2).all()
    cache = tmp_path / figure_runs.MODEL_RUNS_DIR
    assert len(list(cache.iterdir())) == 5
    paper_fig2.plot_fig2(tmp_path / "fig2", tmp_path / "fig2.png")
    assert (tmp_path / "fig2.png").is_file()

    config4 = {**paper_fig4.FIG4_QUICK, **TINY, "steps": 2, "window": 2, "mus": [1e-2], "ratio_factors": [10.0]}
    paper_fig4.run_fig4(config4, tmp_path / "fig4")
    assert len(list(cache.iterdir())) == 5 + 3  # centre, mu 1e-2, 10x eta_x: the centre is trained once
    stored = pd.read_csv(tmp_path / "fig4" / paper_fig4.FIG4_RUNS)
    assert set(stored.sweep) == {"mu", "ratio"} and stored.is_centre.sum() == 2
    paper_fig4.plot_fig4(tmp_path / "fig4", tmp_path / "fig4.png")
    assert (tmp_path / "fig4.png").is_file()
