"""ZO precision of model runs in bfloat16 on the CPU (tiny-llama): the master mode's exact restore and its
float32 iterate, the per-step rounding metrics and summary, the first-step warning exactly when predicted,
and the run identity (hash) of existing descriptions."""

import dataclasses
import warnings

import pytest
import torch

from hybridsmooth.engine.model_run import train_model
from hybridsmooth.engine.run_description import RunDescription
from hybridsmooth.errors import UsageError
from hybridsmooth.optim import HybridSGDConfig
from hybridsmooth.optim.schedule import step_schedule
from hybridsmooth.zo.inplace import noise
from hybridsmooth.zo.precision import LostUpdateWarning, block_tensors, predicted_lost_fraction
from tests.tiny_model_runs import hybrid, run_of, tiny


def _lost_warnings(obj, cfg, steps=1, **run):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = train_model(obj, run_of(cfg, steps=steps, **run))
    return res, [w for w in caught if issubclass(w.category, LostUpdateWarning)]


def _predicted(x0_tensors, cfg, res) -> float:
    scale = cfg.eta_x * abs(float(res.steps["zo_phi"].iloc[0])) / cfg.q
    return predicted_lost_fraction(x0_tensors, scale)


def test_master_mode_restores_exactly_and_follows_the_float32_recursion(tmp_path):
    obj = tiny(dtype="bfloat16")
    x0 = obj.x.detach().clone()
    cfg = hybrid(method="zo_full", eta_x=1e-4, eta_y=0.0, zo_precision="master")
    res = train_model(obj, run_of(cfg, steps=3, checkpoint_every=1), out_dir=tmp_path)
    master = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["zo_master"]["x"]
    # the weights are the float32 iterate rounded: the restore after each perturbation was a copy
    assert torch.equal(obj.x, master.to(torch.bfloat16))
    # the float32 iterate is x0 - sum_t eta phi_t u_t, replayed with the schedule's noise in float32
    replay = x0.to(torch.float32)
    views = block_tensors(obj, replay, block="x")
    for step, phi in zip(step_schedule(cfg.order, n=obj.n, run_seed=cfg.seed, stop=3), res.steps["zo_phi"]):
        with torch.no_grad():
            for m, u in zip(views, noise(views, form=cfg.form, generator=step.noise)):
                m.add_(u, alpha=-cfg.eta_x * float(phi) / cfg.q)
    assert torch.equal(replay, master)
    assert res.steps["zo_residue"].lt(1e-6).all() and res.precision["zo_precision_note"] is None


def test_plain_bfloat16_run_records_the_drift_and_says_so_at_the_end(tmp_path):
    obj = tiny(dtype="bfloat16")
    x0 = block_tensors(obj, obj.x.detach().clone(), block="x")
    cfg = hybrid(eta_x=1e-6)
    res, caught = _lost_warnings(obj, cfg, steps=2)
    assert _predicted(x0, cfg, res) > 0.5 and len(caught) == 1  # warned once, at the first step
    assert res.steps["zo_residue"].between(1e-3, 1e-2).all()  # the 1-step drift of the bf16 table
    assert res.steps["zo_lost"].gt(0.9).all()
    assert "rounded away" in res.precision["zo_precision_note"]
    assert res.precision["zo_rounding_vs_variance"] > 1  # the rounding noise dominates the ZO variance term


@pytest.mark.parametrize(
    "dtype, precision, eta_x", [("float32", "plain", 1e-6), ("bfloat16", "master", 1e-6), ("bfloat16", "plain", 3e-2)]
)
def test_no_warning_where_the_update_survives(dtype, precision, eta_x):
    obj = tiny(dtype=dtype)
    x0 = block_tensors(obj, obj.x.detach().to(torch.float32 if precision == "master" else obj.x.dtype), block="x")
    cfg = hybrid(eta_x=eta_x, zo_precision=precision)
    res, caught = _lost_warnings(obj, cfg)
    assert _predicted(x0, cfg, res) < 0.5 and not caught
    assert res.precision["zo_precision_note"] is None


def test_existing_descriptions_keep_their_hash_and_master_is_a_new_run():
    d = RunDescription("quadratic:dx=4,dy=2,n=3", HybridSGDConfig(eta_x=0.01, eta_y=0.1, epochs=5), seeds=3)
    assert d.content_hash() == "f5008f9bccb2af43"  # computed before zo_precision existed
    assert run_of(hybrid(seed=3), steps=4).content_hash() == "9945be51ca99e5e9"
    stored = d.to_dict()
    assert "zo_precision" not in stored["optimizer"] and RunDescription.from_dict(stored) == d
    m = run_of(hybrid(zo_precision="master"), steps=4)
    assert RunDescription.from_dict(m.to_dict()) == m and m.content_hash() != run_of(hybrid(), steps=4).content_hash()
    with pytest.raises(UsageError, match="zo_precision"):
        d.replace(optimizer=dataclasses.replace(d.optimizer, zo_precision="master"))
    with pytest.raises(ValueError, match="zo_precision"):
        HybridSGDConfig(method="fo_peft", eta_y=0.1, zo_precision="master")


def test_master_mode_resumes_to_the_numbers_of_an_uninterrupted_run(tmp_path):
    cfg = hybrid(method="zo_full", eta_x=1e-4, eta_y=0.0, zo_precision="master")
    whole = tiny(dtype="bfloat16")
    train_model(whole, run_of(cfg, steps=4, checkpoint_every=2), out_dir=tmp_path / "whole")
    first = tiny(dtype="bfloat16")
    train_model(first, run_of(cfg, steps=2, checkpoint_every=2), out_dir=tmp_path / "part")
    again = tiny(dtype="bfloat16")  # a fresh process: the master copy comes from the checkpoint
    res = train_model(again, run_of(cfg, steps=4, checkpoint_every=2), out_dir=tmp_path / "part", resume=True)
    assert torch.equal(again.x, whole.x) and len(res.steps) == 4
    saved = [
        torch.load(p / "checkpoint.pt", weights_only=False)["zo_master"]["x"]
        for p in (tmp_path / "whole", tmp_path / "part")
    ]
    assert torch.equal(*saved)


def test_minilm_in_bfloat16_master_restores_exactly_and_plain_warns_as_predicted(tmp_path):
    from hybridsmooth.objectives.llm import make_llm_objective

    small = dict(model="minilm", adapter="lora", n_train=4, n_dev=4, n_test=4, batch_size=4, max_length=16)
    obj = make_llm_objective(dtype="bfloat16", **small)
    x0 = obj.x.detach().clone()
    cfg = hybrid(method="zo_full", eta_x=1e-4, eta_y=0.0, zo_precision="master")
    res = train_model(obj, run_of(cfg, steps=2, checkpoint_every=1), out_dir=tmp_path)
    master = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["zo_master"]["x"]
    assert torch.equal(obj.x, master.to(torch.bfloat16))
    assert res.steps["zo_residue"].lt(1e-6).all()
    # 22.7M weights moved in float32 by the recursion, not by the rounding of perturb / restore
    assert not torch.equal(master, x0.to(torch.float32))

    plain = make_llm_objective(dtype="bfloat16", **small)
    x0_tensors = block_tensors(plain, plain.x.detach().clone(), block="x")
    cfg = hybrid(eta_x=1e-6)
    res, caught = _lost_warnings(plain, cfg, steps=1)
    assert (_predicted(x0_tensors, cfg, res) > 0.5) == (len(caught) == 1)
    assert res.steps["zo_lost"].gt(0.5).all() and res.steps["zo_residue"].gt(1e-4).all()
