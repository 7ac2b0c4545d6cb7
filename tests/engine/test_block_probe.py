"""The block probe of a model run: the first-order change owed to each block, and no change to the run."""

import pytest
import torch
from tiny_model_runs import MODEL_SPEC, hybrid, run_of, tiny
from torch import nn

from hybridsmooth.engine.block_probe import PROBE_COLUMNS, probe_batch
from hybridsmooth.engine.model_run import train_model
from hybridsmooth.engine.run_description import RunDescription
from hybridsmooth.errors import UsageError
from hybridsmooth.objectives.module import ModuleObjective
from hybridsmooth.optim import HybridSGDConfig

pytestmark = pytest.mark.llm


class TwoBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 3)
        self.adapter = nn.Linear(3, 2)

    def forward(self, inputs):
        return self.adapter(torch.tanh(self.body(inputs)))


def _one_batch_objective():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    batch = {"inputs": torch.randn(6, 4, generator=g, dtype=torch.float64), "labels": torch.tensor([0, 1] * 3)}
    loss = lambda call, b: nn.functional.cross_entropy(call(b["inputs"]), b["labels"])  # noqa: E731
    model = TwoBlocks().double()
    return ModuleObjective(
        model, [batch], loss, is_x=lambda n: n.startswith("body"), is_y=lambda n: n.startswith("adapter")
    )


def test_an_fo_step_on_the_probe_batch_changes_it_by_exactly_its_expected_first_order_term():
    # one minibatch and no dev split: the probe batch is the step's batch, so the FO step is -eta grad f_P and
    # <grad f_P, w_{s+1} - w_s> = -eta ||grad f_P||^2 in both blocks
    obj = _one_batch_objective()
    assert probe_batch(obj) is obj.batches[0]
    config = HybridSGDConfig(method="fo_full", eta_x=0.3, eta_y=0.2, epochs=0)
    res = train_model(obj, RunDescription(MODEL_SPEC, config, steps=4, probe_every=1))
    p = res.probes
    assert list(p.columns) == list(PROBE_COLUMNS) and list(p["step"]) == [0, 1, 2, 3]
    assert p["x_change"].to_numpy() == pytest.approx(p["x_expected"].to_numpy(), rel=1e-10)
    assert p["y_change"].to_numpy() == pytest.approx(p["y_expected"].to_numpy(), rel=1e-10)
    assert (p["x_expected"] < 0).all() and p["x_distance"].iloc[0] == 0 and (p["x_distance"].iloc[1:] > 0).all()
    # the distance at step s is the norm of the steps before it: eta ||grad|| at step 1
    assert p["x_distance"].iloc[1] == pytest.approx(0.3 * p["grad_x_norm"].iloc[0], rel=1e-10)


def test_a_probed_run_takes_the_same_steps_as_an_unprobed_one(tmp_path):
    plain, probed = tiny(), tiny()
    a = train_model(plain, run_of(hybrid(), steps=4))
    b = train_model(probed, run_of(hybrid(), steps=4, probe_every=2, eval_test=True), out_dir=tmp_path / "r")
    cols = ["loss", "zo_phi", "grad_y_norm"]
    assert (a.steps[cols].to_numpy() == b.steps[cols].to_numpy()).all()
    assert torch.equal(plain.x, probed.x) and torch.equal(plain.y, probed.y)
    assert list(b.probes["step"]) == [0, 2] and (tmp_path / "r" / "probes.csv").is_file()
    # the ZO step's measured first-order change is one noisy draw; its expected one is -eta_x ||grad_x||^2
    assert b.probes["x_expected"].to_numpy() == pytest.approx(-1e-3 * b.probes["grad_x_norm"].to_numpy() ** 2)
    assert {"loss", "accuracy", "best_test_accuracy"} <= set(b.test) and a.test == {}
    import json

    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["final_test_accuracy"] == b.test["accuracy"]


