"""What a Lanczos solve's random start vector costs on the CPU, now against the former way, side by side.

Every eigen-solve on a CPU operator starts from a Gaussian vector drawn in float64 from a seeded CPU generator
and cast to the operator's dtype (``curvature.draws``), then normalised. The former code drew the whole vector
in float64 (a 182 MB temporary at MiniLM's 22.7M base weights) and divided it out of place (a second vector of
length d); now the float64 draw comes in chunks of 2^20 cast into the result (``zo.gaussian_chunks.randn_cast``)
and the division is in place. Both give the same bits (checked here before timing). Rounds are interleaved, so
a busy neighbour slows both alike; medians and minima are printed.

    .venv/bin/python benchmarks/start_vector.py                     # d = 22,713,216 (MiniLM), float32, 2 threads
    .venv/bin/python benchmarks/start_vector.py --d 134515008       # SmolLM2's base weights
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _timing import interleaved  # noqa: E402

from hybridsmooth.curvature import precise  # noqa: E402
from hybridsmooth.curvature.ritz import _start_vector  # noqa: E402


class _Shape:
    """The three attributes of an operator that ``_start_vector`` reads."""

    def __init__(self, d: int):
        self.shape, self.dtype, self.device = (d, d), torch.float32, torch.device("cpu")


def former(d: int, seed: int) -> torch.Tensor:
    v = torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(torch.float32)
    return v / precise.norm(v)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--d", type=int, default=22_713_216)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.d < 1 or args.reps < 1 or args.threads < 1:
        print("start_vector: --d, --reps and --threads must be positive", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    op = _Shape(args.d)
    ops = {"now": lambda: _start_vector(op, 0, None), "before": lambda: former(args.d, 0)}
    if not torch.equal(ops["now"](), ops["before"]()):
        print("start_vector: the two start vectors differ; the timing would compare different work", file=sys.stderr)
        return 1
    times = interleaved(ops, args.reps)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"start vector of length {args.d:,}, float32 from a float64 draw, {args.threads} thread(s), {args.reps} rounds"
    )
    for name, v in times.items():
        print(f"  {name:<7} median {med[name]:.3f} s   min {min(v):.3f} s")
    print(f"  now / before (medians): {med['now'] / med['before']:.2f}  (the same bits)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
