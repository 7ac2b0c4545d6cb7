"""Figures run side by side in worker processes (``figures --workers N``): figures that share a training run share
a worker, and the tables are those of one process."""

import pandas as pd
import pytest

import hybridsmooth.experiments as ex
from hybridsmooth.commands import figures
from hybridsmooth.commands.figure_workers import figure_groups
from hybridsmooth.errors import UsageError


def _args(*argv):
    import argparse

    p = argparse.ArgumentParser()
    figures.add_arguments(p)
    return p.parse_args(list(argv))


def test_figures_that_share_runs_share_a_group():
    # fig2 lists its runs only after measuring its constants (seconds of Lanczos): left out here
    keep = ("fig1", "fig3", "fig4", "fig5", "fig6", "fig7", "bound_vs_measured", "rate_slopes", "stability_region")
    selected = [ex.EXPERIMENTS[n] for n in keep]
    configs = {e.name: e.config("quick") for e in selected}
    groups = {e.name: i for i, g in enumerate(figure_groups(selected, configs)) for e in g}
    assert len(groups) == len(selected)  # every figure in exactly one group
    # Fig 3's runs are Fig 6's first panel and Fig 7's curves
    assert groups["fig3"] == groups["fig6"] == groups["fig7"]
    # the curvature figures train nothing through the run store and stand alone
    assert len({groups["fig1"], groups["fig5"], groups["fig3"]}) == 3
    # a group keeps the selection order
    for g in figure_groups(selected, configs):
        order = [selected.index(e) for e in g]
        assert order == sorted(order)


def test_two_workers_give_the_tables_of_one_process(tmp_path):
    names = "stability_region,pep_worst_case"
    one, two = tmp_path / "one", tmp_path / "two"
    assert figures.run(_args("--only", names, "--out", str(one / "f"), "--runs-dir", str(one / "r"))) == 0
    assert (
        figures.run(_args("--only", names, "--out", str(two / "f"), "--runs-dir", str(two / "r"), "--workers", "2"))
        == 0
    )
    for n in names.split(","):
        a, b = pd.read_csv(one / "f" / f"{n}.csv"), pd.read_csv(two / "f" / f"{n}.csv")
        keep = [c for c in a.columns if "second" not in c]  # wall-clock columns differ by nature
        pd.testing.assert_frame_equal(a[keep], b[keep])
        assert (two / "f" / f"{n}.png").stat().st_size > 5_000


@pytest.mark.parametrize("bad", ["0", "-1"])
def test_a_bad_worker_count_is_refused_before_any_run(tmp_path, bad):
    with pytest.raises(UsageError, match="--workers"):
        figures.run(_args("--only", "stability_region", "--out", str(tmp_path / "f"), "--workers", bad))
    assert not (tmp_path / "f").exists()


def test_workers_that_would_not_apply_are_refused(tmp_path):
    from hybridsmooth.cli import main

    grid = tmp_path / "g.toml"
    with pytest.raises(UsageError, match="--write-grid"):
        figures.run(_args("--only", "fig3", "--write-grid", str(grid), "--workers", "2"))
    assert not grid.exists()
    # the demo's figures are what --workers parallelises; --synthetic-only runs none
    assert main(["demo", "--synthetic-only", "--workers", "2", "--out", str(tmp_path / "d")]) == 2
    assert not (tmp_path / "d").exists()
