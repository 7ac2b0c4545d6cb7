"""Model specs are validated key by key, and an encoder or prompt too short for any text is refused (items 10-11):
`max_length=0/1/2` used to mean no truncation or empty text, `max_length=-5` a traceback."""

import pytest

from hybridsmooth.cli import main
from hybridsmooth.objectives import llm

pytestmark = pytest.mark.llm


def _never_loaded(*args, **kwargs):
    raise AssertionError("the model was loaded before the spec was refused")


@pytest.mark.parametrize(
    "keys, needle",
    [
        ("model=tiny-bert,max_length=-5", "max_length must be an integer >= 1"),
        ("model=tiny-bert,max_length=0", "max_length must be an integer >= 1"),
        ("model=tiny-bert,n_train=0", "n_train must be an integer >= 1"),
        ("model=tiny-bert,batch_size=0", "batch_size must be an integer >= 1"),
        ("model=tiny-bert,lora_alpha=nan", "lora_alpha must be a finite positive number"),
        ("model=tiny-bert,lora_r=0", "lora_r must be an integer >= 1"),
        ("model=tiny-bert,dtype=int8", "dtype must be one of"),
        ("model=tiny-bert,n_dev=-2", "n_dev must be an integer >= -1"),
        ("model=tiny-bert,max_length=4,max_length=8", "twice"),
    ],
)
def test_bad_model_keys_are_refused_before_loading(monkeypatch, capsys, keys, needle):
    monkeypatch.setattr(llm, "load_model", _never_loaded)
    assert main(["estimate", f"llm:{keys}", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize(
    "keys, needle",
    [
        ("model=tiny-bert,n_train=4,max_length=2", "this encoder adds 2 special tokens; give max_length >= 3"),
        ("model=tiny-llama,n_train=4,max_length=3", "the prompt tail is 4 tokens"),
    ],
)
def test_max_length_with_no_room_for_the_text_is_refused(capsys, keys, needle):
    assert main(["estimate", f"llm:{keys}", "--quiet", "--blocks", "yy"]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and err.startswith("hybridsmooth estimate: error: llm: ") and len(err.splitlines()) == 1
