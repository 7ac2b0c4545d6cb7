"""Model runs with the split Gaussian stream (HybridSGDConfig.zo_stream, zo.gaussian_split) on tiny-llama: the
same numbers on every thread count and from the same seed, other numbers than the sequential stream, the run
identity of existing descriptions unchanged, and the command line's --zo-stream reaching the stored run."""

import functools
import json

import pytest
import torch

import hybridsmooth.zo.gaussian_split as gs
import hybridsmooth.zo.inplace as inplace
from hybridsmooth.cli import main
from hybridsmooth.engine.model_run import train_model
from hybridsmooth.engine.run_description import RunDescription
from hybridsmooth.engine.sweep import expand
from hybridsmooth.errors import UsageError
from hybridsmooth.optim import HybridSGDConfig
from tests.tiny_model_runs import hybrid, run_of, tiny


def _trained(cfg, steps=3):
    obj = tiny()
    res = train_model(obj, run_of(cfg, steps=steps))
    return obj.x.detach().clone(), obj.y.detach().clone(), res


def test_a_split_stream_run_is_the_same_on_any_number_of_workers_and_not_the_sequential_run(monkeypatch):
    monkeypatch.setattr(gs, "SPLIT_CHUNK", 256)  # tiny-llama's tensors then span several chunks each
    cfg = hybrid(zo_stream="split")
    runs = {}
    for workers in (1, 3):  # the intra-op thread count stays; only the noise passes' workers change
        monkeypatch.setattr(inplace, "add_split", functools.partial(gs.add_split, workers=workers))
        runs[workers] = _trained(cfg)
    (x1, y1, r1), (x3, y3, r3) = runs[1], runs[3]
    assert torch.equal(x1, x3) and torch.equal(y1, y3)
    assert r1.steps["loss"].tolist() == r3.steps["loss"].tolist()
    assert r1.steps["zo_phi"].tolist() == r3.steps["zo_phi"].tolist()
    xs, _, rs = _trained(hybrid())
    assert not torch.equal(x1, xs) and r1.steps["zo_phi"].tolist() != rs.steps["zo_phi"].tolist()


def test_existing_descriptions_keep_their_hash_and_split_is_a_new_run():
    assert run_of(hybrid(seed=3), steps=4).content_hash() == "9945be51ca99e5e9"  # computed before zo_stream
    d = run_of(hybrid(zo_stream="split"), steps=4)
    stored = d.to_dict()
    assert stored["optimizer"]["zo_stream"] == "split" and RunDescription.from_dict(stored) == d
    assert "zo_stream" not in run_of(hybrid(), steps=4).to_dict()["optimizer"]
    assert d.content_hash() != run_of(hybrid(), steps=4).content_hash()
    with pytest.raises(UsageError, match="zo_stream"):
        RunDescription("quadratic:dx=4,dy=2,n=3", HybridSGDConfig(eta_x=0.01, eta_y=0.1, zo_stream="split"))


def test_the_command_line_stores_the_stream_and_refuses_it_with_signs(tmp_path, capsys):
    spec = "llm:model=tiny-llama,adapter=lora,n_train=8,n_dev=4,n_test=4,batch_size=4,max_length=16"
    base = ["train", spec, "--method", "zo_full", "--eta-x", "1e-4", "--steps", "2", "--quiet"]
    assert main([*base, "--zo-stream", "split", "--out", str(tmp_path / "s")]) == 0
    config = json.loads((tmp_path / "s" / "config.json").read_text())
    assert config["run"]["optimizer"]["zo_stream"] == "split"
    assert main([*base, "--zo-stream", "split", "--form", "spsa", "--out", str(tmp_path / "r")]) == 2
    assert "spsa form's packed" in capsys.readouterr().err


def test_a_sweep_grid_takes_the_stream_as_an_axis():
    grid = {
        "problems": ["llm:model=tiny-llama,adapter=lora"],
        "methods": ["zo_full"],
        "eta_x": 1e-4,
        "steps": 2,
        "zo_stream": ["sequential", "split"],
    }
    sequential, split = expand(grid)
    assert (sequential.optimizer.zo_stream, split.optimizer.zo_stream) == ("sequential", "split")
    assert sequential.content_hash() != split.content_hash()
    with pytest.raises(UsageError, match="spsa form's packed"):
        expand({**grid, "form": "spsa"})


def test_the_split_stream_keeps_the_master_modes_exact_restore_in_bfloat16(tmp_path):
    obj = tiny(dtype="bfloat16")
    cfg = hybrid(method="zo_full", eta_x=1e-4, eta_y=0.0, zo_precision="master", zo_stream="split")
    res = train_model(obj, run_of(cfg, steps=2, checkpoint_every=1), out_dir=tmp_path)
    master = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["zo_master"]["x"]
    assert torch.equal(obj.x, master.to(torch.bfloat16))  # every restore was a copy of the float32 iterate
    assert res.steps["zo_residue"].lt(1e-6).all()
