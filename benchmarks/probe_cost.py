"""The block probe of a claim run, with its float64 reductions chunked against whole-vector, side by side.

Every 25 steps a seeded claim run probes the blocks (``engine.block_probe``): one backward of 32 dev examples
and, over each block, three inner products and a distance in float64. This times one probe (``before`` at a
point, a fixed move of both blocks that is not timed, ``after``) with the reductions as they are
(``curvature.precise.dot64`` / ``distance64``, converting 2^20 entries at a time) against the former
whole-vector conversions, interleaved over --reps rounds, and prints both probe rows: they must agree to
float64 rounding.

    .venv/bin/python benchmarks/probe_cost.py                    # MiniLM + LoRA, tweets, 16 x 32, 1 thread
    .venv/bin/python benchmarks/probe_cost.py --model tiny-bert --reps 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def _whole_dot(a, b) -> float:
    return float(torch.dot(a.detach().reshape(-1).double(), b.detach().reshape(-1).double()))


def _whole_distance(a, b) -> float:
    return float(torch.linalg.vector_norm(a.detach().reshape(-1).double() - b.detach().reshape(-1).double()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    if args.reps < 1 or args.threads < 1:
        print("probe_cost: --reps and --threads must be positive", file=sys.stderr)
        return 2
    from hybridsmooth.engine import block_probe
    from hybridsmooth.objectives import llm

    torch.set_num_threads(args.threads)
    obj = llm.make_llm_objective(
        model=args.model, adapter="lora", task="sentiment", batch_size=args.batch_size, max_length=args.max_length
    )
    start = (obj.x.detach().clone(), obj.y.detach().clone())
    gen = torch.Generator().manual_seed(0)
    move = (1e-3 * torch.randn(obj.x.shape, generator=gen), 1e-2 * torch.randn(obj.y.shape, generator=gen))
    chunked = (block_probe._dot, block_probe._distance)
    ways = {"chunked": chunked, "whole vector": (_whole_dot, _whole_distance)}
    times: dict = {w: [] for w in ways}
    rows: dict = {}
    try:
        for rep in range(args.reps):
            for way, (dot, distance) in ways.items():
                block_probe._dot, block_probe._distance = dot, distance
                probe = block_probe.BlockProbe.for_run(obj, 25, 1e-5, 0.1, start)
                t0 = time.perf_counter()
                probe.before(rep)
                seconds = time.perf_counter() - t0
                with torch.no_grad():
                    obj.x.add_(move[0])
                    obj.y.add_(move[1])
                t0 = time.perf_counter()
                probe.after()
                times[way].append(seconds + time.perf_counter() - t0)
                rows[way] = probe.rows[-1]
                with torch.no_grad():
                    obj.x.copy_(start[0])
                    obj.y.copy_(start[1])
    finally:
        block_probe._dot, block_probe._distance = chunked
    print(f"\n{args.model} + LoRA, {args.batch_size} x {args.max_length}, {args.threads} thread(s), {args.reps} rounds")
    print(f"{'reductions':<13} {'median s':>9} {'min s':>7}  (one probe: a backward of 32 examples, the reductions)")
    for way, v in times.items():
        print(f"{way:<13} {statistics.median(v):9.3f} {min(v):7.3f}")
    ratio = statistics.median(times["chunked"]) / statistics.median(times["whole vector"])
    print(f"chunked / whole vector: {ratio:.2f}x per probe")
    a, b = rows["chunked"], rows["whole vector"]
    worst = max(abs(u - v) / max(abs(v), 1e-300) for u, v in zip(a[1:], b[1:]))
    print(f"the last probe rows agree to {worst:.1e} relative (columns {', '.join(block_probe.PROBE_COLUMNS[1:])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
