"""Operator calls and seconds of one Lanczos update (the basis work of a step, no product), side by side for the
two reductions of ``curvature.precise``: the chunk loop the CPU keeps and the batched product a GPU takes; each
with a Gram-Schmidt pass over the basis (full re-orthogonalisation, and a partial one's rare passes) and
without (a step of partial re-orthogonalisation whose estimates ask for none: ``curvature.semi_orthogonality``).

On a GPU each operator call is a kernel launch plus host work, so a step's cost there follows its call count
more than its arithmetic: one gradient of SmolLM2 + LoRA makes 31,464 calls (README, "Measured so far").
This counts the calls with ``torch.profiler`` and times both paths on the device given, best of --reps.

    .venv/bin/python benchmarks/lanczos_calls.py                       # SmolLM2's base weights, 4 basis rows
    .venv/bin/python benchmarks/lanczos_calls.py --length 22713216     # MiniLM's
    .venv/bin/python benchmarks/lanczos_calls.py --device cuda --reps 5
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # sibling module _timing

from _timing import timed  # noqa: E402

from hybridsmooth.curvature import draws, precise  # noqa: E402
from hybridsmooth.curvature.ritz import lanczos_update  # noqa: E402
from hybridsmooth.curvature.semi_orthogonality import SemiOrthogonality  # noqa: E402


def no_pass() -> SemiOrthogonality:
    """Estimates that never ask for a pass: the step of partial re-orthogonalisation between passes."""
    orth = SemiOrthogonality(torch.finfo(torch.float32).eps)
    orth.level = float("inf")
    return orth


def count_calls(fn) -> int:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(e.count for e in prof.key_averages())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=134_515_008, help="vector length (default: SmolLM2's base weights)")
    p.add_argument("--rows", type=int, default=4, help="basis rows before the update (default 4)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    args = p.parse_args(argv)
    if args.rows < 2 or args.reps < 1 or args.length <= precise.CHUNK:
        p.error(f"need --rows >= 2, --reps >= 1 and --length > {precise.CHUNK} (shorter vectors take neither path)")
    torch.set_num_threads(args.threads)
    dtype, device = getattr(torch, args.dtype), torch.device(args.device)
    gen = draws.generator(0, device)
    Q = torch.empty(args.rows + 1, args.length, dtype=dtype, device=device)
    for i in range(args.rows):
        Q[i] = draws.normal(args.length, gen, dtype, device)
        Q[i] /= precise.norm(Q[i])
    w0 = draws.normal(args.length, gen, dtype, device)
    j = args.rows - 1
    chooser = precise._takes_batched_path
    print(f"# one Lanczos update, step j = {j}, length {args.length:,}, {dtype} on {device}, best of {args.reps}")
    print(f"{'reduction':>10} {'pass':>8} {'calls':>8} {'seconds':>9}")
    rows = {}
    for name, batched in (("loop", False), ("batched", True)):
        for pass_, orth in (("full", lambda: None), ("none", no_pass)):
            precise._takes_batched_path = lambda w, batched=batched: batched
            try:
                calls = count_calls(lambda: lanczos_update(Q, j, w0.clone(), orth()))
                seconds = min(timed(lambda: lanczos_update(Q, j, w0.clone(), orth()))[0] for _ in range(args.reps))
            finally:
                precise._takes_batched_path = chooser
            rows[name, pass_] = (calls, seconds)
            print(f"{name:>10} {pass_:>8} {calls:8d} {seconds:9.3f}")
    (c_loop, s_loop), (c_b, s_b) = rows["loop", "full"], rows["batched", "full"]
    print(f"batched / loop, with the pass: {c_b / c_loop:.4f}x the calls, {s_b / s_loop:.2f}x the seconds")
    for name in ("loop", "batched"):
        (c_f, s_f), (c_n, s_n) = rows[name, "full"], rows[name, "none"]
        print(f"{name}: a step without the pass costs {c_n / c_f:.3f}x the calls and {s_n / s_f:.2f}x the seconds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
