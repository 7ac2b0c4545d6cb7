"""ZO step on base weights sharded with FSDP2: each rank perturbs, restores and updates only its local shard.

``fully_shard`` (FSDP2) works on a CPU mesh with gloo in torch 2.13: parameters become DTensors
sharded on dim 0 and ``param.to_local()`` is a view of the rank's shard, so the in-place seed trick runs
on the list of local shards unchanged (``zo.inplace.zo_step_inplace_from``). One pitfall: an FSDP module
used as a root keeps its parameters unsharded after its forward (FSDP2 ignores reshard-after-forward for
the root), and its next forward reuses that gathered copy, so an in-place edit of the shards is NOT seen.
Every forward here therefore calls ``reshard()`` first, which makes the next forward gather the current
shards.

The noise of rank r comes from ``shard_generator(run seed, epoch, step, r)``: the direction of the whole
model is the concatenation, parameter by parameter along dim 0, of the ranks' shard noises
(``replay_directions``). It depends on how the parameters are cut, so a run is reproducible for a fixed
mesh (same world size, same sharded modules), not across mesh sizes. With one shard the key is
(run seed, epoch, step, 0), which ``derive_seed`` hashes as (run seed, epoch, step): the single-process
direction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..rng import derive_seed
from ..zo.estimators import Form
from ..zo.inplace import InplaceStep, NoiseMode, noise, zo_step_inplace_from
from .comm import rank_world, weighted_mean


def shard_modules(modules: Sequence[nn.Module], mesh) -> list[nn.Module]:
    """``fully_shard`` each module on ``mesh`` (dim-0 shards); parameters outside them stay replicated."""
    from torch.distributed.fsdp import fully_shard

    return [fully_shard(m, mesh=mesh) for m in modules]


def shard_transformer(
    model: nn.Module, needs_grad: Callable[[str], bool], mesh
) -> tuple[list[nn.Module], list[Tensor]]:
    """``fully_shard`` a transformer on ``mesh``: each block (the entries of its first ``nn.ModuleList``,
    BERT's layers or LLaMA's decoder layers), then the root, which takes the embeddings, the norms and the
    head. The parameters ``needs_grad`` names are the only ones left needing gradients (FSDP2 reads that when it
    wraps). Returns the sharded modules, root last, and those parameters (DTensors), in the model's order."""
    for name, p in model.named_parameters():
        p.requires_grad_(needs_grad(name))
    blocks = next((list(m) for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) > 0), [])
    modules = shard_modules([*blocks, model], mesh)
    return modules, [p for name, p in model.named_parameters() if needs_grad(name)]


def local_examples(batch: dict, rank: int, world: int) -> dict:
    """This rank's contiguous share of a dict batch (``toy.rank_slice`` on every tensor of the batch's length;
    the rest, such as lengths or flags, as it is)."""
    from .toy import rank_slice

    n = len(batch["labels"])
    cut = rank_slice(n, rank, world)
    return {k: v[cut] if torch.is_tensor(v) and v.dim() > 0 and len(v) == n else v for k, v in batch.items()}


def local_shards(params: Sequence[Tensor]) -> list[Tensor]:
    """The rank's shard of each DTensor parameter, as views: editing them edits the parameter."""
    return [p.to_local() for p in params]


def shard_generator(run_seed: int, epoch: int, step: int, shard: int, device="cpu") -> torch.Generator:
    """The private generator of one shard's noise at one step."""
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(derive_seed(run_seed, epoch, step, shard))
    return g


def local_shape(shape: Sequence[int], rank: int, world: int) -> tuple[int, ...]:
    """Rank ``rank``'s shard shape of a parameter under FSDP2's dim-0 layout (``torch.chunk``: chunks of
    ceil(n / world) rows, the last ones short or empty)."""
    n, rest = int(shape[0]), tuple(int(s) for s in shape[1:])
    chunk = math.ceil(n / world)
    return (max(0, min(chunk, n - rank * chunk)), *rest)


