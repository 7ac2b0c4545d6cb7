"""Stored model runs: one folder per spec, read back instead of retrained, --rerun makes only fresh runs count."""

import pytest

from hybridsmooth.errors import UsageError
from hybridsmooth.experiments import figure_runs as mr
from hybridsmooth.experiments.paper_setup import llm_problem

TINY = llm_problem("tiny-llama", "lora", n_train=4, batch_size=2, max_length=16, n_dev=4, n_test=0)


def test_spec_zeroes_frozen_step_sizes_and_checks_the_rest():
    s = mr.figure_run(TINY, "fo_peft", 5.0, 0.1, 2)
    assert s.eta_x == 0.0 and s.content_hash() == mr.figure_run(TINY, "fo_peft", 0.0, 0.1, 2).content_hash()
    assert s.content_hash() != mr.figure_run(TINY, "fo_peft", 0.0, 0.1, 2, seed=1).content_hash()
    with pytest.raises(UsageError, match="eta_y"):
        mr.figure_run(TINY, "hybrid", 1e-3, 0.0, 2)
    with pytest.raises(UsageError, match="unknown method"):
        mr.figure_run(TINY, "sgd", 1e-3, 0.1, 2)
    with pytest.raises(UsageError, match="mu"):
        mr.figure_run(TINY, "hybrid", 1e-3, 0.1, 2, mu=-1.0)


def test_runs_are_stored_reused_and_start_from_the_same_point(tmp_path):
    spec = mr.figure_run(TINY, "hybrid", 1e-3, 0.1, 3, eval_every=0, eval_limit=4)
    first = mr.train_figure_run(tmp_path, spec)
    assert (first.folder / mr.DONE_FILE).is_file() and len(first.steps) == 3
    again = mr.load_figure_run(tmp_path, spec)
    assert again is not None and list(again.steps["loss"]) == pytest.approx(list(first.steps["loss"]))
    # another run in between moves the shared objective; the next run must still start at the initial weights
    mr.train_figure_run(tmp_path, mr.figure_run(TINY, "fo_peft", 0.0, 0.5, 3))
    (first.folder / mr.DONE_FILE).unlink()
    redone = mr.train_figure_run(tmp_path, spec)
    assert list(redone.steps["loss"]) == list(first.steps["loss"])


def test_fresh_runs_ignore_stored_runs_from_earlier(tmp_path):
    spec = mr.figure_run(TINY, "zo_full", 1e-3, 0.0, 2)
    mr.train_figure_run(tmp_path, spec)
    mr._MADE_HERE.discard(spec.content_hash())  # as if another process had made it
    try:
        mr.fresh_runs(True)
        assert mr.load_figure_run(tmp_path, spec) is None
        mr.train_figure_run(tmp_path, spec)
        assert mr.load_figure_run(tmp_path, spec) is not None
    finally:
        mr.fresh_runs(False)


def test_non_model_problems_are_refused():
    with pytest.raises(UsageError, match="model objective"):
        mr.objective_at_start("quadratic:dx=4,dy=2")
