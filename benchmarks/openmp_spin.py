"""What OpenMP's idle workers cost a split-stream noise pass that directly follows parallel work.

A split-stream pass (``zo.gaussian_split``) draws its chunks on ``torch.get_num_threads()`` pool threads. In a ZO
step each pass follows a forward, whose OpenMP team does not go to sleep at once: libgomp's idle workers spin
for a while (``GOMP_SPINCOUNT``; about 5-10 ms on the 2-core host of the README) and hold a core the pool needs.
This prints the seconds of one pass over ``--numel`` float32 weights right after an OpenMP-parallel add, and
after sleeping ``--gaps`` milliseconds, in this process and in a second one started with
``OMP_WAIT_POLICY=passive`` (idle workers sleep at once), interleaved round by round (medians, min).

    .venv/bin/python benchmarks/openmp_spin.py                 # 22.7M weights (MiniLM's x), 2 threads
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(numel: int, gaps: list[float], reps: int, threads: int) -> dict[str, list[float]]:
    """gap (ms) -> seconds of each split pass that followed an OpenMP-parallel add by that gap."""
    import torch

    from hybridsmooth.zo.gaussian_split import add_split, split_directions

    torch.set_num_threads(threads)
    x, busy = torch.zeros(numel), torch.zeros(numel)
    gen = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {f"{g:g}": [] for g in gaps}
    for rep in range(reps + 1):  # the first round warms up
        for g in gaps:
            busy.add_(1.0)  # parallel over the OpenMP team
            if g:
                time.sleep(g / 1e3)
            t0 = time.perf_counter()
            add_split([x], split_directions([x.shape], generator=gen, dtypes=[x.dtype]), 1e-3)
            if rep:
                times[f"{g:g}"].append(time.perf_counter() - t0)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--numel", type=int, default=22_713_216)
    ap.add_argument("--gaps", default="0,2,5,10,30", help="milliseconds between the parallel add and the pass")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # the second process's output
    args = ap.parse_args(argv)
    gaps = [float(g) for g in args.gaps.split(",")]
    if args.json:
        print(json.dumps(measure(args.numel, gaps, args.reps, args.threads)))
        return 0
    here = measure(args.numel, gaps, args.reps, args.threads)
    cmd = [sys.executable, __file__, "--json", "--numel", str(args.numel), "--gaps", args.gaps]
    cmd += ["--reps", str(args.reps), "--threads", str(args.threads)]
    env = {**os.environ, "OMP_WAIT_POLICY": "passive"}
    passive = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)
    wait = os.environ.get("OMP_WAIT_POLICY", "unset")
    print(f"split pass over {args.numel:,} float32 weights, {args.threads} threads, {args.reps} rounds")
    print(f"{'gap ms':>7} {'OMP_WAIT_POLICY ' + wait + ' (ms)':>32} {'passive (ms)':>16}")
    for g in here:
        a, b = here[g], passive[g]
        print(
            f"{g:>7} {1e3 * statistics.median(a):20.1f} (min {1e3 * min(a):5.1f}) "
            f"{1e3 * statistics.median(b):8.1f} (min {1e3 * min(b):5.1f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
