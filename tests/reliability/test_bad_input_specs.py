"""Problem specs: every key of every registered problem refuses impossible values with a one-line SpecError
naming the problem and the key, before anything is built; duplicate keys and sizes that cannot fit in memory
are refused too; values that are each fine but overflow together are caught at the starting point."""

import math

import pytest
import torch

from hybridsmooth import validate
from hybridsmooth.cli import main
from hybridsmooth.errors import SpecError, UsageError
from hybridsmooth.objectives import FiniteSum
from hybridsmooth.objectives.registry import REGISTRY, make_problem, parse_spec

SYNTHETIC = sorted(name for name in REGISTRY if name != "llm")


def _bad_raw_values(default):
    """Values no key of a synthetic problem accepts, by the key's type."""
    if isinstance(default, bool):
        return ["maybe", "2", ""]
    if isinstance(default, int):
        return ["-1", "2.5", "", "nan", "1e3"]
    if isinstance(default, float) or default is None:
        return ["nan", "inf", "-inf", "", "1e999", "abc"]
    return ["no-such-word", ""]


def _one_line_spec_error(spec):
    with pytest.raises(SpecError) as err:
        make_problem(spec)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_every_key_of_every_synthetic_problem_has_a_rule():
    for name in SYNTHETIC:
        entry = REGISTRY[name]
        assert set(entry.rules) == set(entry.defaults), name


@pytest.mark.parametrize("name, key", [(n, k) for n in SYNTHETIC for k in REGISTRY[n].defaults])
def test_every_key_refuses_impossible_values_by_name(name, key):
    for raw in _bad_raw_values(REGISTRY[name].defaults[key]):
        message = _one_line_spec_error(f"{name}:{key}={raw}")
        assert message.startswith(f"{name}: {key}"), message


@pytest.mark.parametrize(
    "spec, message",
    [
        ("quadratic:dx=3,dy=2,n=2,Lx=nan", "quadratic: Lx must be a finite number >= 0, got nan"),
        ("quadratic:start=inf", "quadratic: start must be a finite number >= 0, got inf"),
        ("quadratic:spread=nan", "quadratic: spread must be a finite number >= 0, got nan"),
        ("quadratic:dx=-5", "quadratic: dx must be an integer >= 0, got -5"),
        ("quadratic:dx=0,dy=0", "quadratic: need dx, dy >= 0 and dx + dy >= 1"),
        ("quadratic:mx=20", "quadratic: mx must lie in [0, Lx=10], got 20"),
        ("quadratic:Lx=0", "quadratic: spectrum_x=loguniform needs mx > 0"),
        ("quadratic:coupling=1.5", "quadratic: coupling must lie in [0, 1], got 1.5"),
        ("quadratic:spectrum_y=flat", "quadratic: spectrum_y must be one of loguniform, linear, isotropic"),
        ("quadratic:seed=-3", "quadratic: seed must be an integer >= 0, got -3"),
        ("cauchy:start=-1", "cauchy: start must be a finite number >= 0"),
        ("cauchy:dx=0,dy=0", "need n >= 1 and dx + dy >= 1"),
        ("coupled2:a=0", "coupled2: a must be a finite positive number, got 0.0"),
        ("falsifier:K=inf", "falsifier: K must be a finite number, got inf"),
        ("bilinear:m=0", "bilinear: m must be an integer >= 1, got 0"),
        ("cossum:omega=0", "cossum: omega must be a finite positive number"),
        ("interpolating:dy=0", "interpolating: dy must be an integer >= 1, got 0"),
    ],
)
def test_impossible_values_name_problem_and_key(spec, message):
    assert message in _one_line_spec_error(spec)


def test_a_key_given_twice_is_refused():
    with pytest.raises(SpecError, match="quadratic: key 'dx' is given twice"):
        parse_spec("quadratic:dx=3,dy=2,dx=4")
    with pytest.raises(SpecError, match="cauchy: key 'seed' is given twice"):
        make_problem("cauchy:seed=1, seed=1")


@pytest.mark.parametrize(
    "spec, part",
    [
        ("quadratic:start=1e300", "the loss at the starting point is"),
        ("bilinear:b=1e308,start=1e200", "the loss at the starting point is inf"),
        ("cauchy:scale=1e200", "overflow float64"),
        ("interpolating:scale=1e300", "overflow float64"),
        ("cossum:omega=1e300", "overflow float64"),
    ],
)
def test_finite_values_that_overflow_together_are_refused(spec, part):
    assert part in _one_line_spec_error(spec)


def test_a_non_finite_starting_point_is_refused_by_the_base_class():
    with pytest.raises(ValueError, match="starting point's x-block is not finite"):
        FiniteSum(n=1, d_x=1, d_y=0, x0=torch.tensor([math.inf]))


@pytest.mark.parametrize(
    "spec",
    [
        "quadratic:dx=1000000000000",
        "cauchy:dx=100000000,n=100000",
        "coupled2:m=100000000",
        "cossum:dx=10000000000000",
        "quartic:n=100000000000",
        "interpolating:m=100000000000",
        "bilinear:m=10000000000000",
        "falsifier:dy=10000000000000",
        "signedquad:dx=10000000000000",
    ],
)
def test_sizes_that_cannot_fit_in_memory_are_refused_before_allocating(spec):
    with pytest.raises(UsageError) as err:
        make_problem(spec)
    message = str(err.value)
    assert "\n" not in message and "of memory; this machine has" in message
    assert message.startswith(spec.partition(":")[0] + ": ")


def test_check_allocation_names_what_and_how_much(monkeypatch):
    monkeypatch.setattr(validate, "physical_memory", lambda: 16 * 10**9)
    with pytest.raises(UsageError, match=r"^x=1e12 needs 8 TB of memory; this machine has 16 GB$"):
        validate.check_allocation(10**12, 8, "x=1e12")
    validate.check_allocation(10**9, 8, "fits")
    monkeypatch.setattr(validate, "physical_memory", lambda: None)  # unknown: nothing is refused
    validate.check_allocation(10**15, 8, "unknown")


def test_format_bytes():
    assert [validate.format_bytes(n) for n in (0, 999, 1500, 8 * 10**12, 32 * 10**24, 10**40)] == [
        "0 B",
        "999 B",
        "1.5 KB",
        "8 TB",
        "32 YB",
        "about 10^40 B",
    ]


def test_shared_checks_raise_the_error_class_asked_for():
    assert validate.positive("--eta", "0.5", error=UsageError) == 0.5
    with pytest.raises(UsageError, match="--eta must be a finite positive number, got nan"):
        validate.positive("--eta", math.nan, error=UsageError)
    with pytest.raises(SpecError, match="p: k must be an integer, got True"):
        validate.integer("p: k", True)
    with pytest.raises(SpecError, match=r"p: k must lie in \[0, 1\], got 2"):
        validate.in_range("p: k", 2, 0, 1)
    assert validate.optional(validate.positive)("p: k", None) is None


def test_check_refuses_a_nan_start_instead_of_reporting_false_failures(capsys):
    assert main(["check", "quadratic:dx=3,dy=2,n=2,start=nan"]) == 2
    captured = capsys.readouterr()
    assert "UNEXPECTED FAIL" not in captured.out
    assert captured.err == "hybridsmooth check: error: quadratic: start must be a finite number >= 0, got nan\n"


def test_train_refuses_an_infinite_start_instead_of_diverging(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "quadratic:dx=3,dy=2,n=2,start=inf",
                "--eta-x",
                "0.01",
                "--eta-y",
                "0.1",
                "--epochs",
                "2",
                "--seeds",
                "2",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "start must be a finite number" in err
    assert not out.exists()
