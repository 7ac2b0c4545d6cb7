"""Problem spec strings -> objectives.

A spec is ``name:key=value,key=value``; for example
``quadratic:dx=50,dy=10,Lx=10,Ly=1,coupling=0.5,n=16,seed=0``. Unknown names or keys raise a one-line
``SpecError`` that lists what is accepted. Each problem registers a builder and its accepted keys with
their defaults (the defaults fix each value's type).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .errors import SpecError


@dataclass(frozen=True)
class ProblemEntry:
    name: str
    build: Callable[..., Any]
    defaults: dict[str, Any]
    summary: str


REGISTRY: dict[str, ProblemEntry] = {}


def register(name: str, build: Callable[..., Any], defaults: dict[str, Any], summary: str) -> None:
    REGISTRY[name] = ProblemEntry(name, build, dict(defaults), summary)


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
        kwargs[key] = _convert(name, key, raw.strip(), entry.defaults[key])
    return name, kwargs


def make_problem(spec: str):
    """Build the objective a spec string names (defaults fill the keys it leaves out)."""
    name, kwargs = parse_spec(spec)
    entry = REGISTRY[name]
    try:
        return entry.build(**{**entry.defaults, **kwargs}, spec=spec)
    except SpecError:
        raise
    except (ValueError, TypeError) as err:
        raise SpecError(f"{name}: {err}") from None


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
        "heterogeneous centres (THEORY checks 5, 8, 9, 10, 13)")
    from .objectives import llm, synthetic  # noqa: F401  (they register themselves; transformers loads lazily)
