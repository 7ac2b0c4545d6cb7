"""L_x of a model with its base weights FSDP2-sharded over the ranks: ``sharded_lanczos`` end to end.

    torchrun --nproc-per-node 2 -m hybridsmooth.distributed.curvature
    python -m hybridsmooth.distributed.curvature --procs 2        # the same, processes started here (gloo)
    python -m hybridsmooth.distributed.curvature --procs 2 --h 3e-3 --tol 1e-2 \\
        --problem llm:model=minilm,n_train=8,batch_size=8,max_length=32,n_dev=0,n_test=0 --reference

Without ``--problem``, the toy LoRA MLP: each rank holds a shard of its three base layers. With an ``llm:``
problem, the transformer's blocks and then its root are sharded (``sharded.shard_transformer``) and every base
weight is x. Each rank holds its share of the minibatch's examples; the products are central differences
(step ``--h`` along a unit vector) of the sharded gradient of the mean loss (``fd_hvp``), and the Lanczos
vectors are sharded like the weights. Rank 0 prints the estimate of ||H_xx|| with its explicit residual and,
for the toy or with ``--reference``, the single-process value of the same Hessian by exact products
(``lanczos_top_eigs``), so that a run checks itself. The residuals certify each value for its own operator;
the finite-difference one differs from H by O(h^2): in float32 take h about 3e-3, in float64 1e-4 to 1e-5.
"""

from __future__ import annotations

import argparse
import sys

from ..curvature.eigen import lanczos_top_eigs
from ..curvature.hvp import hessian_operator
from ..curvature.ritz import EigResult
from ..errors import SpecError
from .lanczos import sharded_block_norm
from .launch import run_entry
from .sharded import local_examples, shard_modules, shard_transformer
from .toy import LoRAMLP, mse, split_batches, toy_data, toy_objective


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m hybridsmooth.distributed.curvature", description=__doc__.splitlines()[0]
    )
    p.add_argument("--problem", default="", help="an llm: problem spec (default: the toy LoRA MLP)")
    p.add_argument("--batch", type=int, default=0, help="which minibatch of the problem (default 0)")
    p.add_argument("--reference", action="store_true", help="with --problem: the one-process value beside it")
    p.add_argument("--examples", type=int, default=16, help="the toy: examples in the minibatch")
    p.add_argument("--procs", type=int, default=2, help="processes to start when not run under torchrun")
    p.add_argument("--h", type=float, default=1e-4, help="finite-difference step of the products")
    p.add_argument("--tol", type=float, default=1e-6, help="relative explicit residual to stop at")
    p.add_argument("--max-iter", type=int, default=60, help="products that build the basis, restarts included")
    p.add_argument("--max-basis", type=int, default=None, help="basis rows kept (default: what memory allows)")
    p.add_argument("--reorth", choices=("full", "partial"), default="full")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.examples < 1 or args.procs < 1 or args.batch < 0 or not args.h > 0 or not args.tol > 0:
        p.error("need --examples >= 1, --procs >= 1, --batch >= 0, --h > 0 and --tol > 0")
    if args.problem:
        from ..problems import parse_spec

        try:
            name, _ = parse_spec(args.problem)
        except SpecError as err:
            p.error(str(err))
        if name != "llm":
            p.error(f"--problem needs an llm: spec (a model whose base weights can be sharded), got {name!r}")
        n = _minibatches(args.problem)
        if args.batch >= n:
            p.error(f"--batch {args.batch}: the problem has {n} minibatches (0 to {n - 1})")
    return args


def _minibatches(spec: str) -> int:
    """How many minibatches an llm: spec's training examples make, from the spec alone (no model loaded)."""
    from ..objectives.llm import make_llm_objective
    from ..objectives.registry import spec_defaults
    from ..problems import parse_spec

    kw = {**spec_defaults(make_llm_objective), **parse_spec(spec)[1]}
    return -(-int(kw["n_train"]) // int(kw["batch_size"]))


def shard_problem(spec: str, rank: int, world: int, mesh, batch: int = 0):
    """An llm: problem built on this rank with its transformer sharded on ``mesh`` (``shard_transformer``, every
    base weight x): (objective, sharded modules, x parameters, this rank's loss on its share of minibatch
    ``batch``, the size of that share), what ``sharded_block_norm`` takes."""
    from ..problems import make_problem

    obj = make_problem(spec)
    if not 0 <= batch < obj.n:
        raise SpecError(f"batch {batch}: the problem has {obj.n} minibatches")
    modules, params = shard_transformer(obj.model, set(obj.x_layout.names).__contains__, mesh)
    local = local_examples(obj.batches[batch], rank, world)
    return obj, modules, params, (lambda: obj.loss_fn(obj.model, local)), len(local["labels"])


def _sharded_toy(rank: int, world: int, args, mesh):
    model = LoRAMLP(seed=0)
    for name, p in model.named_parameters():  # FSDP2 reads requires_grad when it wraps
        p.requires_grad_(name.startswith("base."))
    modules = shard_modules([model.base[0], model.base[2], model.base[4]], mesh)
    params = list(model.base.parameters())
    data = toy_data(args.examples)
    (batch,) = split_batches([data], rank, world)
    return modules, params, (lambda: mse(model, batch)), len(batch[0]), toy_objective([data]), 0


def _sharded_problem(rank: int, world: int, args, mesh):
    _, modules, params, local_loss, local_size = shard_problem(args.problem, rank, world, mesh, args.batch)
    reference = None
    if args.reference and rank == 0:  # a model of its own: the sharded one's weights are DTensors now
        from ..problems import make_problem

        reference = make_problem(args.problem)
    return modules, params, local_loss, local_size, reference, args.batch


def top_eigenvalue(rank: int, world: int, args: argparse.Namespace, out=print) -> EigResult:
    """The sharded solve on this rank (every rank returns the same result); rank 0 reports it."""
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh("cpu", (world,))
    build = _sharded_problem if args.problem else _sharded_toy
    modules, params, local_loss, local_size, reference, idx = build(rank, world, args, mesh)
    res = sharded_block_norm(
        modules,
        params,
        local_loss,
        local_size,
        h=args.h,
        dtype=params[0].dtype,
        tol=args.tol,
        max_iter=args.max_iter,
        max_basis=args.max_basis,
        reorth=args.reorth,
        seed=args.seed,
    )
    if rank == 0:
        out(
            f"L_x = ||H_xx|| on {world} rank(s): {res.top:.8g} (explicit residual {res.residuals[0]:.1e}, "
            f"{res.n_hvp} products, {res.restarts} restarts, {res.reorth} re-orthogonalisation, "
            f"converged {res.converged}, {res.seconds:.2f} s)"
        )
        if reference is not None:
            x, y = reference.initial_point()
            tol = 1e-10 if not args.problem else args.tol / 10
            op = hessian_operator(reference, x, y, block="xx", idx=idx)
            ref = lanczos_top_eigs(op, tol=tol, max_iter=200)
            out(
                f"one process, exact products: {ref.top:.8g} (residual {ref.residuals[0]:.1e}); "
                f"difference {abs(res.top - ref.top):.1e}"
            )
    return res


def main(argv=None) -> int:
    args = parse(argv)
    run_entry(top_eigenvalue, args, procs=args.procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
