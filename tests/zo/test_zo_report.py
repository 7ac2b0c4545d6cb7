"""The measurement report runs end to end (tiny sizes) and rejects bad options."""

import pytest

from hybridsmooth.zo.report import main


def test_report_runs_small(capsys):
    assert main(["--n", "64", "--inplace-sizes", "1000"]) == 0
    out = capsys.readouterr().out
    for part in ("check 1", "check 2", "check 4", "check 16"):
        assert part in out


def test_report_rejects_bad_options():
    with pytest.raises(SystemExit):
        main(["--n", "1"])
