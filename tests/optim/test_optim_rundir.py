import json
import math

import pandas as pd
import pytest
import torch

from hybridsmooth.engine import json_safe, load_run, run_config_record, write_run
from hybridsmooth.engine.run_description import RunDescription
from hybridsmooth.objectives.quadratic import make_block_quadratic
from hybridsmooth.optim import HybridSGDConfig, run_hybrid_sgd, summarize_run


def test_write_and_load_roundtrip_strict_json(tmp_path):
    obj = make_block_quadratic(dx=4, dy=2, n=3)
    cfg = HybridSGDConfig(eta_x=0.01, eta_y=0.2, epochs=3)
    res = run_hybrid_sgd(obj, cfg, seeds=2)
    summary = {**summarize_run(res), "extra": float("inf")}
    record = run_config_record(RunDescription("quadratic:dx=4,dy=2,n=3", cfg, seeds=2), obj)
    out = write_run(tmp_path / "run", record, res.metrics, summary)
    back = load_run(out)
    assert back.config["run"]["optimizer"]["eta_y"] == 0.2 and back.config["run"]["seeds"] == 2
    assert back.config["dtype"] == "float64" and back.config["device"] == "cpu" and back.config["torch_version"]
    # what decides the reduction order, so that a rerun elsewhere can tell why its last bits differ
    assert back.config["threads"] == torch.get_num_threads() and back.config["cpu"]
    assert back.config["gpu"] is None  # named only for a CUDA device (accelerator_name)
    pd.testing.assert_frame_equal(back.metrics, res.metrics, check_dtype=False)
    assert back.summary["extra"] is None  # non-finite -> null, strict JSON
    json.loads((out / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-strict {c}"))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_load_incomplete_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a finished run.*no run was written there"):
        load_run(tmp_path)


def test_json_safe():
    assert json_safe({"a": (1.0, math.nan), "b": {"c": -math.inf}}) == {"a": [1.0, None], "b": {"c": None}}
