"""Data-parallel hybrid step on 2 gloo processes vs 1 process on the same total batch: seconds per step.

The toy LoRA MLP of hybridsmooth.distributed (x = base weights, ZO by the in-place seed trick; y = LoRA,
first order) takes hybrid steps on one minibatch of --batch examples:

* ``1 proc x T threads``: ``engine.model_step`` on the whole batch, for T = 1 and T = --procs;
* ``P procs x 1 thread``: ``distributed.dp_model_step`` on --procs gloo processes, each on batch / P
  examples (two scalar all-reduces for the ZO losses, one for grad_y, per step).

Each variant runs --warmup untimed steps, then --steps timed ones; the median step is reported (the host
CPU is shared: trust the ratios measured side by side, not the seconds). ``vs 1x1`` is the 1-process,
1-thread time divided by the variant's (above 1: faster). The last column checks that the variants
trained the same model: max |x - x_1proc| after the run (x_1proc: 1 process, 1 thread).

    .venv/bin/python benchmarks/dp_step.py                         # batch 512, hidden 256
    .venv/bin/python benchmarks/dp_step.py --batch 64 --hidden 64 --steps 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import pandas as pd
import torch

from hybridsmooth.distributed.data_parallel import dp_model_step
from hybridsmooth.distributed.launch import spawn_gloo
from hybridsmooth.distributed.toy import split_batches, toy_data, toy_objective
from hybridsmooth.engine.model_step import model_step
from hybridsmooth.optim import HybridSGDConfig
from hybridsmooth.optim.schedule import step_schedule

CONFIG = HybridSGDConfig(method="hybrid", eta_x=1e-3, eta_y=1e-2, mu=1e-3, seed=0)


def problem(args, rank: int, world: int):
    dims = dict(d_in=args.d_in, hidden=args.hidden, d_out=args.d_out)
    data = toy_data(args.batch, d_in=args.d_in, d_out=args.d_out)
    return toy_objective(split_batches([data], rank, world), **dims)


def timed_steps(step_fn, objective, args) -> tuple[float, torch.Tensor]:
    """Median seconds of the timed steps, and x after all of them."""
    seconds = []
    for s in step_schedule(CONFIG.order, n=1, run_seed=CONFIG.seed, stop=args.warmup + args.steps):
        t0 = time.perf_counter()
        step_fn(objective, CONFIG, "regenerate", s)
        if s.step >= args.warmup:
            seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), objective.x.clone()


def replica(rank: int, world: int, args, out_file: str) -> None:
    """One gloo rank of the data-parallel variant; rank 0 writes its timing and weights."""
    result = timed_steps(dp_model_step, problem(args, rank, world), args)
    if rank == 0:
        torch.save(result, out_file)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=512, help="total examples per step (default 512)")
    p.add_argument("--hidden", type=int, default=256, help="hidden width of the MLP (default 256)")
    p.add_argument("--d-in", type=int, default=64)
    p.add_argument("--d-out", type=int, default=16)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args(argv)
    obj = problem(args, 0, 1)
    print(
        f"hybrid step on the toy LoRA MLP: d_x={obj.d_x}, d_y={obj.d_y}, batch {args.batch}, "
        f"{args.steps} timed steps; torch {torch.__version__}, {os.cpu_count()} CPUs",
        flush=True,
    )
    rows = []
    for threads in sorted({1, args.procs}):
        torch.set_num_threads(threads)
        sec, x = timed_steps(model_step, problem(args, 0, 1), args)
        rows.append({"variant": f"1 proc x {threads} thread(s)", "s/step": sec, "x": x})
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "rank0.pt")
        spawn_gloo(replica, args.procs, args, out_file)
        sec, x = torch.load(out_file, weights_only=False)
    rows.append({"variant": f"{args.procs} procs x 1 thread (gloo)", "s/step": sec, "x": x})
    x_one = rows[0]["x"]
    for row in rows:
        row["max |x - x_1proc|"] = float((row.pop("x") - x_one).abs().max())
    table = pd.DataFrame(rows).set_index("variant")
    table.insert(1, "vs 1x1", table["s/step"].iloc[0] / table["s/step"])
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
