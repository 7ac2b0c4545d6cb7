"""Problem spec strings -> objectives.

A spec is ``name:key=value,key=value``; for example
``quadratic:dx=50,dy=10,Lx=10,Ly=1,coupling=0.5,n=16,seed=0``. Unknown names or keys raise a one-line
``SpecError`` that lists what is accepted. Each problem registers a builder and its accepted keys with
their defaults (the defaults fix each value's type) and, per key, a rule of ``hybridsmooth.validate`` that a
given value must pass (finite, positive, a size >= 0, one of a few words, ...). A key given twice is refused:
with "last one wins" a typo in a long spec would go unnoticed. Checks that involve several keys (mx <= Lx,
the memory a size needs) belong to the builder, whose ``ValueError`` becomes a ``SpecError`` naming the problem.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import SpecError
from .validate import Rule


@dataclass(frozen=True)
class ProblemEntry:
    name: str
    build: Callable[..., Any]
    defaults: dict[str, Any]
    summary: str
    rules: dict[str, Rule] = field(default_factory=dict)


REGISTRY: dict[str, ProblemEntry] = {}


def register(name: str, build: Callable[..., Any], defaults: dict[str, Any], summary: str,
             rules: dict[str, Rule] | None = None) -> None:
    rules = dict(rules or {})
    stray = set(rules) - set(defaults)
    if stray:
        raise ValueError(f"{name}: rules for keys that have no default: {sorted(stray)}")
    REGISTRY[name] = ProblemEntry(name, build, dict(defaults), summary, rules)


def _convert(name: str, key: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float) or default is None:
            return float(raw)
        return raw
    except ValueError:
        kind = "boolean" if isinstance(default, bool) else type(default).__name__ if default is not None else "number"
        raise SpecError(f"{name}: {key}={raw!r} is not a valid {kind}") from None


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split a spec into (name, typed keyword arguments), checking names and keys against the registry."""
    _ensure_registered()
    if not isinstance(spec, str):
        raise SpecError(f"a problem spec must be a string like quadratic:dx=5, got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    if name not in REGISTRY:
        raise SpecError(f"unknown problem {name!r}; accepted: {', '.join(sorted(REGISTRY))}")
    entry = REGISTRY[name]
    kwargs: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq:
            raise SpecError(f"{name}: expected key=value, got {item!r}")
        if key not in entry.defaults:
            raise SpecError(f"{name}: unknown key {key!r}; accepted: {', '.join(entry.defaults)}")
        if key in kwargs:
            raise SpecError(f"{name}: key {key!r} is given twice; give each key once")
        value = _convert(name, key, raw.strip(), entry.defaults[key])
        rule = entry.rules.get(key)
        kwargs[key] = rule(f"{name}: {key}", value) if rule is not None else value
    return name, kwargs


def make_problem(spec: str):
    """Build the objective a spec string names (defaults fill the keys it leaves out)."""
    import numpy as np

    name, kwargs = parse_spec(spec)
    entry = REGISTRY[name]
    try:
        # an overflow while building shows up in the finite checks below as one line; numpy's warning
        # would add lines of its own
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            objective = entry.build(**{**entry.defaults, **kwargs}, spec=spec)
    except SpecError:    # already one line naming the problem and its part
        raise
    except (ValueError, TypeError) as err:   # UsageError is one too: a missing data file, say
        raise SpecError(f"{name}: {_first_line(err)}") from None
    except OverflowError as err:   # Python float arithmetic (x ** 2, math.exp) raises where numpy gives inf
        raise SpecError(f"{name}: the values overflow float64 ({_first_line(err)}); lower them") from None
    _check_finite_start(name, objective)
    return objective


def _check_finite_start(name: str, objective) -> None:
    """Values that are each finite can still overflow together (Lx=1e300 with start=10): such a problem
    would only be reported, later, as a diverged run."""
    from .objectives.base import FiniteSum

    if not isinstance(objective, FiniteSum):   # a model's loss costs forward passes; its builder checks it
        return
    x, y = objective.initial_point()
    value = float(objective.loss(x, y))
    if not math.isfinite(value):
        raise SpecError(f"{name}: the loss at the starting point is {value} (values too large for "
                        f"{str(objective.dtype).replace('torch.', '')}); lower the scales or the start")


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def describe_problems() -> str:
    _ensure_registered()
    lines = []
    for e in sorted(REGISTRY.values(), key=lambda e: e.name):
        keys = ",".join(f"{k}={v}" for k, v in e.defaults.items())
        lines.append(f"{e.name}:{keys}\n    {e.summary}")
    return "\n".join(lines)


_REGISTERED = False


def _ensure_registered() -> None:
    # Import the problem modules lazily so that `import hybridsmooth.problems` stays cheap and the LLM
    # objectives (transformers, peft) load only when a spec names them.
    global _REGISTERED
    if _REGISTERED:
        return
    _REGISTERED = True
    from .objectives import quadratic

    register("quadratic", quadratic.make_block_quadratic, dict(
        dx=50, dy=10, Lx=10.0, Ly=1.0, mx=None, my=None, spectrum_x="loguniform", spectrum_y="loguniform",
        coupling=0.0, n=16, spread=1.0, start=3.0, rotate=True, seed=0),
        "block quadratic, shared Hessian [[A,B],[B^T,C]], chosen spectra, coupling s=||A^-1/2 B C^-1/2||, "
        "heterogeneous centres (THEORY checks 5, 8, 9, 10, 13)",
        quadratic.SPEC_RULES)
    from .objectives import llm, synthetic  # noqa: F401  (they register themselves; transformers loads lazily)
