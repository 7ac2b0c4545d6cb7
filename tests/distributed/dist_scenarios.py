"""What the two-rank tests run, once per session, inside ``spawn_gloo`` (conftest.py): every scenario
records tensors per rank, and the tests compare them across ranks and against single-process replays.

The shared settings live here so the replays in the tests use the very same numbers."""

from __future__ import annotations

import os

import torch

from hybridsmooth.distributed.comm import all_sum_, rank_world
from hybridsmooth.distributed.curvature import parse as parse_curvature
from hybridsmooth.distributed.curvature import top_eigenvalue
from hybridsmooth.distributed.data_parallel import dp_model_step
from hybridsmooth.distributed.directions import direction, direction_parallel_step
from hybridsmooth.distributed.lanczos import fd_hvp, sharded_block_norm, sharded_gradient, sharded_lanczos
from hybridsmooth.distributed.sharded import shard_modules, sharded_hybrid_step
from hybridsmooth.distributed.toy import LoRAMLP, minibatches, mse, split_batches, toy_data, toy_objective
from hybridsmooth.distributed.train import parse, train
from hybridsmooth.optim import HybridSGDConfig
from hybridsmooth.optim.schedule import step_schedule
from hybridsmooth.zo.estimators import projected_gradient
from hybridsmooth.zo.inplace import forward, perturb, update

WORLD = 2
# 7 examples per minibatch: the ranks hold 4 and 3, so the batch-size weighting matters
DATA = dict(n_examples=14, n_minibatches=2)
DP = dict(config=HybridSGDConfig(method="hybrid", eta_x=0.05, eta_y=0.1, mu=1e-3, seed=5), steps=4)
SHARD = dict(n_examples=7, mu=1e-3, eta=0.05, eta_y=0.1, run_seed=11, steps=3)
DIRS = dict(d=400, m=30, q=4, mu=1e-2, eta=1e-2, run_seed=3, steps=3)
LANCZOS = dict(n_examples=7, h=1e-4, tol=1e-7, max_iter=60)
# a diagonal operator split over the ranks (exact products, no collective inside): three separated top
# eigenvalues over a dense bulk, long enough for the chunked float64-accumulated reductions of float32 shards
SPLIT_DIAG = dict(d=2 * 70_000, tol=1e-5, max_iter=300, max_basis=12)
ENTRY = ["--steps", "4", "--examples", "18", "--minibatches", "3"]
# random tiny transformers + LoRA in float64, their base weights sharded like a real model's (blocks, then the
# root): a BERT, and a LLaMA whose embedding and head are one tied weight
SHARDED_LLM = dict(
    objective=dict(adapter="lora", n_train=6, batch_size=6, max_length=16, n_dev=0, n_test=0, dtype="float64"),
    models=("tiny-bert", "tiny-llama"),
    steps=(1e-4, 3e-4),
    tol=1e-5,
)
CURVATURE_ENTRY = ["--examples", "9", "--max-basis", "5", "--tol", "1e-6"]


def dp_batches():
    return minibatches(toy_data(DATA["n_examples"]), DATA["n_minibatches"])


def dp_steps():
    cfg = DP["config"]
    return step_schedule(cfg.order, n=DATA["n_minibatches"], run_seed=cfg.seed, stop=DP["steps"])


def run_data_parallel(rank: int, world: int) -> dict:
    local = toy_objective(split_batches(dp_batches(), rank, world))
    losses = [dp_model_step(local, DP["config"], "regenerate", s).loss for s in dp_steps()]
    return dict(x=local.x.clone(), y=local.y.clone(), losses=losses)


def sharded_model(rank: int, world: int, *, train_base: bool):
    """The toy model with its three base layers FSDP2-sharded on a CPU mesh, and this rank's data."""
    from torch.distributed.device_mesh import init_device_mesh

    model = LoRAMLP(seed=0)
    for name, p in model.named_parameters():  # set before sharding: FSDP2 reads requires_grad at wrap time
        p.requires_grad_(name.startswith("base.") == train_base)
    modules = shard_modules([model.base[0], model.base[2], model.base[4]], init_device_mesh("cpu", (world,)))
    (batch,) = split_batches([toy_data(SHARD["n_examples"])], rank, world)
    return model, modules, batch


