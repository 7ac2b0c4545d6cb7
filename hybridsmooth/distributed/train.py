"""A data-parallel hybrid run on the toy problem; prints the reduced loss of each step.

    torchrun --nproc-per-node 2 -m hybridsmooth.distributed.train --steps 20
    python -m hybridsmooth.distributed.train --steps 20            # one process, the same numbers to rounding

Every rank holds its share of each minibatch; rank 0 prints. The last line says whether the replicas
ended bitwise identical (max |x_r - x_0| over the ranks after broadcasting rank 0's weights).
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.distributed as dist

from ..optim import HybridSGDConfig
from ..optim.schedule import step_schedule
from .comm import rank_world
from .data_parallel import ReplicaObjective, dp_model_step
from .launch import run_entry
from .toy import minibatches, split_batches, toy_data, toy_objective


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--examples", type=int, default=64, help="examples in the whole data set")
    p.add_argument("--minibatches", type=int, default=4)
    p.add_argument("--eta-x", type=float, default=0.02)
    p.add_argument("--eta-y", type=float, default=0.1)
    p.add_argument("--mu", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def replica_spread(x: torch.Tensor, group=None) -> float:
    """max |x - x_0| over the ranks (0.0 in a world of one): 0.0 means bitwise identical replicas."""
    if rank_world(group)[1] == 1:
        return 0.0
    x0 = x.clone()
    dist.broadcast(x0, src=0, group=group)
    gap = (x - x0).abs().max().reshape(1)
    dist.all_reduce(gap, op=dist.ReduceOp.MAX, group=group)
    return float(gap)


def train(rank: int, world: int, args: argparse.Namespace, out=print) -> list[float]:
    """The run on this rank; returns the step losses (the same list on every rank)."""
    data = minibatches(toy_data(args.examples), args.minibatches)
    local = toy_objective(split_batches(data, rank, world))
    cfg = HybridSGDConfig(method="hybrid", eta_x=args.eta_x, eta_y=args.eta_y, mu=args.mu, seed=args.seed)
    losses = []
    for s in step_schedule(cfg.order, n=args.minibatches, run_seed=cfg.seed, stop=args.steps):
        losses.append(dp_model_step(local, cfg, "regenerate", s).loss)
        if rank == 0:
            out(f"step {s.step:4d}  epoch {s.epoch:3d}  loss {losses[-1]:.6f}")
    full = float(ReplicaObjective(local).loss(local.x, local.y))
    spread = max(replica_spread(local.x), replica_spread(local.y))
    if rank == 0:
        out(f"final full loss {full:.6f} over {world} rank(s); max replica difference {spread:.1e}")
    return losses


def main(argv=None) -> int:
    run_entry(train, parse(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
