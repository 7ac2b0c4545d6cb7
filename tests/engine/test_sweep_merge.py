"""`sweep merge --from`: runs finished in another root of the same sweep join its folders, replacing new, partial
and failed ones, never a finished one, a conflict or a folder another process is writing; unfinished runs there
are left out, and the merged sweep is the one a single machine would have made."""

from __future__ import annotations

import os
import shutil

import pandas as pd

from hybridsmooth.cli import main
from hybridsmooth.engine import sweep
from hybridsmooth.engine.execute import execute
from hybridsmooth.engine.rundir import COMPLETE_FILE, _lock, load_run
from hybridsmooth.engine.sweep_merge import merge_finished

GRID = """
root = "{root}"
problems = ["quadratic:dx=4,dy=2,n=3"]
methods = ["hybrid", "zo_full", "fo_full"]
eta_x = [1e-3, 3e-3]
eta_y = [0.1]
mu = [1e-3]
epochs = 3
seeds = 2
[optimizer]
order = "rr"
"""


def _grid(tmp_path, root: str):
    path = tmp_path / f"{root}.toml"
    path.write_text(GRID.format(root=tmp_path / root))
    return path


def test_finished_runs_come_in_and_the_rest_is_said(tmp_path, capsys):
    here, there = _grid(tmp_path, "here"), _grid(tmp_path, "there")
    runs_there = sweep.plan(sweep.read_grid(there))
    assert len(runs_there) == 6
    assert main(["sweep", "run", str(there)]) == 0  # the other machine ran everything...
    (runs_there[1].folder / COMPLETE_FILE).unlink()  # ...but one run stopped before its end
    # here: run 0 finished already, run 2 stopped early, run 3 failed, run 4 is a conflict (a longer run)
    runs = sweep.plan(sweep.read_grid(here))
    execute(runs[0].description, folder=runs[0].folder)
    execute(runs[2].description.replace(optimizer__epochs=1), folder=runs[2].folder)
    runs[3].folder.mkdir(parents=True)
    (runs[3].folder / "failed.json").write_text('{"type": "RuntimeError", "error": "lost"}')
    execute(runs[4].description.replace(optimizer__epochs=5), folder=runs[4].folder)
    before = load_run(runs[0].folder).metrics
    capsys.readouterr()

    assert main(["sweep", "merge", str(here), "--from", str(tmp_path / "there")]) == 0
    out = capsys.readouterr().out
    status = {r.index: r.state for r in sweep.plan(sweep.read_grid(here))}
    assert status == {0: "finished", 1: "new", 2: "finished", 3: "finished", 4: "conflict", 5: "finished"}
    assert "1 copied, 2 replaced, 1 here, 1 unfinished, 1 kept" in out
    assert f"kept {runs[4].folder}" in out and "partial there" in out
    pd.testing.assert_frame_equal(load_run(runs[0].folder).metrics, before)  # a finished run is not touched
    for i in (2, 3, 5):  # the merged runs are the other machine's, file for file
        for name in os.listdir(runs_there[i].folder):
            assert (runs[i].folder / name).read_bytes() == (runs_there[i].folder / name).read_bytes(), (i, name)
    assert not [p for p in (tmp_path / "here").iterdir() if p.name.startswith(".merge")]
    # and `sweep run` then only has the one unfinished run left to make
    assert main(["sweep", "run", str(here)]) == 1  # the conflict is reported as failed
    out = capsys.readouterr().out
    assert "1 finished, 4 skipped" in out


def test_a_folder_being_written_is_left_alone(tmp_path):
    here, there = _grid(tmp_path, "here"), _grid(tmp_path, "there")
    assert main(["sweep", "run", str(there)]) == 0
    runs = sweep.plan(sweep.read_grid(here))
    execute(runs[0].description.replace(optimizer__epochs=1), folder=runs[0].folder)
    fd = _lock(runs[0].folder)  # another process writing it
    try:
        results = merge_finished(sweep.plan(sweep.read_grid(here)), tmp_path / "there")
    finally:
        os.close(fd)
    assert results[0].status == "kept" and "being written" in results[0].note
    assert sweep.plan(sweep.read_grid(here))[0].state == "partial"
    assert [r.status for r in results[1:]] == ["copied"] * 5


def test_bad_sources_are_refused_in_one_line(tmp_path, capsys):
    here = _grid(tmp_path, "here")
    assert main(["sweep", "merge", str(here), "--from", str(tmp_path / "nowhere")]) == 2
    assert "not a folder of run folders" in capsys.readouterr().err
    (tmp_path / "here").mkdir()
    assert main(["sweep", "merge", str(here), "--from", str(tmp_path / "here")]) == 2
    assert "the sweep's own root" in capsys.readouterr().err


def test_another_sweeps_runs_are_not_taken(tmp_path, capsys):
    other = _grid(tmp_path, "other")
    other.write_text(other.read_text().replace("epochs = 3", "epochs = 2"))  # the same runs at another length
    assert main(["sweep", "run", str(other)]) == 0
    here = _grid(tmp_path, "here")
    capsys.readouterr()
    assert main(["sweep", "merge", str(here), "--from", str(tmp_path / "other")]) == 0
    assert "0 copied, 0 here, 6 unfinished" in capsys.readouterr().out
    assert {r.state for r in sweep.plan(sweep.read_grid(here))} == {"new"}
    shutil.rmtree(tmp_path / "other")