def root_forward_staleness(model, modules, batch) -> dict:
    """Does a forward see an in-place edit of a local shard, without and with ``reshard()`` in between?"""
    shard = model.base[0].weight.to_local()
    with torch.no_grad():
        before = float(mse(model, batch))  # leaves the root FSDP modules gathered
        shard.add_(1.0)
        stale = float(mse(model, batch))
        for m in modules:
            m.reshard()
        fresh = float(mse(model, batch))
        shard.sub_(1.0)
        for m in modules:
            m.reshard()
    return dict(stale_without_reshard=stale == before, fresh_after_reshard=fresh != before)


def run_sharded(rank: int, world: int) -> dict:
    model, modules, batch = sharded_model(rank, world, train_base=False)
    params, adapter = list(model.base.parameters()), [model.lora_a, model.lora_b]
    shapes = [tuple(p.to_local().shape) for p in params]
    phis, grads = [], []
    zo = dict(mu=SHARD["mu"], eta=SHARD["eta"], run_seed=SHARD["run_seed"], epoch=0)
    for k in range(SHARD["steps"]):
        step, gy = sharded_hybrid_step(
            modules, params, adapter, lambda: mse(model, batch), len(batch[0]), eta_y=SHARD["eta_y"], step=k, **zo
        )
        phis.append(step.phi[0])
        grads.append(torch.cat([g.reshape(-1) for g in gy]))
    full = [p.full_tensor().detach().clone() for p in params]
    staleness = root_forward_staleness(model, modules, batch)
    adapter = [p.detach().clone() for p in adapter]
    return dict(shapes=shapes, phis=phis, grads=grads, base=full, adapter=adapter, **staleness)


def dirs_problem(dtype=torch.float32):
    """A log-cosh regression on a flat float32 x (the same data on every rank, as direction parallelism needs)."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(DIRS["m"], DIRS["d"], generator=g, dtype=torch.float64) / DIRS["d"] ** 0.5
    b = torch.randn(DIRS["m"], generator=g, dtype=torch.float64)
    x = torch.randn(DIRS["d"], generator=g, dtype=torch.float64).to(dtype)
    A, b = A.to(dtype), b.to(dtype)
    return x, lambda: torch.log(torch.cosh(A @ x - b)).mean()


def inplace_direction_parallel_step(x, loss, *, step: int, group=None) -> None:
    """The step WITHOUT an exact restore (what the library refuses to offer): each rank perturbs +mu u, -2 mu u,
    +mu u along its own directions, then all ranks apply the same update."""
    rank, world = rank_world(group)
    key, q, mu = (DIRS["run_seed"], 0, step), DIRS["q"], DIRS["mu"]
    phi = torch.zeros(q, dtype=torch.float64)
    for j in range(rank, q, world):
        u = list(direction([x], key, j, "central"))
        perturb([x], u, mu)
        lp = forward(loss)
        perturb([x], u, -2 * mu)
        lm = forward(loss)
        perturb([x], u, mu)  # back to x only up to rounding, and the rounding depends on u
        phi[j] = projected_gradient(lp, lm, mu=mu, form="central")
    all_sum_(phi, group)
    for j in range(q):
        update([x], direction([x], key, j, "central"), -DIRS["eta"] * float(phi[j]) / q)


def run_directions(group=None) -> dict:
    out = {}
    for name in ("exact", "inplace"):
        x, loss = dirs_problem()
        for k in range(DIRS["steps"]):
            if name == "exact":
                kw = dict(mu=DIRS["mu"], eta=DIRS["eta"], run_seed=DIRS["run_seed"], epoch=0, q=DIRS["q"])
                direction_parallel_step([x], loss, step=k, group=group, **kw)
            else:
                inplace_direction_parallel_step(x, loss, step=k, group=group)
        out[name] = x.clone()
    return out


def run_lanczos(rank: int, world: int) -> dict:
    model, modules, batch = sharded_model(rank, world, train_base=True)
    params = list(model.base.parameters())
    grad = lambda: sharded_gradient(modules, params, lambda: mse(model, batch), len(batch[0]))  # noqa: E731
    local_dim = sum(p.to_local().numel() for p in params)
    res = sharded_lanczos(fd_hvp(grad, params, h=LANCZOS["h"]), local_dim, tol=LANCZOS["tol"], max_iter=60)
    capped = sharded_lanczos(
        fd_hvp(grad, params, h=LANCZOS["h"]), local_dim, tol=LANCZOS["tol"], max_iter=LANCZOS["max_iter"], max_basis=4
    )
    return dict(
        estimate=res.top,
        residual=res.residuals[0],
        converged=res.converged,
        iterations=res.iterations,
        capped=_summary(capped),
        split_diag=run_split_diagonal(rank, world),
    )


def split_diagonal() -> torch.Tensor:
    """The whole diagonal of the SPLIT_DIAG operator, the same on every rank."""
    g = torch.Generator().manual_seed(0)
    d = SPLIT_DIAG["d"]
    return torch.cat([torch.tensor([10.0, 9.9, 9.5]), 5.0 * torch.rand(d - 3, generator=g)])


def _summary(res) -> dict:
    keys = ("estimates", "residuals", "iterations", "n_hvp", "converged", "restarts", "reorth", "full_passes")
    return {k: getattr(res, k) for k in keys}


def run_split_diagonal(rank: int, world: int) -> dict:
    """This rank's slice of the diagonal, float32 shards: full, partial, and partial in a capped basis."""
    local = split_diagonal().chunk(world)[rank].to(torch.float32)
    kw = dict(dtype=torch.float32, tol=SPLIT_DIAG["tol"], max_iter=SPLIT_DIAG["max_iter"])
    return {
        name: _summary(sharded_lanczos(lambda v: local * v, local.numel(), **kw, **extra))
        for name, extra in (
            ("full", {}),
            ("partial", dict(reorth="partial")),
            ("partial_capped", dict(reorth="partial", max_basis=SPLIT_DIAG["max_basis"])),
        )
    }