def resharded(modules: Sequence[nn.Module], fn: Callable):
    """``fn`` wrapped so that every call first drops the FSDP modules' gathered copies (module docstring)."""

    def call(*args, **kwargs):
        for m in modules:
            m.reshard()
        return fn(*args, **kwargs)

    return call


def sharded_zo_step(
    modules: Sequence[nn.Module],
    params: Sequence[Tensor],
    local_loss: Callable[[], Tensor],
    local_size: int,
    *,
    mu: float,
    eta: float,
    run_seed: int,
    epoch: int,
    step: int,
    form: Form = "central",
    q: int = 1,
    noise_mode: NoiseMode = "regenerate",
    group=None,
) -> InplaceStep:
    """One in-place ZO step on the local shards of ``params`` (the DTensor parameters of ``modules``).

    ``local_loss`` evaluates the model on this rank's ``local_size`` examples; the step differentiates the
    batch-size-weighted mean over the ranks, so every rank computes the same phi and the ranks' updates
    together are x <- x - (eta/q) sum_j phi_j u_j of the concatenated direction."""
    rank, _ = rank_world(group)
    shards = local_shards(params)
    loss = resharded(modules, lambda: weighted_mean(local_loss(), local_size, group))
    gen = shard_generator(run_seed, epoch, step, rank, device=shards[0].device)
    try:
        return zo_step_inplace_from(gen, shards, loss, mu=mu, eta=eta, form=form, q=q, noise_mode=noise_mode)
    finally:
        for m in modules:  # the gathered copy holds a perturbed point: never leave it for a later forward
            m.reshard()


def replay_directions(
    shapes: Sequence[Sequence[int]],
    world: int,
    *,
    run_seed: int,
    epoch: int,
    step: int,
    form: Form = "central",
    q: int = 1,
    dtype=torch.float64,
) -> list[list[Tensor]]:
    """The q full-model directions (one tensor per parameter of full ``shapes``) that ``sharded_zo_step``
    on a mesh of ``world`` ranks uses: each rank's shard noise, concatenated along dim 0."""
    per_rank = []
    for r in range(world):
        gen = shard_generator(run_seed, epoch, step, r)
        like = [torch.empty(local_shape(s, r, world), dtype=dtype) for s in shapes]
        per_rank.append([list(noise(like, form=form, generator=gen)) for _ in range(q)])
    return [[torch.cat([per_rank[r][j][i] for r in range(world)]) for i in range(len(shapes))] for j in range(q)]


def adapter_gradient(
    modules: Sequence[nn.Module],
    adapter: Sequence[Tensor],
    local_loss: Callable[[], Tensor],
    local_size: int,
    group=None,
) -> list[Tensor]:
    """grad_y of the mean loss over all ranks' examples, one tensor per adapter parameter (the adapter is
    replicated, so every rank gets the whole reduced gradient)."""
    value = resharded(modules, local_loss)()
    grads = torch.autograd.grad(value, list(adapter))
    flat = weighted_mean(torch.cat([g.reshape(-1) for g in grads]), local_size, group)
    return [t.view_as(p) for t, p in zip(flat.split([p.numel() for p in adapter]), adapter)]


def sharded_hybrid_step(
    modules: Sequence[nn.Module],
    params: Sequence[Tensor],
    adapter: Sequence[Tensor],
    local_loss: Callable[[], Tensor],
    local_size: int,
    *,
    eta_y: float,
    group=None,
    **zo,
) -> tuple[InplaceStep, list[Tensor]]:
    """One hybrid step (Jacobi, adapter gradient at the clean point, as ``hybrid_step`` with fo_point
    clean): grad_y at x, then the sharded ZO step on x (``zo`` are its keyword arguments), then
    y <- y - eta_y grad_y. Returns the ZO step's record and the reduced adapter gradient."""
    gy = adapter_gradient(modules, adapter, local_loss, local_size, group)
    with torch.no_grad():
        step = sharded_zo_step(modules, params, local_loss, local_size, group=group, **zo)
        for p, g in zip(adapter, gy):
            p.sub_(g, alpha=eta_y)
    return step, gy