def test_the_hybrid_at_eta_x_zero_moves_x_by_rounding_only_and_matches_fo_peft():
    control, fo = tiny(), tiny()
    x0 = control.x.clone()
    c = train_model(control, run_of(hybrid(eta_x=0.0), steps=4, probe_every=1))
    f = train_model(fo, run_of(hybrid(method="fo_peft", eta_x=0.0), steps=4, probe_every=1))
    # perturb by +mu u, -2 mu u, +mu u in float32: x comes back to within rounding of where it was
    moved = float((control.x - x0).norm() / x0.norm())
    assert 0 <= moved < 1e-6
    torch.testing.assert_close(control.y, fo.y, rtol=1e-5, atol=1e-7)
    # (the step's recorded loss differs by definition: the hybrid records the ZO pair's mean (f+ + f-)/2)
    assert c.evals["dev_loss"].to_numpy() == pytest.approx(f.evals["dev_loss"].to_numpy(), rel=1e-6)
    assert (c.probes["x_expected"] == 0).all()


def test_the_probe_and_the_test_split_keep_old_run_hashes_and_stay_off_synthetic_runs():
    config = HybridSGDConfig(method="hybrid", eta_x=1e-3, eta_y=1e-2, epochs=0)
    plain = RunDescription(MODEL_SPEC, config, steps=3)
    assert "probe_every" not in plain.to_dict() and "eval_test" not in plain.to_dict()
    probed = plain.replace(probe_every=5, eval_test=True)
    assert probed.content_hash() != plain.content_hash()
    assert RunDescription.from_dict(probed.to_dict()) == probed
    with pytest.raises(UsageError, match="do\\(es\\) not apply"):
        RunDescription("quadratic:dx=2,dy=2", HybridSGDConfig(eta_x=0.1, eta_y=0.1), probe_every=2)
    with pytest.raises(UsageError, match="eval_test must be true or false"):
        plain.replace(eval_test="yes")
    with pytest.raises(ValueError, match="eta_y must be positive"):
        HybridSGDConfig(method="hybrid", eta_x=1e-3, eta_y=0.0)  # only a ZO block may be at 0 (a control)


def test_the_test_split_is_read_at_the_best_dev_evaluation_and_at_the_end(tmp_path):
    import json

    cfg = hybrid(eta_y=0.5)
    long = train_model(tiny(), run_of(cfg, steps=6, eval_every=2, eval_test=True), out_dir=tmp_path / "long")
    summary = json.loads((tmp_path / "long" / "summary.json").read_text())
    ev = long.evals.sort_values(["dev_accuracy", "dev_loss", "step"], ascending=[False, True, True]).iloc[0]
    assert summary["best_dev_step"] == ev["step"] and summary["best_dev_accuracy"] == ev["dev_accuracy"]
    # ground truth: the same run stopped at the best step ends where the kept point was
    short = tiny()
    stopped = train_model(short, run_of(cfg, steps=int(ev["step"]), eval_test=True))
    assert summary["best_test_loss"] == pytest.approx(stopped.test["loss"], rel=1e-6)
    assert summary["best_test_accuracy"] == stopped.test["accuracy"]
    assert summary["final_test_accuracy"] == long.test["accuracy"]


def test_the_test_split_is_read_once_when_the_best_dev_evaluation_is_the_last(monkeypatch):
    from hybridsmooth.engine.held_out import best_point, test_evaluations
    from hybridsmooth.objectives import llm

    reads = []
    real = llm.evaluate

    def counted(objective, x, y, *, split="dev", **kw):
        reads.append(split)
        return real(objective, x, y, split=split, **kw)

    monkeypatch.setattr(llm, "evaluate", counted)
    obj = tiny()
    kept = best_point(None, obj, ("y",), 4, 0.5, 0.75)  # the final point: the live weights, unchanged since
    at_end = test_evaluations(obj, kept)
    assert reads == ["test"]
    assert at_end["best_test_loss"] == at_end["loss"] and at_end["best_test_accuracy"] == at_end["accuracy"]
    with torch.no_grad():
        obj.y.add_(0.5)  # the run moved on after its best evaluation: the kept point is read on its own
    reads.clear()
    later = test_evaluations(obj, kept)
    assert reads == ["test", "test"]
    assert later["best_test_loss"] == pytest.approx(at_end["loss"], rel=1e-6) and later["loss"] != at_end["loss"]
