"""One run description: JSON round trip, a content hash that names the run, one set of defaults."""

import argparse
import dataclasses
import json
import subprocess
import sys

import pytest

from hybridsmooth.commands import train as train_command
from hybridsmooth.engine.execute import execute
from hybridsmooth.engine.run_description import DEFAULT_SEEDS, RunDescription
from hybridsmooth.engine.rundir import load_run
from hybridsmooth.errors import UsageError
from hybridsmooth.optim.hybrid_sgd import HybridSGDConfig

SPEC = "quadratic:dx=6,dy=3,n=4"


def described(**opt):
    return RunDescription(SPEC, HybridSGDConfig(**{"eta_x": 0.01, "eta_y": 0.1, "epochs": 3, **opt}), seeds=2)


def test_json_round_trip_gives_an_equal_description():
    d = RunDescription(SPEC, HybridSGDConfig(eta_x=0.01, eta_y=0.1, q=2), seeds=[4, 1], checkpoint_every=2)
    back = RunDescription.from_dict(json.loads(json.dumps(d.to_dict())))
    assert back == d and back.seeds == (4, 1) and back.eta_x == 0.01


def test_hash_is_stable_across_processes_and_keeps_continuations():
    d = described()
    code = (
        "from hybridsmooth.engine.run_description import RunDescription; import json, sys; "
        "print(RunDescription.from_dict(json.loads(sys.argv[1])).content_hash())"
    )
    other = subprocess.run([sys.executable, "-c", code, json.dumps(d.to_dict())], capture_output=True, text=True)
    assert other.stdout.strip() == d.content_hash()
    assert d.replace(optimizer__epochs=30, checkpoint_every=5).content_hash() == d.content_hash()
    assert d.replace(optimizer__eta_x=0.02).content_hash() != d.content_hash()


def test_the_command_line_defaults_are_the_description_defaults():
    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    args = parser.parse_args([SPEC, "--eta-x", "0.01", "--eta-y", "0.1"])
    d = train_command.build_description(args)
    assert d == RunDescription(SPEC, HybridSGDConfig(eta_x=0.01, eta_y=0.1))
    assert d.seeds == DEFAULT_SEEDS and d.optimizer.divergence_factor == 1e6 and d.noise_mode == "regenerate"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: {**r, "colour": 1}, "unknown keys colour"),
        (lambda r: {k: v for k, v in r.items() if k != "seeds"}, "missing keys seeds"),
        (lambda r: {**r, "optimizer": {**r["optimizer"], "lr": 1}}, "optimizer: unknown keys lr"),
        (lambda r: {**r, "noise_mode": "buffer"}, "noise_mode do"),
        (lambda r: {**r, "optimizer": {**r["optimizer"], "mu": -1.0}}, "mu"),
    ],
)
def test_bad_descriptions_are_refused_in_one_line(change, message):
    with pytest.raises(UsageError, match=message) as err:
        RunDescription.from_dict(change(described().to_dict()))
    assert "\n" not in str(err.value)


def test_a_model_run_is_one_run():
    with pytest.raises(UsageError, match="seeds do"):
        RunDescription("llm:model=tiny-llama", HybridSGDConfig(eta_x=1e-3, eta_y=1e-2), seeds=3)


def test_a_description_run_twice_gives_the_same_metrics_and_reloads_from_its_folder(tmp_path):
    d = described()
    execute(d, folder=tmp_path / "a")
    execute(d, folder=tmp_path / "b")
    a, b = load_run(tmp_path / "a"), load_run(tmp_path / "b")
    cols = [c for c in a.metrics.columns if c != "seconds"]
    assert a.metrics[cols].equals(b.metrics[cols])
    assert RunDescription.from_dict(a.config["run"]) == d
    assert a.config["run_hash"] == d.content_hash()


def test_replace_changes_optimizer_fields():
    d = described().replace(optimizer__q=3, seeds=[0, 5])
    assert d.optimizer == dataclasses.replace(described().optimizer, q=3) and d.seeds == (0, 5)
