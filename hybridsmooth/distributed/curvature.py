"""L_x of the toy problem with its base weights FSDP2-sharded over the ranks: ``sharded_lanczos`` end to end.

    torchrun --nproc-per-node 2 -m hybridsmooth.distributed.curvature
    python -m hybridsmooth.distributed.curvature --procs 2        # the same, processes started here (gloo)

Each rank holds a shard of the three base layers of the toy LoRA MLP and its share of the examples; the
products are central differences of the sharded gradient of the mean loss (``fd_hvp``), the Lanczos vectors
are sharded like the weights. Rank 0 prints the estimate of ||H_xx|| with its explicit residual, and the
single-process value of the same Hessian (``lanczos_top_eigs`` on the unsharded toy objective, exact products)
beside it, so that a run checks itself.
"""

from __future__ import annotations

import argparse
import sys

from ..curvature.eigen import lanczos_top_eigs
from ..curvature.hvp import hessian_operator
from ..curvature.ritz import EigResult
from .lanczos import sharded_block_norm
from .launch import run_entry
from .sharded import shard_modules
from .toy import LoRAMLP, mse, split_batches, toy_data, toy_objective


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=16, help="examples in the minibatch (split over the ranks)")
    p.add_argument("--procs", type=int, default=2, help="processes to start when not run under torchrun")
    p.add_argument("--h", type=float, default=1e-4, help="finite-difference step of the products")
    p.add_argument("--tol", type=float, default=1e-6, help="relative explicit residual to stop at")
    p.add_argument("--max-iter", type=int, default=60, help="products that build the basis, restarts included")
    p.add_argument("--max-basis", type=int, default=None, help="basis rows kept (default: what memory allows)")
    p.add_argument("--reorth", choices=("full", "partial"), default="full")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.examples < 1 or args.procs < 1 or not args.h > 0 or not args.tol > 0:
        p.error("need --examples >= 1, --procs >= 1, --h > 0 and --tol > 0")
    return args


def top_eigenvalue(rank: int, world: int, args: argparse.Namespace, out=print) -> EigResult:
    """The sharded solve on this rank (every rank returns the same result); rank 0 reports it."""
    from torch.distributed.device_mesh import init_device_mesh

    model = LoRAMLP(seed=0)
    for name, p in model.named_parameters():  # FSDP2 reads requires_grad when it wraps
        p.requires_grad_(name.startswith("base."))
    modules = shard_modules([model.base[0], model.base[2], model.base[4]], init_device_mesh("cpu", (world,)))
    data = toy_data(args.examples)
    (batch,) = split_batches([data], rank, world)
    res = sharded_block_norm(
        modules,
        list(model.base.parameters()),
        lambda: mse(model, batch),
        len(batch[0]),
        h=args.h,
        tol=args.tol,
        max_iter=args.max_iter,
        max_basis=args.max_basis,
        reorth=args.reorth,
        seed=args.seed,
    )
    if rank == 0:
        obj = toy_objective([data])
        ref = lanczos_top_eigs(hessian_operator(obj, obj.x, obj.y, block="xx", idx=0), tol=1e-10, max_iter=200)
        out(
            f"L_x = ||H_xx|| on {world} rank(s): {res.top:.8g} (explicit residual {res.residuals[0]:.1e}, "
            f"{res.n_hvp} products, {res.restarts} restarts, {res.reorth} re-orthogonalisation, "
            f"converged {res.converged}, {res.seconds:.2f} s)"
        )
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
