"""The tiny LLaMA objective, hybrid optimizer config and run descriptions that the model-run tests share."""

import dataclasses

from hybridsmooth.engine.run_description import RunDescription
from hybridsmooth.objectives.llm import make_llm_objective
from hybridsmooth.optim import HybridSGDConfig

MODEL_SPEC = "llm:model=tiny-llama,adapter=lora"
SMALL = dict(n_train=12, n_dev=4, n_test=4, batch_size=4, max_length=20, seed=0)


def tiny(adapter="lora", **kw):
    return make_llm_objective(model="tiny-llama", adapter=adapter, **{**SMALL, **kw})


def hybrid(**kw):
    return HybridSGDConfig(**{"method": "hybrid", "eta_x": 1e-3, "eta_y": 1e-2, "mu": 1e-3, "seed": 3, **kw})


def run_of(cfg, **settings):
    """A model run's description: ``settings`` are run fields or optimizer fields (divergence_factor)."""
    names = {f.name for f in dataclasses.fields(HybridSGDConfig)}
    opt = {k: settings.pop(k) for k in list(settings) if k in names}
    return RunDescription(MODEL_SPEC, dataclasses.replace(cfg, **opt), **settings)
