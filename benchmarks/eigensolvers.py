"""Lanczos vs power iteration vs PyHessian's power iteration for lambda_max of a block Hessian.

All solvers work on the same model, minibatch (batch 0), point, eval mode (no dropout: LoRA dropout is 0
and both sides call model.eval()) and loss (cross-entropy of the class scores). The reference is a long
Lanczos run (--ref-iters products, another start vector, tol 1e-7). For each solver the table gives the
HVPs and seconds until its running estimate of the largest-magnitude eigenvalue is, and stays, within
--rtol (default 1e-3) relative of the reference -- Lanczos' top Ritz value, the power iterations' Rayleigh
quotient -- the final estimate, its relative error, and the ratio to PyHessian's power iteration.
"s/HVP" is the median seconds per product of that run; "HVPs x s/HVP" (and the "(median)" ratio) is the
time to target a run would take at its median pace, which a stall of a shared machine does not distort.

Rows:
  lanczos                  ours (hybridsmooth.curvature.lanczos_top_eigs), its default re-orthogonalisation:
                           partial on a block of 2^20 weights or more (xx), full below (yy)
  lanczos, full            ours, a Gram-Schmidt pass over the whole basis for every product (xx only,
                           where the default is partial)
  power                    ours (hybridsmooth.curvature.power_iteration), own seeded start vector
  power, PyHessian's v0    ours, started from PyHessian's start vector: same maths as PyHessian, so the
                           same HVP count; the seconds compare the per-HVP cost alone
  PyHessian power          pyhessian.hessian(...).eigenvalues(maxIter=--power-iters, tol=0), logged per HVP
                           (hybridsmooth.oracles.pyhessian_power)
Below each table: where PyHessian's own stopping rule (relative change < 1e-3) stops, and seconds per HVP.

Seconds are measured per product: an estimate counts as available when the solver asks for its next
product (or returns), so Lanczos' re-orthogonalisation and the vector work of each method are included.
Our solvers share one cached gradient graph per block (HessianAtPoint(reuse_graph=True)), built outside
the timings; PyHessian's equivalent (its constructor's create_graph backward) is shown as "setup".

PyHessian is in the oracle extra (`make install` puts it in the venv without its dependencies); without it
the PyHessian rows are skipped with a printed line.

Memory: Lanczos keeps max_iter + 1 vectors of the block's size; for block xx of MiniLM (22.7M weights)
that is 91 MB per iteration (3.7 GB for --ref-iters 40), plus the kept graph.

    .venv/bin/python benchmarks/eigensolvers.py                        # MiniLM + LoRA, blocks yy and xx
    .venv/bin/python benchmarks/eigensolvers.py --model smollm2        # SmolLM2-135M + LoRA (slow)
    .venv/bin/python benchmarks/eigensolvers.py --model tiny-bert --block yy --ref-iters 20
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # sibling module bench_objectives

from bench_objectives import llm_minibatch_objective  # noqa: E402

from hybridsmooth.curvature import HessianAtPoint, heap, lanczos_top_eigs, power_iteration  # noqa: E402
from hybridsmooth.curvature.operators import Operator  # noqa: E402
from hybridsmooth.curvature.semi_orthogonality import PARTIAL_REORTH_FROM  # noqa: E402
from hybridsmooth.oracles import install_hint  # noqa: E402
from hybridsmooth.oracles.pyhessian_power import pyhessian_power, pyhessian_rule_stop  # noqa: E402

INSTALL_HINT = f"PyHessian is not installed: {install_hint('pyhessian')} (make install does)"


def pyhessian_available() -> bool:
    return importlib.util.find_spec("pyhessian") is not None


def hvps_to_target(history, ref: float, rtol: float) -> int | None:
    """1-based index of the first estimate after which all estimates stay within rtol of ref."""
    ok = np.abs(np.asarray(history) - ref) <= rtol * abs(ref)
    if not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    return int(bad[-1] + 2) if len(bad) else 1


class Timed:
    """The operator with a clock: the start time of every product, so estimate i's time is the start of
    product i+1 (everything the solver did with estimate i is paid by then) or the solver's return."""

    def __init__(self, op: Operator):
        self.starts: list[float] = []

        def apply(v):
            self.starts.append(time.perf_counter())
            return op.apply(v)

        self.op = Operator(
            op.shape,
            op.dtype,
            op.device,
            apply,
            hvps_per_matvec=1,
            counter=op.counter,
            name=op.name,
            symmetric=op.symmetric,
        )

    def run(self, solver, **kwargs):
        self.starts.clear()
        t0 = time.perf_counter()
        res = solver(self.op, **kwargs)
        t_end = time.perf_counter()
        elapsed = [s - t0 for s in self.starts[1:]] + [t_end - t0]
        # the solver's estimates come one per product (no explicit residual products here)
        return (
            res.history,
            elapsed[: len(res.history)],
            float(np.median(np.diff(self.starts))) if len(self.starts) > 1 else elapsed[0],
        )


