"""Sweeps: grid expansion, folder states, resume, shards, failures, collect and the process pool."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hybridsmooth.cli import main
from hybridsmooth.engine import sweep
from hybridsmooth.engine.execute import execute
from hybridsmooth.engine.rundir import COMPLETE_FILE, load_run
from hybridsmooth.errors import UsageError

GRID = """
root = "{root}"
problems = ["quadratic:dx=4,dy=2,n=3", "cauchy:dx=4,dy=2,n=3"]
methods = ["hybrid", "zo_full"]
eta_x = [1e-3, 3e-3]
eta_y = [0.1]
mu = [1e-3]
epochs = {epochs}
seeds = 2
[optimizer]
order = "rr"
"""


def write_grid(tmp_path, epochs=3, text=GRID, name="grid.toml"):
    path = tmp_path / name
    path.write_text(text.format(root=tmp_path / "runs", epochs=epochs))
    return path


def frame(folder):
    return load_run(folder).metrics.drop(columns="seconds")


def test_expansion_counts_and_frozen_blocks_deduplicated(tmp_path):
    grid = sweep.read_grid(write_grid(tmp_path))
    assert len(grid.descriptions) == 8  # 2 problems x 2 methods x 2 eta_x
    text = GRID.replace("eta_y = [0.1]", "eta_y = [0.1, 0.2]").replace('"zo_full"]', '"zo_full", "fo_peft"]')
    grid = sweep.read_grid(write_grid(tmp_path, text=text))
    # per problem: hybrid 2x2, zo_full ignores eta_y (2), fo_peft ignores eta_x (2)
    assert len(grid.descriptions) == 2 * (4 + 2 + 2)
    assert len({d.content_hash() for d in grid.descriptions}) == len(grid.descriptions)
    assert all(d.seeds == 2 for d in grid.descriptions)  # seeds stay one batched run
    assert sweep.read_grid(write_grid(tmp_path), root=tmp_path / "elsewhere").root == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    "line, message",
    [
        ("colour = 1", "unknown keys colour"),
        ("bogus = 2", "unknown keys optimizer.bogus"),  # lands in the [optimizer] table
        ("epochs = [1, 2]", "epochs must be one value"),
        ("eta_x = []", "empty list"),
    ],
)
def test_bad_grids_refused_in_one_line(tmp_path, capsys, line, message):
    key = line.split(" ")[0]
    lines = [x for x in GRID.splitlines() if not x.startswith(key)]
    top = key != "bogus"
    path = write_grid(tmp_path, text="\n".join([line, *lines] if top else [*lines, line]))
    with pytest.raises(UsageError, match=message):
        sweep.read_grid(path)
    assert main(["sweep", "plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_plan_new_then_finished_after_run(tmp_path, capsys):
    path = write_grid(tmp_path)
    assert main(["sweep", "plan", str(path)]) == 0
    assert "8 runs: 8 new, 0 finished, 0 partial, 0 failed" in capsys.readouterr().out
    assert main(["sweep", "run", str(path)]) == 0
    assert main(["sweep", "plan", str(path), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["state"] for r in rows] == ["finished"] * 8
    assert main(["sweep", "run", str(path)]) == 0  # nothing left to do: every run skipped
    assert "0 finished, 8 skipped" in capsys.readouterr().out


def test_interrupted_run_resumes_to_the_uninterrupted_metrics(tmp_path):
    path = write_grid(tmp_path, epochs=4)
    runs = sweep.plan(sweep.read_grid(path))
    first, second = runs[0], runs[1]
    # a run that stopped early: the same description with fewer epochs, and one that lost its marker
    execute(first.description.replace(optimizer__epochs=2), folder=first.folder)
    execute(second.description.replace(optimizer__epochs=2), folder=second.folder)
    (second.folder / COMPLETE_FILE).unlink()
    states = [r.state for r in sweep.plan(sweep.read_grid(path))]
    assert states[:2] == ["partial", "partial"] and set(states[2:]) == {"new"}
    assert main(["sweep", "run", str(path)]) == 0
    for run in (first, second):
        execute(run.description, folder=tmp_path / "straight" / run.folder.name)
        pd.testing.assert_frame_equal(frame(run.folder), frame(tmp_path / "straight" / run.folder.name))


def test_shards_cover_the_plan_exactly_once(tmp_path, capsys):
    path = write_grid(tmp_path, epochs=1)
    assert main(["sweep", "run", str(path), "--shard", "0/2"]) == 0
    assert "4 new, 4 finished" in _status(path, capsys)
    assert main(["sweep", "run", str(path), "--shard", "1/2"]) == 0
    out = capsys.readouterr().out
    assert "0 skipped" in out and "4 finished" in out
    assert "0 new, 8 finished" in _status(path, capsys)
    for bad in ("2/2", "1", "a/b", "0/0"):
        assert main(["sweep", "run", str(path), "--shard", bad]) == 2
        assert "--shard takes i/N" in capsys.readouterr().err


def _status(path, capsys) -> str:
    capsys.readouterr()
    assert main(["sweep", "status", str(path)]) == 0
    return capsys.readouterr().out


def test_a_failing_run_writes_failed_json_and_the_others_finish(tmp_path, capsys, monkeypatch):
    import hybridsmooth.problems as problems

    build = problems.make_problem

    def make_problem(spec, *args, **kwargs):
        if spec.startswith("cauchy"):
            raise RuntimeError("cannot build this problem")
        return build(spec, *args, **kwargs)

    monkeypatch.setattr(problems, "make_problem", make_problem)
    path = write_grid(tmp_path, epochs=1)
    assert main(["sweep", "run", str(path)]) == 1
    runs = sweep.plan(sweep.read_grid(path))
    failed = [r for r in runs if r.state == "failed"]
    assert len(failed) == 4 and all(r.description.problem.startswith("cauchy") for r in failed)
    info = json.loads((failed[0].folder / sweep.FAILED_FILE).read_text())
    assert info["type"] == "RuntimeError" and info["error"] == "cannot build this problem"
    assert sum(r.state == "finished" for r in runs) == 4
    out = _status(path, capsys)
    assert "4 failed" in out and out.count("failed ") == 4
    monkeypatch.setattr(problems, "make_problem", build)  # fixed: the same command completes the sweep
    assert main(["sweep", "run", str(path)]) == 0
    assert "0 new, 8 finished, 0 partial, 0 failed" in _status(path, capsys)
    assert not any((r.folder / sweep.FAILED_FILE).exists() for r in runs)


def test_a_batch_too_large_for_memory_fails_alone_before_allocating(tmp_path, capsys):
    text = GRID.replace('"cauchy:dx=4,dy=2,n=3"', '"cossum:dx=1000000"').replace("seeds = 2", "seeds = 2000")
    path = write_grid(tmp_path, epochs=1, text=text)
    assert main(["sweep", "run", str(path)]) == 1
    runs = sweep.plan(sweep.read_grid(path))
    failed = [r for r in runs if r.state == "failed"]
    assert failed and all(r.description.problem.startswith("cossum") for r in failed)
    info = json.loads((failed[0].folder / sweep.FAILED_FILE).read_text())
    assert "2000 seeds" in info["error"] and "of memory" in info["error"]
    assert all(r.state == "finished" for r in runs if r.description.problem.startswith("quadratic"))


def test_collect_one_row_per_run_seed_and_epoch(tmp_path, capsys):
    path = write_grid(tmp_path, epochs=2)
    assert main(["sweep", "run", str(path)]) == 0
    out = tmp_path / "table.csv"
    assert main(["sweep", "collect", str(path), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 8 * 2 * 3  # runs x seeds x epochs 0..2
    for column in ("problem", "method", "eta_x", "eta_y", "mu", "seeds", "run_hash", "seed", "epoch", "loss"):
        assert column in table.columns
    assert table.groupby("run_hash").size().tolist() == [6] * 8
    assert main(["sweep", "collect", str(path), "--out", str(tmp_path / "table.txt")]) == 2


def test_unavailable_executors_name_their_extra(tmp_path, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec  # the extras are installed: hide ray and submitit as on a bare install
    hidden = ("ray", "submitit")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in hidden else find_spec(name, *a))
    path = write_grid(tmp_path)
    for executor, extra in (("ray", "hybridsmooth[ray]"), ("slurm", "hybridsmooth[slurm]")):
        assert main(["sweep", "run", str(path), "--executor", executor]) == 2
        err = capsys.readouterr().err
        assert extra in err or "not implemented yet" in err


def test_two_workers_give_the_same_metrics_as_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    text = GRID.replace('"cauchy:dx=4,dy=2,n=3"', "").replace(", ]", "]")
    for where in (one, two):
        write_grid(where, epochs=2, text=text)
    assert main(["sweep", "run", str(one / "grid.toml"), "--workers", "1"]) == 0
    assert main(["sweep", "run", str(two / "grid.toml"), "--workers", "2"]) == 0
    for run in sweep.plan(sweep.read_grid(one / "grid.toml")):
        pd.testing.assert_frame_equal(frame(run.folder), frame(two / "runs" / run.folder.name))


def test_a_diverged_run_says_its_diagnosis_again_when_a_resume_skips_it(tmp_path):
    """A resumed sweep (a claim's next GPU box) skips a diverged run; its line still says which step size
    failed, read from the run's summary, instead of an empty reason."""
    text = GRID.replace('methods = ["hybrid", "zo_full"]', 'methods = ["hybrid"]').replace(
        "eta_y = [0.1]", "eta_y = [100.0]"
    )
    path = write_grid(tmp_path, text=text)
    run = sweep.plan(sweep.read_grid(path))[0]
    execute(run.description, folder=run.folder)
    again = sweep.plan(sweep.read_grid(path))[0]
    assert again.state == "finished"
    outcome = sweep._skipped(again)
    assert outcome.status == "diverged"
    assert "diverged" in outcome.message and "eta_y" in outcome.message
