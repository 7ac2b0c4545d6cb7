"""``hybridsmooth check``: --only, --json, --report, PROBLEM specs, and one-line errors with exit status 2.

The sub-command is driven through a parser built from its own ``add_arguments`` and the error mapping of
``hybridsmooth.cli.main`` (UsageError -> one line on stderr, status 2); the last test goes through ``cli.main``
itself once the command is registered there.
"""

import json
import sys
from types import SimpleNamespace

import pytest

from hybridsmooth import cli
from hybridsmooth.commands import check
from hybridsmooth.errors import UsageError


def _main(argv):
    parser = cli._Parser(prog="hybridsmooth check")
    check.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return check.run(args)
    except UsageError as err:
        print(f"hybridsmooth check: error: {err}", file=sys.stderr)
        return 2


def test_only_prints_table_and_exits_0(capsys):
    assert _main(["--only", "9,15"]) == 0
    out = capsys.readouterr().out
    assert "9: jacobi spectral radius (exact)" in out and "15: simulated |epoch multiplier|" in out
    assert "8: max rho" not in out
    assert "0 unexpected failure(s); 2 row(s) expected to fail" in out


def test_json_is_parseable(capsys):
    assert _main(["--only", "8", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and {r["key"] for r in rows} == {"8"}
    assert all(r["verdict"] == "pass" and r["expected"] == "pass" and r["computed"] < 1 for r in rows)


def test_report_writes_markdown(tmp_path, capsys):
    path = tmp_path / "out" / "report.md"
    assert _main(["--only", "5", "--report", str(path)]) == 0
    text = path.read_text()
    assert text.startswith("# hybridsmooth theory checks")
    assert "| 5: paper's lemma (BD) with Lambda holds |" in text and "(G3) repair" in text
    assert str(path) in capsys.readouterr().out


def test_problem_specs_run_assumption_checks(capsys):
    assert _main(["coupled2:s=0.5", "cauchy:dx=3,dy=2,n=4"]) == 0
    out = capsys.readouterr().out
    assert "assumptions: (H1) secant ratio <= stated L_x" in out and "cauchy:dx=3,dy=2,n=4" in out
    assert "9: jacobi" not in out  # no suite checks unless --only is given


def test_gating_failure_exits_1(monkeypatch, capsys):
    from hybridsmooth.theory import suite
    from hybridsmooth.theory.checks import one_sided

    # a claim module is anything with the claim attributes (theory.claims); this one's row is expected to pass
    broken = SimpleNamespace(
        KEY="15",
        TITLE="t",
        SUMMARY="t",
        FIGURES=(),
        run=lambda size, seeds: [one_sided("15: x", "i", 2.0, 1.0)],
        report_sentence=lambda rows: "",
    )
    monkeypatch.setitem(suite.REGISTRY, "15", broken)
    assert _main(["--only", "15"]) == 1
    assert "UNEXPECTED FAIL: 15: x" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--only", "7"], "--only: unknown check 7; accepted: 4, 5, 6, 8, 9, 11, 12a, 12b, 13, 14, 15"),
        (["--only", "8", "--seeds", "1"], "--seeds must be an integer in 2..10000"),
        (["nosuchproblem"], "unknown problem 'nosuchproblem'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    assert _main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_size_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        _main(["--size", "huge"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.skipif("check" not in cli.COMMANDS, reason="check is not registered in hybridsmooth.cli.COMMANDS yet")
def test_registered_command_maps_bad_only_to_exit_2(capsys):
    assert cli.main(["check", "--only", "bogus"]) == 2
    assert "unknown check bogus" in capsys.readouterr().err
