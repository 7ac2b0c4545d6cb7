"""Figures 1 and 5 (curvature): plots from tiny hand-made tables, runs on tiny random models, the secants and
Lanczos values on a quadratic with known blocks, and config validation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hybridsmooth.errors import UsageError
from hybridsmooth.experiments import curvature_setup as cs
from hybridsmooth.experiments import paper_curvature as pc
from hybridsmooth.experiments import paper_fig1, paper_fig5
from hybridsmooth.experiments.registry import read_table, validate_config, write_config, write_table
from hybridsmooth.objectives.module import ModuleObjective
from hybridsmooth.optim.hybrid_sgd import HybridSGDConfig

EXPS = {e.name: e for e in pc.EXPERIMENTS}
TINY_DATA = {"n_train": 8, "batch_size": 4, "max_length": 12, "n_dev": 4, "n_test": 0}


def test_exports_two_paper_experiments():
    assert set(EXPS) == {"fig1", "fig5"}
    for name, e in EXPS.items():
        assert e.kind == "paper" and e.main_table == f"{name}.csv" and e.caption and e.title


@pytest.mark.parametrize(
    "name,key,bad",
    [
        ("fig1", "adapters", ["lora", "ia3"]),
        ("fig1", "task", "news"),
        ("fig1", "eta_x", -1e-4),
        ("fig1", "measure_every", 100),
        ("fig1", "lanczos_iter", 1),
        ("fig1", "lanczos_rtol", 0.0),
        ("fig5", "lanczos_rtol", 1.5),
        ("fig1", "model", "a,b"),
        ("fig1", "data", [1, 2]),
        ("fig5", "models", []),
        ("fig5", "tasks", ["sentiment", "sentiment"]),
        ("fig5", "n_batches", 1),
        ("fig5", "kappa_y", 1.0),
    ],
)
def test_bad_config_is_rejected(name, key, bad):
    e = EXPS[name]
    with pytest.raises(UsageError, match=key):
        validate_config(e, {**e.quick, key: bad})
    if key in e.required_keys:
        with pytest.raises(UsageError):
            validate_config(e, {k: v for k, v in e.quick.items() if k != key})


# --- plots from hand-made tables ------------------------------------------------------------------------


def _fig1_tables(tmp_path):
    pts, sec = [], []
    for adapter, scale in (("lora", 1.0), ("prompt", 2.0)):
        for step in (0, 4, 8):
            for block, L, res, conv in (
                ("x", 30.0 * scale, 5.0, False),
                ("y", 2.0, 1e-4, True),
                ("xy", 4.0, 0.5, False),
            ):
                pts.append(
                    {
                        "step": step,
                        "batch": 0,
                        "loss": 0.7,
                        "block": block,
                        "L": L + step,
                        "residual": res,
                        "iterations": 4,
                        "hvps": 4,
                        "converged": conv,
                        "seconds": 1.0,
                        "model": "minilm",
                        "adapter": adapter,
                        "task": "sentiment",
                        "d_x": 1000,
                        "d_y": 10,
                    }
                )
        for step in range(8):
            sx, sy = 0.01 * (1 + step) * scale, 1.5 - 0.1 * step
            sec.append(
                {
                    "step": step,
                    "epoch": 0,
                    "sample": step % 4,
                    "loss": 0.7 - 0.01 * step,
                    "grad_x_norm": 0.4,
                    "grad_y_norm": 0.2,
                    "zo_phi": 0.1,
                    "step_x": 1e-3,
                    "step_y": 0.2,
                    "secant_x": sx,
                    "secant_y": sy,
                    "seconds": 0.5,
                    "ratio": sx / sy,
                    "model": "minilm",
                    "adapter": adapter,
                    "task": "sentiment",
                    "d_x": 1000,
                    "d_y": 10,
                }
            )
    write_table(tmp_path, "fig1.csv", pd.DataFrame(pts))
    write_table(tmp_path, "fig1_secants.csv", pd.DataFrame(sec))
    write_config(tmp_path, EXPS["fig1"].quick)


def test_plot_fig1_from_tiny_tables(tmp_path):
    _fig1_tables(tmp_path)
    png = tmp_path / "fig1.png"
    EXPS["fig1"].plot(tmp_path, png)
    assert png.is_file() and png.stat().st_size > 10_000


def test_plot_fig5_from_tiny_tables(tmp_path):
    rows = []
    for model, d_x, init in (("minilm", 22_713_216, False), ("tiny-llama", 1_591_456, True)):
        for adapter in ("lora", "prompt"):
            for task in ("sentiment", "topic"):
                for b, jitter in enumerate((0.8, 1.0, 1.3)):
                    rows.append(
                        {
                            "model": model,
                            "adapter": adapter,
                            "task": task,
                            "batch": b,
                            "loss": 0.7,
                            "L_x": 5.0 * jitter * (2 if init else 1),
                            "L_y": 0.5 / jitter,
                            "residual_x": 1.0,
                            "residual_y": 0.01,
                            "iterations_x": 3,
                            "iterations_y": 3,
                            "converged": False,
                            "d_x": d_x,
                            "d_y": 100,
                            "n": 8,
                            "random_init": init,
                        }
                    )
    per_batch = pd.DataFrame(rows)
    per_batch["rho"] = per_batch.L_x / per_batch.L_y
    summary = paper_fig5.summarize_fig5(per_batch, kappa_y=100.0)
    # a bar's interval is min..max over minibatches, and s_exact grows with rho
    assert (summary.L_x_min <= summary.L_x_mean).all() and (summary.L_x_mean <= summary.L_x_max).all()
    assert (summary.s_exact_min < summary.s_exact_max).all()
    curves = pd.DataFrame(
        [
            {"model": m, "d_x": d, "n": 8, "rho": r, "s_exact": 2 * r * (d + 2), "s_theory": 12 * r * (d + 1) / 8}
            for m, d in (("minilm", 22_713_216), ("tiny-llama", 1_591_456))
            for r in np.geomspace(0.5, 100, 5)
        ]
    )
    write_table(tmp_path, "fig5.csv", summary)
    write_table(tmp_path, "fig5_batches.csv", per_batch)
    write_table(tmp_path, "fig5_speedup.csv", curves)
    write_config(tmp_path, EXPS["fig5"].quick)
    png = tmp_path / "fig5.png"
    EXPS["fig5"].plot(tmp_path, png)
    assert png.is_file() and png.stat().st_size > 10_000


def test_plot_without_tables_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="missing table"):
        EXPS["fig1"].plot(tmp_path, tmp_path / "x.png")


# --- a quadratic with known blocks -----------------------------------------------------------------------


class BlockQuadratic(nn.Module):
    """f(x, y) = 1/2 x^T A x + x^T C y + 1/2 y^T B y + b.x: constant Hessian [[A, C], [C^T, B]]."""

    def __init__(self, A, B, C, b):
        super().__init__()
        self.base = nn.Parameter(torch.ones(A.shape[0], dtype=torch.float64))
        self.adapter = nn.Parameter(torch.ones(B.shape[0], dtype=torch.float64))
        self.A, self.B, self.C, self.b = A, B, C, b

    def forward(self, scale):
        x, y = self.base, self.adapter
        return scale * (0.5 * x @ self.A @ x + x @ self.C @ y + 0.5 * y @ self.B @ y + self.b @ x)


def _spd(d, lo, hi, seed):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return Q @ torch.diag(torch.linspace(lo, hi, d, dtype=torch.float64)) @ Q.T


def test_secants_and_lanczos_on_a_block_quadratic():
    d_x, d_y = 6, 3
    A, B = _spd(d_x, 0.5, 8.0, 1), _spd(d_y, 0.2, 1.5, 2)
    C = 0.3 * torch.randn(d_x, d_y, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    b = torch.randn(d_x, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    model = BlockQuadratic(A, B, C, b)
    obj = ModuleObjective(
        model,
        [torch.ones(1, dtype=torch.float64)] * 2,
        lambda call, s: call(s[0]),
        is_x=lambda n: n == "base",
        is_y=lambda n: n == "adapter",
    )
    x0 = obj.x.clone()
    cfg = HybridSGDConfig(method="hybrid", eta_x=0.01, eta_y=0.3, epochs=0, mu=1e-4, seed=0)
    pts, sec = paper_fig1.fig1_curvature_run(
        obj, cfg, steps=5, measure_every=5, curvature_batch=0, lanczos_iter=d_x + d_y, say=lambda msg: None
    )
    assert torch.equal(obj.x, x0)  # the run is out of place: the live point is untouched
    exact = {
        "x": float(torch.linalg.matrix_norm(A, 2)),
        "y": float(torch.linalg.matrix_norm(B, 2)),
        "xy": float(torch.linalg.matrix_norm(C, 2)),
    }
    assert sorted(pts.step.unique()) == [0, 5]
    for r in pts.itertuples():
        assert r.L == pytest.approx(exact[r.block], rel=1e-6), r.block
    # a one-block secant of a quadratic is ||H_bb d|| / ||d||: inside [lambda_min, lambda_max] of that block
    lo_x, lo_y = float(torch.linalg.eigvalsh(A)[0]), float(torch.linalg.eigvalsh(B)[0])
    assert len(sec) == 5 and (sec.step_x > 0).all() and (sec.step_y > 0).all()
    assert ((sec.secant_x >= lo_x * (1 - 1e-6)) & (sec.secant_x <= exact["x"] * (1 + 1e-6))).all()
    assert ((sec.secant_y >= lo_y * (1 - 1e-6)) & (sec.secant_y <= exact["y"] * (1 + 1e-6))).all()
    assert np.allclose(sec.ratio, sec.secant_x / sec.secant_y)


def test_the_relative_residual_of_the_config_decides_when_a_solve_stops():
    """A loose lanczos_rtol stops the x solve early on a spread spectrum, a tight one runs it to the exact norm;
    each row's converged flag says which tolerance it met."""
    d_x, d_y = 30, 3
    A, B = _spd(d_x, 0.1, 8.0, 1), _spd(d_y, 0.2, 1.5, 2)
    C = torch.zeros(d_x, d_y, dtype=torch.float64)
    model = BlockQuadratic(A, B, C, torch.zeros(d_x, dtype=torch.float64))
    obj = ModuleObjective(
        model,
        [torch.ones(1, dtype=torch.float64)],
        lambda call, s: call(s[0]),
        is_x=lambda n: n == "base",
        is_y=lambda n: n == "adapter",
    )
    x, y = obj.initial_point()
    loose = cs.figure_block_constants(obj, x, y, idx=0, iterations=d_x, cross=False, rtol=0.3)
    tight = cs.figure_block_constants(obj, x, y, idx=0, iterations=d_x, cross=False, rtol=1e-10)
    lx, tx = loose[0], tight[0]
    assert lx["block"] == tx["block"] == "x"
    assert lx["converged"] and lx["iterations"] < tx["iterations"]
    assert lx["residual"] <= 0.3 * lx["L"] and tx["residual"] <= 1e-10 * tx["L"]
    assert tx["L"] == pytest.approx(float(torch.linalg.matrix_norm(A, 2)), rel=1e-10)
    assert cs.lanczos_rtol({}) == cs.LANCZOS_TOL  # a config written before the key


