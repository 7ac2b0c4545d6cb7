"""Grid files: YAML reads as its TOML twin, an explicit list of runs, malformed entries refused in one line,
and a written grid reads back as the descriptions it was written from."""

from __future__ import annotations

import sys

import pytest

from hybridsmooth.cli import main
from hybridsmooth.engine import sweep
from hybridsmooth.engine.run_description import RunDescription
from hybridsmooth.errors import UsageError
from hybridsmooth.optim.hybrid_sgd import HybridSGDConfig

TOML = """
root = "{root}"
problems = ["quadratic:dx=4,dy=2,n=3", "cauchy:dx=4,dy=2,n=3"]
methods = ["hybrid", "zo_full"]
eta_x = [1e-3, 3e-3]
eta_y = [0.1]
epochs = 3
seeds = [0, 2]
[optimizer]
order = "rr"
mu = 1e-3
"""
# the same grid; 1e-3 without a dot is a float here too (YAML 1.1 alone would read a string)
YAML = """
root: {root}
problems: ["quadratic:dx=4,dy=2,n=3", "cauchy:dx=4,dy=2,n=3"]
methods: [hybrid, zo_full]
eta_x: [1e-3, 3.0e-3]
eta_y: [0.1]
epochs: 3
seeds: [0, 2]
optimizer:
  order: rr
  mu: 1e-3
"""
RUNS_TOML = """
root = "{root}"
epochs = 2
seeds = 2

[[runs]]
problem = "quadratic:dx=4,dy=2,n=3"
method = "hybrid"
eta_x = 1e-3
eta_y = 0.1

[[runs]]
problem = "cauchy:dx=4,dy=2,n=3"
method = "fo_peft"
eta_x = 5.0
eta_y = 0.2
epochs = 4

[[runs]]
problem = "quadratic:dx=4,dy=2,n=3"
method = "hybrid"
eta_x = 1e-3
eta_y = 0.1
"""
RUNS_YAML = """
root: {root}
epochs: 2
seeds: 2
runs:
  - {{problem: "quadratic:dx=4,dy=2,n=3", method: hybrid, eta_x: 1e-3, eta_y: 0.1}}
  - problem: "cauchy:dx=4,dy=2,n=3"
    method: fo_peft
    eta_x: 5.0
    eta_y: 0.2
    epochs: 4
"""


def write(tmp_path, text, name):
    path = tmp_path / name
    path.write_text(text.format(root=tmp_path / "runs"))
    return path


def test_yaml_grid_reads_as_its_toml_twin(tmp_path):
    toml = sweep.read_grid(write(tmp_path, TOML, "grid.toml"))
    for name in ("grid.yaml", "grid.yml"):
        yaml = sweep.read_grid(write(tmp_path, YAML, name))
        assert yaml == toml and len(yaml.descriptions) == 8
    assert all(d.mu == 1e-3 and d.seeds == (0, 2) for d in toml.descriptions)


def test_a_runs_list_gives_its_runs_in_order_once_each(tmp_path):
    grid = sweep.read_grid(write(tmp_path, RUNS_TOML, "runs.toml"))
    hybrid = RunDescription("quadratic:dx=4,dy=2,n=3", HybridSGDConfig(eta_x=1e-3, eta_y=0.1, epochs=2), seeds=2)
    # shared keys fill every entry, an entry's own key wins; a frozen block's step size is set 0 as in a product
    fo = RunDescription(
        "cauchy:dx=4,dy=2,n=3", HybridSGDConfig(method="fo_peft", eta_x=0.0, eta_y=0.2, epochs=4), seeds=2
    )
    assert grid.descriptions == (hybrid, fo)
    assert sweep.read_grid(write(tmp_path, RUNS_YAML, "runs.yaml")) == grid


def test_runs_from_a_list_run_and_collect(tmp_path, capsys):
    path = write(tmp_path, RUNS_TOML, "runs.toml")
    assert main(["sweep", "run", str(path)]) == 0
    assert main(["sweep", "plan", str(path)]) == 0
    assert "2 runs: 0 new, 2 finished" in capsys.readouterr().out


@pytest.mark.parametrize(
    "text, message",
    [
        ('root = "r"\nruns = 3', "runs must be a non-empty list of tables"),
        ('root = "r"\nruns = []', "runs must be a non-empty list of tables"),
        ('root = "r"\nruns = [1]', "runs[0] must be a table of one run's keys"),
        ('root = "r"\n[[runs]]\nproblem = "quadratic"\ncolour = 1', "runs[0]: unknown keys colour"),
        ('root = "r"\n[[runs]]\nproblem = "quadratic"\nroot = "elsewhere"', "runs[0]: unknown keys root"),
        ('root = "r"\n[[runs]]\nproblem = "quadratic"\neta_x = [1e-3, 1e-2]', "runs[0]: eta_x must be one value"),
        ('root = "r"\n[[runs]]\nmethod = "hybrid"', 'runs[0]: give problem = "SPEC"'),
        ('root = "r"\neta_x = [1e-3, 1e-2]\n[[runs]]\nproblem = "quadratic"', "eta_x: a grid with a runs list"),
        ('root = "r"\n[[runs]]\nproblem = "quadratic"\nmethod = "adam"', "runs[0]: run quadratic"),
        (
            'root = "r"\neta_y = 0.1\nmethod = "fo_peft"\n'
            '[[runs]]\nproblem = "quadratic"\nepochs = 2\n[[runs]]\nproblem = "quadratic"\nepochs = 3',
            "runs[1]: the same run as an earlier entry with another length",
        ),
    ],
)
def test_bad_runs_lists_refused_in_one_line(tmp_path, capsys, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        sweep.read_grid(path)
    assert main(["sweep", "plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("root: r\nproblems: [quadratic\n", "is not valid YAML"),
        ("- root: r\n", "a grid is a table of keys, got list"),
        ("root: r\nruns:\n  - problem: quadratic\n    seeds: [0, 0]\n", "runs[0]: run quadratic"),
        ("root: r\n1: x\nproblems: [quadratic]\n", "unknown keys 1"),
    ],
)
def test_bad_yaml_grids_refused_in_one_line(tmp_path, capsys, text, message):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    assert main(["sweep", "plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_yaml_without_pyyaml_is_one_line(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, YAML, "grid.yaml")
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ModuleNotFoundError
    assert main(["sweep", "plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert "needs PyYAML" in err and err.count("\n") == 1


@pytest.mark.parametrize("name", ["written.toml", "written.yaml"])
def test_a_written_grid_reads_back_as_its_descriptions(tmp_path, name):
    descriptions = [
        *sweep.read_grid(write(tmp_path, TOML, "grid.toml")).descriptions,
        RunDescription("quadratic:dx=4,dy=2,n=3", HybridSGDConfig(eta_x=1 / 3, eta_y=1e-300, epochs=1), seeds=1),
        RunDescription("quadratic:dx=4,dy=2,n=3", HybridSGDConfig(eta_x=2.5e-7, eta_y=7.0, form="forward", epochs=1)),
    ]
    path = sweep.write_grid(tmp_path / name, tmp_path / "elsewhere", [*descriptions, descriptions[0]])
    grid = sweep.read_grid(path)
    assert grid.root == tmp_path / "elsewhere" and grid.descriptions == tuple(descriptions)
    with pytest.raises(UsageError, match=r"runs\[1\]: the same run"):
        sweep.write_grid(tmp_path / name, tmp_path, [descriptions[0], descriptions[0].replace(optimizer__epochs=9)])
