"""Every problem a spec string can name, in one table, and the parsing of spec strings into objectives.

A spec is ``name:key=value,key=value``; for example
``quadratic:dx=50,dy=10,Lx=10,Ly=1,coupling=0.5,n=16,seed=0``. Unknown names or keys raise a one-line
``SpecError`` that lists what is accepted.

Each row of ``REGISTRY`` names a builder, a one-line summary, per key a rule of ``hybridsmooth.validate`` that
a given value must pass (finite, positive, a size >= 0, one of a few words, ...) and a small ``example`` spec
that builds in a fraction of a second (the protocol tests run every row's example). The keys and their
defaults are read from the builder's keyword signature, so that each default is written once; the default
also fixes the type a value is read as. A keyword whose default a spec cannot express (``dtype=torch.float64``
of the synthetic builders) is for callers in code only, and ``spec`` receives the spec string itself.

A key given twice is refused: with "last one wins" a typo in a long spec would go unnoticed. Checks that
involve several keys (mx <= Lx, the memory a size needs) belong to the builder, whose ``ValueError`` becomes a
``SpecError`` naming the problem.

The problem modules never import this one: adding a problem is a builder in its module and a row here.
``llm`` imports no transformers until a spec names it.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import validate
from ..errors import SpecError
from ..validate import Rule
from . import counterexamples, llm, llm_models, quadratic, quartic, synthetic, zo_bias
from .base import Objective

# the types a spec value is read as; a keyword default of any other type is not a spec key
_SPEC_VALUE_TYPES = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class ProblemEntry:
    name: str
    build: Callable[..., Objective]
    summary: str
    rules: dict[str, Rule]
    example: str
    defaults: dict[str, Any]


def spec_defaults(build: Callable[..., Any]) -> dict[str, Any]:
    """The spec keys of a builder and their defaults, in signature order."""
    return {
        p.name: p.default
        for p in inspect.signature(build).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name != "spec" and isinstance(p.default, _SPEC_VALUE_TYPES)
    }


def _entry(
    name: str, build: Callable[..., Objective], summary: str, rules: dict[str, Rule], example: str
) -> ProblemEntry:
    defaults = spec_defaults(build)
    stray = set(rules) - set(defaults)
    if stray:  # a rule for a key the builder does not take: a renamed keyword
        raise ValueError(f"{name}: rules for keys that are not keywords of {build.__name__}: {sorted(stray)}")
    return ProblemEntry(name, build, summary, dict(rules), example, defaults)


# Rules shared by the synthetic problems. ``start`` is a distance from the origin where the start is a random
# direction (so >= 0), a coordinate value where it is start * (1, ..., 1) (falsifier, bilinear: any finite
# number).
_SIZE, _COUNT = validate.at_least(0), validate.at_least(1)
_SEED, _FINITE, _POSITIVE, _DISTANCE = (
    validate.non_negative_int,
    validate.finite,
    validate.positive,
    validate.non_negative,
)

# Every key of a model problem is checked before a model loads: a bad value must not cost a model load, nor
# load a wrong model.
_LLM_RULES = dict(
    adapter=validate.choice(*llm_models.ADAPTERS),
    task=validate.choice("sentiment", "topic"),
    n_train=validate.at_least(1),
    n_dev=validate.at_least(-1),
    n_test=validate.at_least(-1),
    batch_size=validate.at_least(1),
    max_length=validate.at_least(1),
    seed=validate.at_least(0),
    dtype=validate.choice(*llm_models.DTYPES),
    lora_r=validate.at_least(1),
    lora_alpha=validate.positive,
    virtual_tokens=validate.at_least(1),
    attn=validate.choice("eager", "sdpa"),
)

REGISTRY: dict[str, ProblemEntry] = {
    e.name: e
    for e in (
        _entry(
            "bilinear",
            counterexamples.make_bilinear,
            "b <x, y>: L_x = L_y = 0 yet the block descent lemma fails (THEORY 3.2)",
            dict(b=_FINITE, m=_COUNT, start=_FINITE),
            "bilinear:b=1.5,m=3,start=0.5",
        ),
        _entry(
            "cauchy",
            synthetic.make_cauchy,
            "nonconvex Cauchy-loss sum log(1 + (a_i^T z - t_i)^2); valid Lambda with Young s (THEORY 3.5, check 11)",
            dict(dx=_SIZE, dy=_SIZE, n=_COUNT, seed=_SEED, scale=_FINITE, target=_FINITE, s=_POSITIVE, start=_DISTANCE),
            "cauchy:dx=3,dy=2,n=4,seed=1",
        ),
        _entry(
            "cossum",
            zo_bias.make_cossum,
            "sum_j cos(omega x_j) + L_y/2||y||^2, exact smoothing e^{-omega^2 mu^2/2} (THEORY 4.5)",
            dict(dx=_SIZE, dy=_SIZE, omega=_POSITIVE, Ly=_FINITE, seed=_SEED, start=_DISTANCE),
            "cossum:dx=4,dy=2,omega=1.5,seed=1",
        ),
        _entry(
            "coupled2",
            counterexamples.make_coupled2,
            "H = [[a I, B], [B^T, c I]], ||B|| = s sqrt(ac): (BD) ratio s, (G3) ratio 1+s (checks 5, 9)",
            dict(
                m=_COUNT,
                a=_POSITIVE,
                c=_POSITIVE,
                s=validate.non_negative,
                n=_COUNT,
                spread=_DISTANCE,
                seed=_SEED,
                start=_DISTANCE,
            ),
            "coupled2:m=3,n=3,spread=0.5,seed=1",
        ),
        _entry(
            "falsifier",
            counterexamples.make_falsifier,
            "n=2, f_i = ||x||^2/2 + K_i ||y||^2/2, K = (K, 2-K): L_f = 1, L_max = K (check 15)",
            dict(K=_FINITE, dx=_SIZE, dy=_COUNT, start=_FINITE),
            "falsifier:K=5,dx=2,dy=2",
        ),
        _entry(
            "interpolating",
            synthetic.make_interpolating,
            "h(x,y) + g_i(y), Cauchy-type, grad_x f_i = grad_x f, sigma_x = 0 (check 12b)",
            dict(
                dx=_SIZE,
                dy=_COUNT,
                n=_COUNT,
                m=_COUNT,
                seed=_SEED,
                scale=_FINITE,
                target=_FINITE,
                s=_POSITIVE,
                start=_DISTANCE,
            ),
            "interpolating:dx=3,dy=2,n=4,m=3,seed=1",
        ),
        _entry(
            "llm",
            llm.make_llm_objective,
            "real or tiny transformer + adapter (LoRA/prompt), prompt-based classification of tweets (sentiment) "
            "or BBC News (topic); model=smollm2|minilm|tiny-llama|tiny-bert|PATH, data=PATH for a "
            "sentence<TAB>label file; dtype=float32|float64|bfloat16; n_dev/n_test=-1 take the task default "
            "(THEORY 8)",
            _LLM_RULES,
            # float64 so that finite differences of the loss can check its gradient
            "llm:model=tiny-llama,dtype=float64,n_train=6,n_dev=2,n_test=2,batch_size=3,max_length=24,lora_r=2",
        ),
        _entry(
            "quadratic",
            quadratic.make_block_quadratic,
            "block quadratic, shared Hessian [[A,B],[B^T,C]], chosen spectra, coupling s=||A^-1/2 B C^-1/2||, "
            "heterogeneous centres (THEORY checks 5, 8, 9, 10, 13)",
            # start and spread are distances, so negative values are refused rather than read as a flip
            dict(
                dx=_SIZE,
                dy=_SIZE,
                Lx=validate.non_negative,
                Ly=validate.non_negative,
                mx=validate.optional(validate.non_negative),
                my=validate.optional(validate.non_negative),
                spectrum_x=validate.choice(*quadratic.SPECTRA),
                spectrum_y=validate.choice(*quadratic.SPECTRA),
                coupling=validate.between(0.0, 1.0),
                n=_COUNT,
                spread=_DISTANCE,
                start=_DISTANCE,
                rotate=validate.boolean,
                seed=_SEED,
            ),
            "quadratic:dx=4,dy=3,n=5,coupling=0.5,seed=1",
        ),
        _entry(
            "quartic",
            quartic.make_quartic,
            "1/4||x||^4 + <a_i,x> + L_y/2||y - c_i||^2, ell_x = 3u^(2/3); hetero=0 is check 6 (checks 6, 14)",
            dict(dx=_SIZE, dy=_SIZE, n=_COUNT, Ly=_POSITIVE, hetero=_FINITE, seed=_SEED, start=_DISTANCE),
            "quartic:dx=3,dy=2,n=4,seed=1",
        ),
        _entry(
            "signedquad",
            zo_bias.make_signedquad,
            "sum_j (L/2) x_j|x_j| + L_y/2||y||^2, C^1 not C^2, bias L mu sqrt(2d/pi) at 0 (THEORY 4.5)",
            dict(dx=_SIZE, dy=_SIZE, L=_POSITIVE, Ly=_FINITE, seed=_SEED, start=_DISTANCE),
            "signedquad:dx=4,dy=2,seed=1,start=1.0",
        ),
    )
}


# --- spec strings ---------------------------------------------------------------------------------------


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


def make_problem(spec: str) -> Objective:
    """Build the objective a spec string names (the builder's defaults fill the keys it leaves out)."""
    import numpy as np

    name, kwargs = parse_spec(spec)
    try:
        # an overflow while building shows up in the finite check below as one line; numpy's warning
        # would add lines of its own
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            objective = REGISTRY[name].build(**kwargs, spec=spec)
    except SpecError:  # already one line naming the problem and its part
        raise
    except (ValueError, TypeError) as err:  # UsageError is one too: a missing data file, say
        raise SpecError(f"{name}: {_first_line(err)}") from None
    except OverflowError as err:  # Python float arithmetic (x ** 2, math.exp) raises where numpy gives inf
        raise SpecError(f"{name}: the values overflow float64 ({_first_line(err)}); lower them") from None
    _check_finite_start(name, objective)
    return objective


def _check_finite_start(name: str, objective: Objective) -> None:
    """Values that are each finite can still overflow together (Lx=1e300 with start=10): such a problem
    would only be reported, later, as a diverged run."""
    if not objective.batched:  # a model's loss costs forward passes; its builder checks it
        return
    x, y = objective.initial_point()
    value = float(objective.loss(x, y))
    if not math.isfinite(value):
        raise SpecError(
            f"{name}: the loss at the starting point is {value} (values too large for "
            f"{str(objective.dtype).replace('torch.', '')}); lower the scales or the start"
        )


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def problem_rows() -> list[dict[str, str]]:
    """One row per problem, by name: ``problem``, ``keys`` (``key=default,...``) and ``summary``."""
    return [
        {"problem": e.name, "keys": ",".join(f"{k}={v}" for k, v in e.defaults.items()), "summary": e.summary}
        for e in sorted(REGISTRY.values(), key=lambda e: e.name)
    ]


def describe_problems() -> str:
    """Every problem with its keys and defaults, and its summary (``hybridsmooth problems``)."""
    return "\n".join(f"{r['problem']}:{r['keys']}\n    {r['summary']}" for r in problem_rows())


def as_objective(objective: Objective | str) -> Objective:
    """``objective`` itself, or the objective its spec string names."""
    return make_problem(objective) if isinstance(objective, str) else objective
