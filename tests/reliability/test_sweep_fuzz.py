"""Fuzzing the grid files of ``hybridsmooth sweep``: any grid ends in a status (0, or 2 with one line), never
a traceback; what plans writes nothing."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridsmooth import cli

KEYS = [
    "root",
    "problems",
    "problem",
    "methods",
    "eta_x",
    "eta_y",
    "mu",
    "q",
    "epochs",
    "seeds",
    "steps",
    "order",
    "form",
    "seed",
    "divergence_factor",
    "checkpoint_every",
    "colour",
]
SCALARS = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
    st.sampled_from(
        [
            "hybrid",
            "zo_full",
            "fo_peft",
            "rr",
            "central",
            "quadratic:dx=3,dy=2,n=2",
            "cauchy:dx=2",
            "nope:x=1",
            "",
            "runs/x",
            "1e-3",
        ]
    ),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "nan"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _grid(top: dict, optimizer: dict) -> str:
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    if optimizer:
        lines += ["[optimizer]"] + [f"{k} = {_toml_value(v)}" for k, v in optimizer.items()]
    return "\n".join(lines) + "\n"


def _status(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return 0 if stop.code is None else stop.code


@pytest.mark.parametrize("text", ["problems = [", "= 3", "\x00", "[optimizer]\n[optimizer]\n"])
def test_unreadable_grids_are_one_line_errors(tmp_path, capsys, text):
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    assert _status(["sweep", "plan", str(grid), "--root", str(tmp_path / "root")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    top=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6),
    optimizer=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=2),
)
def test_any_grid_ends_in_a_status(tmp_path, capsys, top, optimizer):
    grid = tmp_path / "grid.toml"
    grid.write_text(_grid(top, optimizer))
    root = tmp_path / "root"
    status = _status(["sweep", "plan", str(grid), "--root", str(root)])
    out, err = capsys.readouterr()
    assert status in (0, 2), (status, err)
    if status == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
    assert not root.exists() or not any(root.iterdir())  # planning writes nothing
