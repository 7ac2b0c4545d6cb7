"""The SLQ spectral density of a block with partial against full re-orthogonalisation, side by side.

Each probe of ``curvature.spectral_density`` is a Lanczos run; on a block of 2^20 weights or more it
re-orthogonalises partially (``curvature.semi_orthogonality``), passing over its whole basis only when the
estimated loss of orthogonality asks. This runs the same density both ways, interleaved over --reps rounds
(one probe at a time, the CPU default for the base weights), on one model, minibatch and point, and prints the
seconds of each and the largest Gauss node of each (the top of the spectrum both should agree on).

    .venv/bin/python benchmarks/slq_reorth.py                      # MiniLM + LoRA, xx, 2 probes x 30 steps
    .venv/bin/python benchmarks/slq_reorth.py --probes 4 --steps 40 --reps 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # sibling module bench_objectives

from bench_objectives import add_minibatch_arguments, llm_minibatch_objective  # noqa: E402

from hybridsmooth.curvature import HessianAtPoint, semi_orthogonality, spectral_density  # noqa: E402

FULL_EVERYWHERE = 1 << 62  # a threshold no operator reaches: every probe re-orthogonalises fully


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_minibatch_arguments(p)
    p.add_argument("--block", default="xx", choices=("xx", "yy"))
    p.add_argument("--probes", type=int, default=2)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--reps", type=int, default=2, help="interleaved rounds (median and best reported)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if args.probes < 1 or args.steps < 2 or args.reps < 1:
        p.error("need --probes >= 1, --steps >= 2 and --reps >= 1")
    torch.set_num_threads(args.threads)
    obj = llm_minibatch_objective(args)
    x, y = obj.initial_point()
    engine = HessianAtPoint(obj, x, y, idx=0, reuse_graph=True)
    op = engine.operator(args.block)
    op.matvec(torch.zeros(op.shape[0], dtype=op.dtype))  # build the cached graph outside every timing
    partial_from = semi_orthogonality.PARTIAL_REORTH_FROM
    if not semi_orthogonality.partial_by_default(op):
        print(
            f"note: block {args.block} has {op.shape[0]:,} weights, below the {partial_from:,} from which the "
            "solvers re-orthogonalise partially by default; the partial row forces it"
        )
    print(
        f"# {obj.spec}: block {args.block} ({op.shape[0]:,}), {args.probes} probes x {args.steps} steps, one at a "
        f"time, {obj.dtype}, {args.threads} threads, {args.reps} interleaved rounds",
        flush=True,
    )
    seconds: dict[str, list[float]] = {"partial": [], "full": []}
    top: dict[str, float] = {}
    try:
        for _ in range(args.reps):
            for mode, threshold in (("partial", min(partial_from, op.shape[0])), ("full", FULL_EVERYWHERE)):
                semi_orthogonality.PARTIAL_REORTH_FROM = threshold
                t = time.perf_counter()
                sd = spectral_density(op, n_probes=args.probes, n_steps=args.steps, seed=args.seed, batch=1)
                seconds[mode].append(time.perf_counter() - t)
                top[mode] = float(sd.nodes.max())
                print(f"  {mode}: {seconds[mode][-1]:.2f}s", file=sys.stderr, flush=True)
    finally:
        semi_orthogonality.PARTIAL_REORTH_FROM = partial_from
        engine.release()
    print(f"{'reorth':>8} {'best s':>8} {'median s':>9} {'largest node':>14}")
    for mode in ("partial", "full"):
        print(f"{mode:>8} {min(seconds[mode]):8.2f} {statistics.median(seconds[mode]):9.2f} {top[mode]:14.8g}")
    ratio = statistics.median(seconds["partial"]) / statistics.median(seconds["full"])
    gap = abs(top["partial"] - top["full"]) / abs(top["full"])
    print(f"partial / full: {ratio:.2f}x the seconds (medians); largest nodes {gap:.1e} apart relative")
    return 0


if __name__ == "__main__":
    sys.exit(main())
