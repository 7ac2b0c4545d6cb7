"""What writing a fresh vector of length d costs on this host, row by row, as a Krylov basis grows.

An eigen-solve writes one new basis row per product into memory nobody has touched yet; the kernel maps and
zero-fills it on that first write. On a virtual machine whose host takes back memory the guest has not used
for a while, the first write to such memory can cost far more than the arithmetic, and it decides part of
what a solver's seconds mean. This allocates --rows rows of length d (MiniLM's 22.7M base weights by default)
and times the write of each, then frees them and does it again (memory the process just had), then once
more into rows already written (no fault at all).

    .venv/bin/python benchmarks/first_touch.py                   # 12 rows of 22,713,216 float32
    .venv/bin/python benchmarks/first_touch.py --rows 4 --d 1000000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch


def write_rows(Q: torch.Tensor, w: torch.Tensor) -> list[float]:
    seconds = []
    for j in range(Q.shape[0]):
        t0 = time.perf_counter()
        torch.div(w, 3.0, out=Q[j])
        seconds.append(time.perf_counter() - t0)
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=12)
    ap.add_argument("--d", type=int, default=22_713_216)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.rows < 1 or args.d < 1 or args.threads < 1:
        print("first_touch: --rows, --d and --threads must be positive", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    w = torch.randn(args.d)
    mib = args.d * 4 / 2**20
    print(f"{args.rows} rows of {args.d:,} float32 ({mib:.0f} MiB each), {args.threads} thread(s); ms per row")
    Q = torch.empty(args.rows, args.d)
    rounds = {"fresh memory": write_rows(Q, w), "rows already written": write_rows(Q, w)}
    del Q
    Q = torch.empty(args.rows, args.d)
    rounds["memory just freed"] = write_rows(Q, w)
    for name, s in rounds.items():
        per = " ".join(f"{1e3 * t:.0f}" for t in s)
        print(f"{name:<22} median {1e3 * statistics.median(s):7.1f}   rows: {per}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