def report(rows, ref: float, rtol: float, base: str | None) -> None:
    print(
        f"{'solver':>24} {'HVPs to tgt':>11} {'s to tgt':>9} {'HVPs run':>8} {'s/HVP':>7} {'HVPs x s/HVP':>12} "
        f"{'final':>14} {'rel err':>8} {'HVPs/PyH':>9} {'s/PyH':>7} {'(median)':>8}"
    )
    hit_of = {}
    for name, (hist, elapsed, _per_hvp) in rows.items():
        hit = hvps_to_target(hist, ref, rtol)
        hit_of[name] = (hit, None if hit is None else elapsed[hit - 1])
    b_hit, b_sec = hit_of.get(base, (None, None))
    b_med = None if b_hit is None else b_hit * rows[base][2]
    for name, (hist, _elapsed, per_hvp) in rows.items():
        hit, sec = hit_of[name]
        med = None if hit is None else hit * per_hvp  # robust to a stall of a shared machine
        final = hist[-1]
        r_h = f"{hit / b_hit:.2f}" if hit and b_hit else "-"
        r_s = f"{sec / b_sec:.2f}" if sec and b_sec else "-"
        r_m = f"{med / b_med:.2f}" if med and b_med else "-"
        print(
            f"{name:>24} {hit if hit is not None else 'not reached':>11} "
            f"{'-' if sec is None else f'{sec:.2f}':>9} {len(hist):>8} {per_hvp:7.3f} "
            f"{'-' if med is None else f'{med:.2f}':>12} {final:14.8g} "
            f"{abs(final - ref) / abs(ref):8.1e} {r_h:>9} {r_s:>7} {r_m:>8}"
        )


def run_block(obj, block: str, args) -> None:
    x, y = obj.initial_point()
    pyh = None
    if pyhessian_available():  # first, so its kept graph is freed before ours is built
        # under the allocator setting our solvers run with (curvature.heap), so that the two compare maths
        with heap.retained_heap(obj.device):
            pyh = pyhessian_power(obj, block, batch_index=0, max_iter=args.power_iters, tol=0.0, seed=args.seed)
    engine = HessianAtPoint(obj, x, y, idx=0, reuse_graph=True)
    op = engine.operator(block)
    dim = op.shape[0]
    print(
        f"\n## block {block} ({dim:,} dims), {obj.spec}, batch 0 = {obj.batch_sizes[0]} x <= {args.max_length} "
        f"tokens, {obj.dtype}",
        flush=True,
    )
    t = time.perf_counter()
    op.matvec(torch.zeros(dim, dtype=op.dtype))  # build the cached graph outside every timing
    print(
        f"setup (forward + create_graph backward + 1 HVP): ours {time.perf_counter() - t:.2f}s"
        + ("" if pyh is None else f", PyHessian constructor {pyh.setup_seconds:.2f}s"),
        flush=True,
    )
    ref = lanczos_top_eigs(op, 1, max_iter=args.ref_iters, tol=1e-7, seed=args.seed + 1000)
    print(
        f"reference: lambda_max = {ref.top:.8g} (Lanczos, {ref.iterations} its, residual {ref.residuals[0]:.2e}"
        f" = {ref.residuals[0] / abs(ref.top):.1e} relative, converged={ref.converged}, {ref.seconds:.1f}s)",
        flush=True,
    )
    timed = Timed(op)
    rows = {
        "lanczos": timed.run(
            lanczos_top_eigs, k=1, max_iter=args.lanczos_iters, tol=1e-300, seed=args.seed, explicit_residuals=False
        ),
        "power": timed.run(power_iteration, max_iter=args.power_iters, tol=1e-300, seed=args.seed),
    }
    if dim >= PARTIAL_REORTH_FROM:  # the default was partial: full beside it
        rows["lanczos, full"] = timed.run(
            lanczos_top_eigs,
            k=1,
            max_iter=args.lanczos_iters,
            tol=1e-300,
            seed=args.seed,
            explicit_residuals=False,
            reorth="full",
        )
    if pyh is not None:
        if pyh.dim != dim:
            raise RuntimeError(f"PyHessian's block has {pyh.dim} dims, ours {dim}")
        rows["power, PyHessian's v0"] = timed.run(power_iteration, max_iter=args.power_iters, tol=1e-300, v0=pyh.v0)
        rows["PyHessian power"] = (pyh.history, pyh.elapsed, float(np.median(np.diff((0.0,) + pyh.elapsed))))
    engine.release()
    report(rows, ref.top, args.rtol, "PyHessian power" if pyh is not None else None)
    for name in ("power", "PyHessian power"):
        if name in rows:
            stop = pyhessian_rule_stop(rows[name][0], 1e-3)
            print(
                f"{name}: PyHessian's rule (change < 1e-3) stops "
                + (
                    "never"
                    if stop is None
                    else f"after {stop[0]} HVPs at {stop[1]:.8g} (rel err {abs(stop[1] - ref.top) / abs(ref.top):.1e})"
                )
            )
    if pyh is not None:
        same = rows["power, PyHessian's v0"][0]
        n = min(len(same), len(pyh.history))
        gap = max(abs(a - b) / abs(ref.top) for a, b in zip(same[:n], pyh.history[:n]))
        print(
            f"same start vector: max |ours - PyHessian| over {n} Rayleigh quotients = {gap:.1e} x lambda_max; "
            f"PyHessian returned {pyh.returned:.8g}"
        )
    else:
        print(INSTALL_HINT)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--model", default="minilm", help="minilm (default), smollm2 (with LoRA; slow), tiny-bert, tiny-llama"
    )
    p.add_argument("--adapter", default="lora", choices=("lora", "prompt"))
    p.add_argument("--block", default="both", choices=("both", "yy", "xx"))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=32)
    p.add_argument("--ref-iters", type=int, default=40)
    p.add_argument("--lanczos-iters", type=int, default=30)
    p.add_argument("--power-iters", type=int, default=40)
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in ("batch_size", "max_length", "ref_iters", "lanczos_iters", "power_iters", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer")
    if not 0 < args.rtol < 1:
        p.error("--rtol must lie in (0, 1)")
    torch.set_num_threads(args.threads)
    obj = llm_minibatch_objective(args)
    print(
        f"# {obj.description}; torch {torch.__version__}, {args.threads} threads; target: within "
        f"{args.rtol:g} relative of the reference",
        flush=True,
    )
    if not pyhessian_available():
        print(INSTALL_HINT)
    for block in ("yy", "xx") if args.block == "both" else (args.block,):
        run_block(obj, block, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