def _curvature_entry(rank: int, world: int) -> dict:
    lines: list[str] = []
    res = top_eigenvalue(rank, world, parse_curvature(CURVATURE_ENTRY), out=lines.append)
    return dict(_summary(res), lines=lines)


def sharded_llm_spec(model: str) -> str:
    return "llm:" + ",".join(f"{k}={v}" for k, v in {"model": model, **SHARDED_LLM["objective"]}.items())


def sharded_llm_objective(model: str):
    from hybridsmooth.problems import make_problem

    return make_problem(sharded_llm_spec(model))


def run_sharded_llm(rank: int, world: int) -> dict:
    """L_x of each tiny transformer with its base weights sharded over the ranks, at two finite-difference steps."""
    from torch.distributed.device_mesh import init_device_mesh

    from hybridsmooth.distributed.curvature import shard_problem

    out = {}
    for model in SHARDED_LLM["models"]:
        mesh = init_device_mesh("cpu", (world,))
        _, modules, params, local_loss, local_size = shard_problem(sharded_llm_spec(model), rank, world, mesh)
        out[model] = dict(blocks=len(modules) - 1, local_dim=sum(p.to_local().numel() for p in params))
        for h in SHARDED_LLM["steps"]:
            res = sharded_block_norm(modules, params, local_loss, local_size, h=h, tol=SHARDED_LLM["tol"], max_iter=60)
            out[model][h] = _summary(res)
    return out


def run_all(rank: int, world: int, out_dir: str) -> None:
    results = dict(
        dp=run_data_parallel(rank, world),
        sharded=run_sharded(rank, world),
        directions=run_directions(),
        lanczos=run_lanczos(rank, world),
        entry=train(rank, world, parse(ENTRY), out=lambda line: None),
        curvature_entry=_curvature_entry(rank, world),
        sharded_llm=run_sharded_llm(rank, world),
    )
    torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
