"""Batched seeds vs a Python loop over seeds: the same problem and config, timed side by side.

For each dimension d: (a) one call of run_hybrid_sgd with seeds=S (blocks of shape (S, d)), (b) S calls
with seeds=None and run seeds 1..S (unbatched blocks). Prints both wall times and their ratio (goal:
>= 20x), and checks that the two give statistically consistent final losses (Welch z-score of the two
seed-means, |z| <= 5; the exit status is 1 otherwise).

The problem is a coupled block quadratic with a dense Hessian, so one batched step costs three
(S x d) @ (d x d) products: once d is large the batched run is bound by floating-point throughput and
the ratio falls, while the loop stays bound by per-step Python overhead. Timings on a shared machine are
noisy; trust the ratios measured side by side, not the seconds.

    .venv/bin/python benchmarks/batched_seeds.py                  # d = 200, 500, 1000; 200 seeds; 20 epochs
    .venv/bin/python benchmarks/batched_seeds.py --dims 1000 --epochs 100
    .venv/bin/python benchmarks/batched_seeds.py --quick          # d = 200, 50 seeds, 10 epochs
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import pandas as pd
import torch

from hybridsmooth.optim import HybridSGDConfig, run_hybrid_sgd
from hybridsmooth.problems import make_problem


def final_losses(metrics) -> np.ndarray:
    last = metrics.loc[metrics.groupby("seed")["epoch"].idxmax()]
    return last["loss"].to_numpy(dtype=float)


def measure(d: int, *, n: int, seeds: int, epochs: int, hessian: str = "dense") -> dict:
    dx, dy = d - d // 10, d // 10
    shape = "coupling=0.5" if hessian == "dense" else "coupling=0,rotate=false"
    spec = f"quadratic:dx={dx},dy={dy},Lx=10,Ly=1,{shape},n={n},spread=1.0"
    objective = make_problem(spec)
    c = objective.constants
    # half the ZO mean-square limit for x, a quarter of the FO limit for y: stable, and not trivially slow
    eta_x, eta_y = 1.0 / (c.L_x * (dx + 2)), 0.5 / c.L_y
    run_hybrid_sgd(objective, HybridSGDConfig(eta_x=eta_x, eta_y=eta_y, epochs=1), seeds=2)  # warm-up
    t0 = time.perf_counter()
    batched = final_losses(
        run_hybrid_sgd(objective, HybridSGDConfig(eta_x=eta_x, eta_y=eta_y, epochs=epochs, seed=0), seeds=seeds).metrics
    )
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    looped = np.array(
        [
            final_losses(
                run_hybrid_sgd(
                    objective, HybridSGDConfig(eta_x=eta_x, eta_y=eta_y, epochs=epochs, seed=1 + s), seeds=None
                ).metrics
            )[0]
            for s in range(seeds)
        ]
    )
    t_loop = time.perf_counter() - t0
    se_b, se_l = batched.std(ddof=1) / math.sqrt(seeds), looped.std(ddof=1) / math.sqrt(seeds)
    z = (batched.mean() - looped.mean()) / math.hypot(se_b, se_l)
    return {
        "hessian": hessian,
        "d": d,
        "seeds": seeds,
        "epochs": epochs,
        "steps": epochs * n,
        "batched_s": t_batched,
        "loop_s": t_loop,
        "speedup": t_loop / t_batched,
        "final_loss_batched": f"{batched.mean():.5g} +- {se_b:.2g}",
        "final_loss_loop": f"{looped.mean():.5g} +- {se_l:.2g}",
        "welch_z": z,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="d = 200, 50 seeds, 10 epochs")
    p.add_argument("--dims", default=None, help="comma-separated total dimensions d (default 200,500,1000)")
    p.add_argument("--n", type=int, default=4, help="samples per epoch (default 4)")
    p.add_argument("--seeds", type=int, default=None, help="seeds (default 200)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default 20)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for both variants (default 1)")
    p.add_argument(
        "--hessian",
        default="dense,diagonal",
        help="dense (rotated spectra + cross block: three (S x d) @ (d x d) products per step) and/or "
        "diagonal (O(d) per evaluation); default both",
    )
    args = p.parse_args(argv)
    dims = [int(v) for v in (args.dims or ("200" if args.quick else "200,500,1000")).split(",")]
    seeds = args.seeds or (50 if args.quick else 200)
    epochs = args.epochs or (10 if args.quick else 20)
    torch.set_num_threads(max(1, args.threads))
    print(
        f"hybrid SGD on quadratic:dx=0.9d,dy=0.1d,Lx=10,Ly=1,n={args.n} ({args.hessian} Hessian); {seeds} seeds, "
        f"{epochs} epochs, {torch.get_num_threads()} thread(s), torch {torch.__version__}",
        flush=True,
    )
    rows = []
    for hessian in args.hessian.split(","):
        for d in dims:
            rows.append(measure(d, n=args.n, seeds=seeds, epochs=epochs, hessian=hessian))
            print(
                f"  {hessian} d={d}: batched {rows[-1]['batched_s']:.2f} s, loop {rows[-1]['loop_s']:.2f} s, "
                f"{rows[-1]['speedup']:.1f}x",
                flush=True,
            )
    table = pd.DataFrame(rows).set_index(["hessian", "d"])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    print(
        "goal: speed-up >= 20x; "
        + ", ".join(f"{h} d={d}: {'met' if r['speedup'] >= 20 else 'NOT met'}" for (h, d), r in table.iterrows())
    )
    consistent = bool((table["welch_z"].abs() <= 5).all())
    print(
        "final losses batched vs loop: "
        + ("statistically consistent (|z| <= 5)" if consistent else "INCONSISTENT (|z| > 5)")
    )
    return 0 if consistent else 1


if __name__ == "__main__":
    sys.exit(main())
