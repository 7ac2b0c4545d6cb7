"""One run, described completely: what ``hybridsmooth train``, the figures and sweeps execute and store.

A ``RunDescription`` names the problem (its spec string), the optimizer settings (``HybridSGDConfig``, the
one definition of each optimizer field and its default), the seeds and the settings of a model run. It is
plain JSON (``to_dict`` / ``from_dict``), written into every run folder's config.json under ``"run"``, and
its ``content_hash`` is the identity ``RunFolder`` records: the same description always names the same
folder, and a continuation (more epochs or steps, another checkpoint interval) keeps it.

Two kinds of run follow from the problem: synthetic problems run many seeds batched, in epochs (``seeds``:
a count, or the seed indices themselves); torch models (``llm:...``) train one run step by step (its seed is
the optimizer's ``seed``; ``steps``, ``eval_every``, ``eval_limit`` and ``noise_mode`` apply to them only).
A setting that does not apply to the kind of run must stay at its default, so that one run has one
description and one hash.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .. import validate
from ..errors import UsageError
from ..optim.hybrid_sgd import HybridSGDConfig
from ..zo.inplace import NOISE_MODES, NoiseMode

# the problems trained in place, one run at a time (torch models); the others run many seeds batched
MODEL_PROBLEMS = ("llm",)
DEFAULT_SEEDS = 20
MAX_SEED = 2**63 - 1  # seeds key the random streams as 64-bit integers
MODEL_ONLY = ("steps", "eval_every", "eval_limit", "noise_mode")
# model-run settings of the claim test (engine.block_probe, the test split at the end); left out of a run's
# identity while at their defaults, like _OPTIONAL_OPTIMIZER_FIELDS
MODEL_EXTRAS = {"probe_every": 0, "eval_test": False}
SYNTHETIC_ONLY = ("seeds",)
_OPTIMIZER_FIELDS = frozenset(f.name for f in dataclasses.fields(HybridSGDConfig))
# optimizer fields that to_dict leaves out while they hold their default (added after runs were stored)
_OPTIONAL_OPTIMIZER_FIELDS = {"zo_precision": "plain", "zo_stream": "sequential"}


def is_model_problem(problem: str) -> bool:
    from ..problems import parse_spec

    return parse_spec(problem)[0] in MODEL_PROBLEMS


@dataclass(frozen=True)
class RunDescription:
    """One run (see the module docstring). ``seeds=None`` is the kind's default: ``DEFAULT_SEEDS`` seeds
    for a synthetic problem (stored as that count), the one run of a model; ``steps=None`` trains a model
    for ``optimizer.epochs`` x its number of minibatches (resolved, and stored, when the run starts).

    Example: the description survives JSON, and a continuation with more epochs keeps its identity.

    >>> from hybridsmooth.optim.hybrid_sgd import HybridSGDConfig
    >>> d = RunDescription("quadratic:dx=4,dy=2,n=3", HybridSGDConfig(eta_x=0.01, eta_y=0.1, epochs=5), seeds=3)
    >>> RunDescription.from_dict(d.to_dict()) == d
    True
    >>> d.replace(optimizer__epochs=50).content_hash() == d.content_hash()
    True
    >>> d.replace(optimizer__eta_y=0.2).content_hash() == d.content_hash()
    False
    """

    problem: str
    optimizer: HybridSGDConfig
    seeds: int | tuple[int, ...] | None = None
    steps: int | None = None
    eval_every: int = 0  # 0: evaluate at the start and the end only
    eval_limit: int | None = None  # dev examples per evaluation (None: the whole dev split)
    checkpoint_every: int = 0  # epochs (synthetic) or steps (model) between checkpoints; 0: none
    # the same numbers either way (the two modes agree bitwise); regenerating the directions from the seed
    # needs no buffer of the size of the model, so it is the default of every run. Figures that trade that
    # memory for speed ask for "buffer" in their own settings.
    noise_mode: NoiseMode = "regenerate"
    # every probe_every steps, the first-order change of a fixed probe loss owed to each block's step
    # (engine.block_probe; 0: never); eval_test: the test split's loss and accuracy at the end of the run
    probe_every: int = 0
    eval_test: bool = False

    def __post_init__(self):
        if not isinstance(self.problem, str) or not self.problem:
            raise UsageError(f"problem must be a non-empty spec string, got {self.problem!r}")
        if not isinstance(self.optimizer, HybridSGDConfig):
            raise UsageError(f"optimizer must be a HybridSGDConfig, got {type(self.optimizer).__name__}")
        validate.integer("seed", self.optimizer.seed, minimum=0, maximum=MAX_SEED, error=UsageError)
        for name in ("eval_every", "checkpoint_every", "probe_every", *(("steps",) if self.steps is not None else ())):
            validate.integer(name, getattr(self, name), minimum=0, error=UsageError)
        if self.eval_limit is not None:
            validate.integer("eval_limit", self.eval_limit, minimum=1, error=UsageError)
        if not isinstance(self.eval_test, bool):
            raise UsageError(f"eval_test must be true or false, got {self.eval_test!r}")
        if self.noise_mode not in NOISE_MODES:
            raise UsageError(f"unknown noise mode {self.noise_mode!r}; accepted: {', '.join(NOISE_MODES)}")
        object.__setattr__(self, "seeds", self._checked_seeds())
        self._refuse_settings_of_the_other_kind()
        for name, default in _OPTIONAL_OPTIMIZER_FIELDS.items():
            if not self.is_model and getattr(self.optimizer, name) != default:
                raise UsageError(
                    f"{name} {getattr(self.optimizer, name)!r} does not apply to {self.problem!r}: "
                    "it is a setting of the in-place ZO step of torch models"
                )

    def _checked_seeds(self):
        seeds = self.seeds
        if seeds is None:
            return None if self.is_model else DEFAULT_SEEDS
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            return validate.integer("seeds", seeds, minimum=1, maximum=MAX_SEED, error=UsageError)
        if not isinstance(seeds, (list, tuple)) or not seeds:
            raise UsageError(f"seeds must be a count or a non-empty list of seed indices, got {seeds!r}")
        for s in seeds:
            validate.integer("a seed index", s, minimum=0, maximum=MAX_SEED, error=UsageError)
        if len(set(seeds)) != len(seeds):
            raise UsageError(f"seeds names a seed index twice: {list(seeds)}")
        return tuple(seeds)

    def _refuse_settings_of_the_other_kind(self) -> None:
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        names = SYNTHETIC_ONLY if self.is_model else (*MODEL_ONLY, *MODEL_EXTRAS)
        wrong = [n for n in names if getattr(self, n) != defaults[n]]
        if wrong:
            kind = "a torch model trains one run (its seed: optimizer.seed)" if self.is_model else "it runs in epochs"
            raise UsageError(f"{', '.join(wrong)} do(es) not apply to {self.problem!r}: {kind}")

    def __getattr__(self, name: str):
        # the optimizer's fields read through (``description.eta_x``), so tables and labels need no unpacking;
        # only names that normal lookup misses arrive here
        if name in _OPTIMIZER_FIELDS:
            return getattr(self.optimizer, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # --- what kind of run ---------------------------------------------------------------------------------
    @property
    def is_model(self) -> bool:
        return is_model_problem(self.problem)

    @property
    def seed_arg(self):
        """The ``seeds`` argument of ``run_hybrid_sgd``: a count, or a list of seed indices."""
        return list(self.seeds) if isinstance(self.seeds, tuple) else self.seeds

    @property
    def variant(self) -> str:
        """The method, with its FO evaluation point when that is not the clean one (``hybrid+plus``)."""
        opt = self.optimizer
        return opt.method if opt.fo_point == "clean" else f"{opt.method}+{opt.fo_point}"

    def label(self) -> str:
        opt = self.optimizer
        return f"{self.variant} eta_x={opt.eta_x:g} eta_y={opt.eta_y:g} mu={opt.mu:g} seed={opt.seed}"

    # --- JSON and identity ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON values; ``from_dict(to_dict())`` gives back an equal description."""
        from .rundir import json_safe

        data = json_safe(dataclasses.asdict(self))
        # a field added after runs were stored is written only when it is not its default, so that the
        # stored descriptions (and their content hashes) of those runs stay what they were
        for name, default in _OPTIONAL_OPTIMIZER_FIELDS.items():
            if data["optimizer"].get(name) == default:
                del data["optimizer"][name]
        for name, default in MODEL_EXTRAS.items():
            if data[name] == default:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RunDescription:
        """The description ``to_dict`` wrote; every key must be there and no other (one-line UsageError)."""
        if isinstance(data, dict):
            data = {**{k: v for k, v in MODEL_EXTRAS.items() if k not in data}, **data}
        _check_keys("run description", data, [f.name for f in dataclasses.fields(cls)])
        optional = {k: v for k, v in _OPTIONAL_OPTIMIZER_FIELDS.items() if k not in data["optimizer"]}
        data = {**data, "optimizer": {**data["optimizer"], **optional}} if isinstance(data["optimizer"], dict) else data
        _check_keys("optimizer", data["optimizer"], [f.name for f in dataclasses.fields(HybridSGDConfig)])
        try:
            optimizer = HybridSGDConfig(**data["optimizer"])
        except ValueError as err:
            raise UsageError(f"optimizer: {err}") from None
        return cls(**{**data, "optimizer": optimizer})

    def content_hash(self) -> str:
        """The identity of the run: the ``run_hash`` its folder's config.json records (epochs, steps and
        checkpoint_every left out, so that a continuation keeps it)."""
        from .rundir import run_hash

        return run_hash({"run": self.to_dict()})

    def replace(self, **changes) -> RunDescription:
        """A copy with some fields changed; ``optimizer__<field>`` changes a field of the optimizer."""
        opt = {k.split("__", 1)[1]: changes.pop(k) for k in list(changes) if k.startswith("optimizer__")}
        if opt:
            changes["optimizer"] = dataclasses.replace(changes.get("optimizer", self.optimizer), **opt)
        return dataclasses.replace(self, **changes)


def _check_keys(what: str, data, expected: list[str]) -> None:
    if not isinstance(data, dict):
        raise UsageError(f"{what} must be a JSON object, got {type(data).__name__}")
    unknown = [k for k in data if k not in expected]
    missing = [k for k in expected if k not in data]
    if unknown or missing:
        parts = ([f"unknown keys {', '.join(unknown)}"] if unknown else []) + (
            [f"missing keys {', '.join(missing)}"] if missing else []
        )
        raise UsageError(f"{what}: {'; '.join(parts)} (accepted: {', '.join(expected)})")