def test_fig1_run_rejects_other_methods():
    obj = ModuleObjective(
        BlockQuadratic(
            torch.eye(2, dtype=torch.float64),
            torch.eye(1, dtype=torch.float64),
            torch.zeros(2, 1, dtype=torch.float64),
            torch.zeros(2, dtype=torch.float64),
        ),
        [torch.ones(1, dtype=torch.float64)],
        lambda call, s: call(s[0]),
        is_x=lambda n: n == "base",
        is_y=lambda n: n == "adapter",
    )
    with pytest.raises(UsageError, match="hybrid"):
        paper_fig1.fig1_curvature_run(
            obj,
            HybridSGDConfig(method="fo_peft", eta_y=0.1, epochs=0),
            steps=1,
            measure_every=1,
            curvature_batch=0,
            lanczos_iter=2,
        )
    with pytest.raises(UsageError, match="curvature_batch"):
        paper_fig1.fig1_curvature_run(
            obj,
            HybridSGDConfig(method="hybrid", eta_x=0.1, eta_y=0.1, epochs=0),
            steps=1,
            measure_every=1,
            curvature_batch=3,
            lanczos_iter=2,
        )


# --- runs on tiny random models --------------------------------------------------------------------------


def test_run_fig1_on_tiny_bert(tmp_path):
    cfg = {
        **EXPS["fig1"].quick,
        "model": "tiny-bert",
        "adapters": ["lora"],
        "data": TINY_DATA,
        "steps": 2,
        "measure_every": 2,
        "lanczos_iter": 2,
    }
    EXPS["fig1"].run(cfg, tmp_path)
    pts, sec = read_table(tmp_path, "fig1.csv"), read_table(tmp_path, "fig1_secants.csv")
    assert {"step", "block", "L", "residual", "converged", "adapter", "d_x", "d_y"} <= set(pts.columns)
    assert sorted(pts.step.unique()) == [0, 2] and set(pts.block) == {"x", "y", "xy"}
    assert np.isfinite(pts.L).all() and (pts.L > 0).all() and (pts.residual >= 0).all()
    assert list(sec.step) == [0, 1]
    for col in ("secant_x", "secant_y", "ratio", "step_x", "step_y"):
        assert np.isfinite(sec[col]).all() and (sec[col] > 0).all(), col
    EXPS["fig1"].plot(tmp_path, tmp_path / "fig1.png")
    assert (tmp_path / "fig1.png").stat().st_size > 10_000


