"""L_x of a real model with its base weights FSDP2-sharded over gloo processes, against the single-process value.

MiniLM + LoRA on one minibatch of tweets (the curvature benchmarks' problem, ``bench_objectives``): every base
weight of the encoder, its embeddings and its head is sharded over --procs CPU processes
(``distributed.sharded.shard_transformer``: ``fully_shard`` per encoder layer, then the root), each process
holds its share of the minibatch, and ``sharded_lanczos`` solves for ||H_xx|| with central-difference products
of the sharded gradient (``fd_hvp``, step --h along a unit vector). The single-process reference is
``lanczos_top_eigs`` on the same objective, minibatch and point with exact (reverse-over-reverse) products.
Both report their explicit residuals: the two values should lie within the sum of them plus the
finite-difference operator's own bias, O(h^2), which no residual measures.

    .venv/bin/python benchmarks/sharded_real_model.py                     # MiniLM, 2 processes, float32
    .venv/bin/python benchmarks/sharded_real_model.py --dtype float64 --h 1e-4 --tol 1e-4
    .venv/bin/python benchmarks/sharded_real_model.py --model tiny-bert --dtype float64 --h 1e-5 --tol 1e-6
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # sibling module bench_objectives

from bench_objectives import add_minibatch_arguments, llm_minibatch_spec  # noqa: E402

from hybridsmooth.curvature import lanczos_top_eigs  # noqa: E402
from hybridsmooth.curvature.hvp import hessian_operator  # noqa: E402
from hybridsmooth.distributed.curvature import shard_problem  # noqa: E402
from hybridsmooth.distributed.lanczos import sharded_block_norm  # noqa: E402
from hybridsmooth.distributed.launch import spawn_gloo  # noqa: E402
from hybridsmooth.problems import make_problem  # noqa: E402


def sharded_solve(rank: int, world: int, args, out_file: str) -> None:
    """One rank: the objective's model, its base weights sharded, this rank's share of the minibatch."""
    from torch.distributed.device_mesh import init_device_mesh

    t0 = time.perf_counter()
    obj, modules, params, local_loss, local_size = shard_problem(
        llm_minibatch_spec(args), rank, world, init_device_mesh("cpu", (world,))
    )
    setup = time.perf_counter() - t0
    res = sharded_block_norm(
        modules,
        params,
        local_loss,
        local_size,
        h=args.h,
        dtype=obj.dtype,
        tol=args.tol,
        max_iter=args.max_iter,
        reorth="full",
        seed=args.seed,
    )
    if rank == 0:
        local_dim = sum(p.to_local().numel() for p in params)
        torch.save(dict(result=res, setup=setup, local_dim=local_dim, layers=len(modules) - 1), out_file)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_minibatch_arguments(p)
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--procs", type=int, default=2)
    p.add_argument(
        "--h",
        type=float,
        default=3e-3,
        help="finite-difference step along a unit vector (3e-3: float32; 1e-4: float64)",
    )
    p.add_argument("--tol", type=float, default=1e-2, help="relative explicit residual of both solves")
    p.add_argument("--max-iter", type=int, default=60)
    args = p.parse_args(argv)
    torch.set_num_threads(args.procs)
    obj = make_problem(llm_minibatch_spec(args))
    print(
        f"# {obj.spec}: d_x={obj.d_x:,}, batch {args.batch_size} x {args.max_length} tokens, {obj.dtype}; "
        f"{args.procs} gloo processes x 1 thread against 1 process x {args.procs} threads",
        flush=True,
    )
    x, y = obj.initial_point()
    ref = lanczos_top_eigs(hessian_operator(obj, x, y, block="xx", idx=0), tol=args.tol, max_iter=args.max_iter)
    print(
        f"one process, exact products: L_x = {ref.top:.6f} (explicit residual {ref.residuals[0]:.2e}, "
        f"{ref.n_hvp} products, {ref.seconds:.1f} s, converged {ref.converged})",
        flush=True,
    )
    del obj
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "rank0.pt")
        spawn_gloo(sharded_solve, args.procs, args, out_file)
        got = torch.load(out_file, weights_only=False)
    res = got["result"]
    print(
        f"{args.procs} processes, {got['layers']} blocks and the root sharded, {got['local_dim']:,} base "
        f"weights on rank 0, finite differences h = {args.h:g}: L_x = {res.top:.6f} (explicit residual "
        f"{res.residuals[0]:.2e}, {res.n_hvp} products, {res.seconds:.1f} s after a {got['setup']:.1f} s set-up, "
        f"converged {res.converged})"
    )
    gap, allowed = abs(res.top - ref.top), res.residuals[0] + ref.residuals[0]
    # the residuals certify each value for its own operator; the finite-difference one differs from H by
    # O(h^2), which no residual measures (the gap falls 100x per 10x smaller h until rounding takes over)
    verdict = "within" if gap <= allowed else "outside: the finite-difference bias O(h^2), which they do not measure"
    relative = gap / abs(ref.top)
    print(f"difference {gap:.2e} ({relative:.1e} relative) against the sum of the residuals {allowed:.2e}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
