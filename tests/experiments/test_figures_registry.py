"""The figures registry and the ``figures`` command: listing, configs, plotting from tiny stored tables, and
re-plotting without re-running."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridsmooth import experiments as ex
from hybridsmooth.cli import _Parser
from hybridsmooth.commands import figures
from hybridsmooth.errors import UsageError
from hybridsmooth.experiments import style
from hybridsmooth.experiments.registry import tables_exist, validate_config, write_config, write_table

THEORY = (
    "stability_region",
    "bound_vs_measured",
    "rate_slopes",
    "speedup_vs_rho",
    "zo_view",
    "low_precision",
    "pep_worst_case",
)
# figures whose tables are small enough to make by running a reduced config (seconds), instead of by hand
REDUCED_RUNS = {
    "pep_worst_case": {"mode": "quick", "Ts_deterministic": [1, 2], "Ts_rr": [1], "delta": 0.9, "seeds": 4},
    "low_precision": {**ex.EXPERIMENTS["low_precision"].quick, "weights": 2000, "drift_steps": [1, 3], "run_steps": 3},
    "zo_view": ex.EXPERIMENTS["zo_view"].quick,
}
PAPER = tuple(f"fig{k}" for k in range(1, 8))


def _args(*argv: str) -> argparse.Namespace:
    p = _Parser(prog="figures")
    figures.add_arguments(p)
    return p.parse_args(list(argv))


def test_registry_lists_every_figure():
    assert set(ex.EXPERIMENTS) == set(THEORY) | set(PAPER)
    for names, kind in ((THEORY, "theory"), (PAPER, "paper")):
        for name in names:
            e = ex.EXPERIMENTS[name]
            assert e.implemented and e.kind == kind and e.caption and e.title
            assert "not implemented" not in e.caption.lower()


@pytest.mark.parametrize("name", THEORY + PAPER)
@pytest.mark.parametrize("mode", ["quick", "full"])
def test_configs_validate(name, mode):
    e = ex.EXPERIMENTS[name]
    cfg = e.config(mode)
    assert cfg["mode"] == mode
    validate_config(e, cfg)


@pytest.mark.parametrize(
    "name,key,bad",
    [
        ("stability_region", "span", [2.0, 10.0]),
        ("bound_vs_measured", "forms", ["spsa-ish"]),
        ("rate_slopes", "Ts", [32, 64]),
        ("speedup_vs_rho", "kappa_y", 1.0),
        ("bound_vs_measured", "seeds", 1),
    ],
)
def test_bad_config_is_rejected(name, key, bad):
    e = ex.EXPERIMENTS[name]
    cfg = {**e.quick, key: bad}
    with pytest.raises(UsageError, match=key):
        validate_config(e, cfg)
    missing = {k: v for k, v in e.quick.items() if k != key}
    with pytest.raises(UsageError):
        validate_config(e, missing)


def test_bad_mode_is_rejected():
    with pytest.raises(UsageError, match="quick, full"):
        ex.EXPERIMENTS["rate_slopes"].config("medium")


def test_method_labels_are_shared():
    assert style.method_label("hybrid") == "Hybrid (ZO x + FO y)"
    assert set(style.METHOD_LABELS) == set(style.METHOD_COLORS)
    with pytest.raises(ValueError, match="accepted"):
        style.method_label("adam")


# --- tiny stored tables, written here (no training) ------------------------------------------------------------


def _tiny_tables(name: str, d: Path) -> None:
    e = ex.EXPERIMENTS[name]
    rng = np.random.default_rng(0)
    if name in REDUCED_RUNS:
        e.run(REDUCED_RUNS[name], d)
        return
    if name == "stability_region":
        ex_, ey_ = np.geomspace(1e-3, 1.0, 5), np.geomspace(1e-2, 10.0, 6)
        gx, gy = np.meshgrid(ex_, ey_, indexing="ij")
        write_table(
            d,
            "stability_region.csv",
            pd.DataFrame({"eta_x": gx.ravel(), "eta_y": gy.ravel(), "rho": (0.9 + gx + gy / 5).ravel()}),
        )
        write_table(
            d,
            "box.csv",
            pd.DataFrame(
                [
                    {
                        "L_x": 2.0,
                        "L_y": 1.0,
                        "cap_x": 1e-2,
                        "cap_y": 0.1,
                        "binding_x": "C2",
                        "max_rho_in_box": 0.95,
                        "d_x": 2,
                        "d_y": 1,
                        "seed": 0,
                    }
                ]
            ),
        )
    elif name == "bound_vs_measured":
        rows = [
            {
                "instance": inst,
                "fraction": fr,
                "form": form,
                "mu": 0.1,
                "T": 5,
                "eta_x": fr,
                "eta_y": fr,
                "seed": s,
                "lhs": fr * 0.1 * (1 + 0.1 * rng.random()),
                "B_R": fr,
                "diverged": False,
            }
            for inst in ("A", "B")
            for fr in (1.0, 0.1)
            for form in ("central", "forward")
            for s in range(3)
        ]
        write_table(d, "bound_vs_measured.csv", pd.DataFrame(rows))
    elif name == "rate_slopes":
        rows = [
            {"case": c, "label": c, "T": T, "seed": s, "phi": T**p * (1 + 0.1 * rng.random()), "predicted_slope": p}
            for c, p in (("12a", -0.5), ("12b", -2 / 3))
            for T in (4, 8, 16)
            for s in range(3)
        ]
        write_table(d, "rate_slopes.csv", pd.DataFrame(rows))
    elif name == "speedup_vs_rho":
        rows = [
            {
                "rho": r,
                "source": src,
                "target": tgt,
                "ratio": 2 * r,
                "low": 1.9 * r,
                "high": 2.1 * r,
                "epochs_one": 1,
                "epochs_two": 1,
            }
            for r in (1.0, 3.0)
            for src in ("exact", "simulated")
            for tgt in ("y", "full")
        ]
        write_table(d, "speedup_vs_rho.csv", pd.DataFrame(rows))
        write_table(
            d, "speedup_theory.csv", pd.DataFrame({"rho": [1.0, 3.0], "s_exact": [2.0, 6.0], "s_theory": [10.0, 30.0]})
        )
    write_config(d, e.quick)


@pytest.mark.parametrize("name", THEORY)
def test_plot_reads_tiny_stored_table(name, tmp_path):
    d = tmp_path / name
    _tiny_tables(name, d)
    e = ex.EXPERIMENTS[name]
    assert tables_exist(e, d)
    png = tmp_path / f"{name}.png"
    e.plot(d, png)
    data = png.read_bytes()
    assert len(data) > 5_000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_tables_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="missing table"):
        ex.EXPERIMENTS["rate_slopes"].plot(tmp_path, tmp_path / "x.png")


# --- the command ---------------------------------------------------------------------------------------------


def test_only_with_bad_name_exits_2(tmp_path, capsys):
    from hybridsmooth import cli

    # the CLI maps UsageError to exit 2; the command itself raises it with the accepted names
    with pytest.raises(UsageError, match="accepted: fig1, fig2"):
        figures.run(
            _args("--only", "stability_region,nope", "--out", str(tmp_path / "f"), "--runs-dir", str(tmp_path / "r"))
        )
    original = dict(cli.COMMANDS)
    cli.COMMANDS.setdefault("figures", "build the figures")
    try:
        rc = cli.main(["figures", "--only", "nope", "--out", str(tmp_path / "f"), "--runs-dir", str(tmp_path / "r")])
    finally:
        cli.COMMANDS.clear()
        cli.COMMANDS.update(original)
    assert rc == 2
    assert "unknown figure name(s) nope" in capsys.readouterr().err


def test_replot_without_rerun_does_not_run(tmp_path, monkeypatch):
    runs, out = tmp_path / "runs", tmp_path / "figs"
    names = ["rate_slopes", "speedup_vs_rho"]
    for n in names:
        _tiny_tables(n, runs / n)

    def refuse(config, out_dir):
        raise AssertionError("run must not be called when stored tables exist")

    patched = {k: (dataclasses.replace(v, run=refuse) if k in names else v) for k, v in ex.EXPERIMENTS.items()}
    monkeypatch.setattr(ex, "EXPERIMENTS", patched)
    assert figures.run(_args("--quick", "--only", ",".join(names), "--out", str(out), "--runs-dir", str(runs))) == 0
    for n in names:
        assert (out / f"{n}.png").stat().st_size > 5_000
        pd.testing.assert_frame_equal(
            pd.read_csv(out / f"{n}.csv"), pd.read_csv(runs / n / ex.EXPERIMENTS[n].main_table)
        )
    readme = (out / "README.md").read_text()
    for n in THEORY + PAPER:
        assert f"**{n}**" in readme
    assert "not implemented" not in readme.lower()
    assert readme.count("not built in this folder yet") == len(THEORY) + len(PAPER) - len(names)
    assert "--quick --only rate_slopes" in readme
    # --rerun (and a changed mode) must call run
    with pytest.raises(AssertionError, match="must not be called"):
        figures.run(_args("--quick", "--rerun", "--only", "rate_slopes", "--out", str(out), "--runs-dir", str(runs)))
    with pytest.raises(AssertionError, match="must not be called"):
        figures.run(_args("--full", "--only", "speedup_vs_rho", "--out", str(out), "--runs-dir", str(runs)))


def test_run_then_plot_writes_outputs(tmp_path):
    """One real (tiny) run end to end through the command: stability_region at a 6 x 6 grid."""
    e = ex.EXPERIMENTS["stability_region"]
    small = dataclasses.replace(e, quick={**e.quick, "grid": 6})
    runs, out = tmp_path / "runs", tmp_path / "figs"
    import hybridsmooth.experiments as pkg

    old = pkg.EXPERIMENTS
    pkg.EXPERIMENTS = {**old, "stability_region": small}
    try:
        assert figures.run(_args("--only", "stability_region", "--out", str(out), "--runs-dir", str(runs))) == 0
    finally:
        pkg.EXPERIMENTS = old
    t = pd.read_csv(out / "stability_region.csv")
    assert len(t) == 36 and (t.rho > 0).all()
    box = pd.read_csv(runs / "stability_region" / "box.csv").iloc[0]
    # THEORY check 8: the Theorem R box lies strictly inside the exact stability region
    assert box.max_rho_in_box < 1.0
    # and the grid reaches outside it (the figure shows an edge)
    assert t.rho.max() > 1.0