def test_run_fig5_on_tiny_llama(tmp_path):
    cfg = {
        **EXPS["fig5"].quick,
        "models": ["tiny-llama"],
        "adapters": ["prompt"],
        "tasks": ["sentiment"],
        "data": TINY_DATA,
        "n_batches": 2,
        "lanczos_iter": 2,
    }
    EXPS["fig5"].run(cfg, tmp_path)
    per_batch, summary = read_table(tmp_path, "fig5_batches.csv"), read_table(tmp_path, "fig5.csv")
    curves = read_table(tmp_path, "fig5_speedup.csv")
    assert list(per_batch.batch) == [0, 1] and len(summary) == 1
    for col in ("L_x", "L_y", "rho", "residual_x", "residual_y"):
        assert np.isfinite(per_batch[col]).all() and (per_batch[col] >= 0).all(), col
    assert (per_batch.L_x > 0).all() and (per_batch.L_y > 0).all()
    row = summary.iloc[0]
    assert row.rho_min <= row.rho_mean <= row.rho_max and bool(row.random_init)
    assert math.isfinite(row.s_exact_mean) and row.s_exact_mean >= 1 and row.s_theory >= 1
    assert (np.diff(curves.sort_values("rho").s_exact) >= 0).all()
    EXPS["fig5"].plot(tmp_path, tmp_path / "fig5.png")
    assert (tmp_path / "fig5.png").stat().st_size > 10_000


def test_fig1_progress_says_the_residual_the_tolerance_reads():
    said = paper_fig1._residual_said
    assert said({"L": 37.29, "residual": 0.2, "converged": True}) == "rel res 0.0054"
    assert said({"L": 4.0, "residual": 0.4, "converged": False}) == "rel res 0.1, not converged"
    assert said({"L": 0.0, "residual": 0.0, "converged": True}) == "res 0"
