"""Sharded Lanczos on gloo processes: what its own work costs, per product, with each basis and re-orthogonalisation.

``distributed.sharded_lanczos`` runs on vectors each rank holds a shard of. Its products are the caller's (on a
model, two sharded gradients); what the solver adds is the basis: writing a row, the passes of Gram-Schmidt over
it, and the collectives that sum the local dot products. This benchmark isolates that work with a product that
costs next to nothing, a diagonal operator split over the ranks (three separated top eigenvalues over a dense
bulk, so that the top Ritz value converges and the basis loses orthogonality as it would on a Hessian), of
--length unknowns in all (default: MiniLM's 22,713,216 base weights), and times --iters products per solve:

* ``float64, full``: a float64 basis with a pass for every product (the solver's only mode before);
* ``float32, full``: the shards' own dtype, reductions accumulated in float64 (half the memory);
* ``float32, partial``: a pass only when the estimated loss of orthogonality asks.

Per mode: median seconds per product over --reps round-robin repetitions (the host is shared: compare the
ratios measured side by side), products with a full pass, collectives per product, the basis's MiB per rank,
and the top estimate with its explicit residual (the operator's top eigenvalue is 10).

    .venv/bin/python benchmarks/sharded_lanczos.py                   # 2 processes, 30 products
    .venv/bin/python benchmarks/sharded_lanczos.py --length 2000000 --iters 60 --reps 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

import torch

from hybridsmooth.distributed import lanczos as sharded
from hybridsmooth.distributed.launch import spawn_gloo

MODES = {
    "float64, full": dict(dtype=torch.float64, reorth="full"),
    "float32, full": dict(dtype=torch.float32, reorth="full"),
    "float32, partial": dict(dtype=torch.float32, reorth="partial"),
}


def local_diagonal(length: int, rank: int, world: int) -> torch.Tensor:
    """This rank's slice of the diagonal 10, 9.9, 9.5, then U(0, 5) entries (one generator for the whole)."""
    g = torch.Generator().manual_seed(0)
    whole = torch.cat([torch.tensor([10.0, 9.9, 9.5]), 5.0 * torch.rand(length - 3, generator=g)])
    return whole.chunk(world)[rank].clone()


def rank_main(rank: int, world: int, args, out_file: str) -> None:
    diag = local_diagonal(args.length, rank, world)
    calls = [0]
    plain_sum = sharded.all_sum_

    def counted(t, group=None):
        calls[0] += 1
        return plain_sum(t, group)

    sharded.all_sum_ = counted  # the solver's collectives go through this name
    rows: dict[str, list] = {m: [] for m in MODES}
    for _ in range(args.reps):
        for name, kw in MODES.items():
            d = diag.to(kw["dtype"])
            calls[0] = 0
            res = sharded.sharded_lanczos(
                lambda v, d=d: d * v, d.numel(), tol=1e-300, max_iter=args.iters, max_basis=args.iters + 1, **kw
            )
            rows[name].append(
                (res.seconds / res.n_hvp, res.full_passes, calls[0] / res.n_hvp, res.top, res.residuals[0])
            )
    if rank == 0:
        torch.save(rows, out_file)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=22_713_216, help="unknowns over all ranks (default: MiniLM's x)")
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--iters", type=int, default=30, help="products per solve (no early stop)")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args(argv)
    if args.iters < 2 or args.reps < 1 or args.procs < 1 or args.length < 4 * args.procs:
        p.error("need --iters >= 2, --reps >= 1, --procs >= 1 and --length >= 4 per process")
    print(
        f"sharded Lanczos on a split diagonal of {args.length:,} unknowns, {args.procs} gloo processes x 1 thread, "
        f"{args.iters} products per solve, {args.reps} repetitions; torch {torch.__version__}, {os.cpu_count()} CPUs",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "rank0.pt")
        spawn_gloo(rank_main, args.procs, args, out_file)
        rows = torch.load(out_file, weights_only=False)
    local = -(-args.length // args.procs)
    base = statistics.median(r[0] for r in rows["float64, full"])
    print(
        f"{'mode':>17} {'s / product':>12} {'vs float64 full':>16} {'full passes':>12} {'collectives':>12} "
        f"{'basis MiB/rank':>15} {'top':>12} {'residual':>9}"
    )
    for name, kw in MODES.items():
        seconds = statistics.median(r[0] for r in rows[name])
        passes = rows[name][0][1]
        mib = (args.iters + 1) * local * torch.tensor([], dtype=kw["dtype"]).element_size() / 2**20
        print(
            f"{name:>17} {seconds:12.4f} {seconds / base:15.2f}x {'-' if passes is None else passes:>12} "
            f"{rows[name][0][2]:12.1f} {mib:15.0f} {rows[name][0][3]:12.7f} {rows[name][0][4]:9.2e}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
