"""The paper cell's command (OPT + LoRA on an SST-2 style file, both from paths) on a tiny random OPT checkpoint
folder: the architecture and the loading path of the paper's scale, with its grids, on the CPU in seconds."""

import json
import random
from pathlib import Path

import pandas as pd
import pytest
import torch

from hybridsmooth.claim.cells import CELLS
from hybridsmooth.claim.report import verdicts
from hybridsmooth.cli import main

pytestmark = pytest.mark.llm

WORDS = ("good", "bad", "great", "awful", "fine", "poor", "movie", "plot", "acting", "fun", "dull", "moving")


@pytest.fixture(scope="module")
def opt_folder(tmp_path_factory):
    """A 2-layer random OPT saved as a checkpoint folder, beside a 60-sentence SST-2 style TSV."""
    from transformers import OPTConfig, OPTForCausalLM

    from hybridsmooth.objectives.llm_models import load_model

    root = tmp_path_factory.mktemp("paper")
    tok = load_model("tiny-llama", num_labels=2).tokenizer  # a tokenizer that installs with the project
    config = OPTConfig(
        vocab_size=len(tok),
        hidden_size=32,
        word_embed_proj_dim=32,
        num_hidden_layers=2,
        ffn_dim=64,
        num_attention_heads=4,
        max_position_embeddings=64,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else 0,
    )
    torch.manual_seed(0)
    OPTForCausalLM(config).save_pretrained(root / "opt")
    tok.save_pretrained(root / "opt")
    rng = random.Random(0)
    lines = ["sentence\tlabel"] + [f"{' '.join(rng.choices(WORDS, k=6))}\t{rng.randint(0, 1)}" for _ in range(60)]
    (root / "train.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_the_paper_cell_runs_from_a_checkpoint_folder_and_a_data_file(opt_folder, tmp_path):
    out = tmp_path / "paper"
    sets = [
        f"model={opt_folder / 'opt'}", f"data={opt_folder / 'train.tsv'}", "device=cpu",
        "n_train=16", "n_dev=8", "n_test=8", "batch_size=8", "max_length=16",
    ]  # fmt: skip
    args = ["claim", "run", "--cell", "paper", "--out", str(out), "--steps", "2", "--seeds", "2"]
    args += ["--methods", "hybrid,fo_peft", "--no-constants"] + [a for s in sets for a in ("--set", s)]
    assert main(args) == 0
    paper = CELLS["paper"]
    selection = pd.read_csv(out / "selection.csv")
    # the paper's grids (MeZO's ZO step sizes), every point tuned, one selected per method
    for method, keys in (("hybrid", ["eta_x", "eta_y"]), ("fo_peft", ["eta_y"])):
        rows = selection[selection["method"] == method]
        assert sorted(map(tuple, rows[keys].to_numpy().tolist())) == sorted(
            tuple(g[k] for k in keys) for g in paper.grids[method]
        )
        assert rows["selected"].sum() == 1
    per_seed = pd.read_csv(out / "per_seed.csv")
    pairs = sorted(zip(per_seed["method"], per_seed["seed"]))
    assert pairs == [("fo_peft", 0), ("fo_peft", 1), ("hybrid", 0), ("hybrid", 1)]
    assert per_seed["test_accuracy"].between(0, 1).all()
    specs = {json.loads((Path(f) / "config.json").read_text())["run"]["problem"] for f in per_seed["folder"]}
    assert all(f"model={opt_folder / 'opt'}" in s and f"data={opt_folder / 'train.tsv'}" in s for s in specs)
    # the model that ran is the OPT of the folder, with LoRA on its attention
    from hybridsmooth.problems import make_problem

    obj = make_problem(sorted(specs)[0])
    assert obj.model.config.model_type == "opt"
    assert any("lora_" in name for name in obj.y_layout.names)
    # the report says what --set changed: the cell's notes describe the cell as defined
    assert "n_train=16, n_dev=8, n_test=8, batch_size=8, max_length=16 (--set)" in (out / "report.md").read_text()


def test_a_run_whose_dev_loss_never_fell_says_so_instead_of_a_share():
    frames = {
        "paired": pd.DataFrame(columns=["metric"]),
        "control": pd.DataFrame(),
        "levelled": pd.DataFrame(
            [{"method": "fo_peft", "dev_loss_start": 0.6953, "last_quarter_share": float("nan"), "levelled": False}]
        ),
    }
    line = verdicts(frames)["fo_peft_levelled"]
    assert "never fell below its start (0.6953)" in line and "nan" not in line and "still falling" not in line
    frames["levelled"].loc[0, ["last_quarter_share", "levelled"]] = [0.02, True]
    assert "has levelled off" in verdicts(frames)["fo_peft_levelled"]
