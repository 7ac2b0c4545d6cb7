"""Smoothness constants and the theorem's assumptions on a real model (THEORY 3.1-3.5, 4.4), LoRA and prompt tuning.

    .venv/bin/python benchmarks/real_model_constants.py                       # SmolLM2-135M, LoRA then prompt
    .venv/bin/python benchmarks/real_model_constants.py --model tiny-llama    # quick mode (random 2-layer LLaMA)

For each adapter: Lanczos L_x, L_y, L_xy at the start point, a short hybrid run on one minibatch with one-block
secants, Lanczos again at the run's end, the joint condition with the measured Lambda, (G1)-(G3) with a fitted
affine ell (f* = 0), and the ZO second moment against (D-2) / (Z-seed-2). The numbers are for ONE model, ONE
minibatch (n_train = batch_size) and the points of one short run; every maximum is a lower bound on a sup.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridsmooth.problems import make_problem  # noqa: E402
from hybridsmooth.theory import real_model as rm  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2", help="smollm2 (default) or tiny-llama (quick mode)")
    p.add_argument("--adapters", default="lora,prompt")
    p.add_argument("--batch-size", type=int, default=None, help="examples in the one minibatch (default 8; tiny 8)")
    p.add_argument("--max-length", type=int, default=32)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lanczos-iter", type=int, default=None)
    p.add_argument("--zo-directions", type=int, default=None)
    p.add_argument("--eta-x", type=float, default=1e-4)
    p.add_argument("--eta-y", type=float, default=1e-2)
    p.add_argument("--mu", type=float, default=1e-3)
    p.add_argument("--no-joint", action="store_true")
    p.add_argument("--no-end-point", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json-out", default=None, help="write the reports as JSON to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    quick = args.model != "smollm2"
    defaults = (
        dict(steps=3, lanczos_iter=15, zo_directions=8) if quick else dict(steps=2, lanczos_iter=5, zo_directions=4)
    )
    settings = dict(
        steps=args.steps or defaults["steps"],
        lanczos_iter=args.lanczos_iter or defaults["lanczos_iter"],
        zo_directions=args.zo_directions or defaults["zo_directions"],
        eta_x=args.eta_x,
        eta_y=args.eta_y,
        mu=args.mu,
        joint=not args.no_joint,
        end_point=not args.no_end_point,
    )
    bs = args.batch_size or 8
    reports = []
    for adapter in [a.strip() for a in args.adapters.split(",") if a.strip()]:
        spec = (
            f"llm:model={args.model},adapter={adapter},task=sentiment,n_train={bs},batch_size={bs},"
            f"max_length={args.max_length},n_dev=0,n_test=0"
        )
        t0 = time.perf_counter()
        obj = make_problem(spec)
        print(f"\n=== {spec}  (d_x={obj.d_x}, d_y={obj.d_y}; loaded in {time.perf_counter() - t0:.1f} s)", flush=True)
        report = rm.measure_real_model(
            obj,
            rm.RealModelSettings(**settings),
            spec=spec,
            progress=lambda m: print(f"  [{time.strftime('%H:%M:%S')}] {m}", flush=True),
        )
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print("-- Lanczos constants (one minibatch, one point each)")
            print(rm.curvature_table(report).to_string(index=False, float_format=lambda v: f"{v:.5g}"))
            print("-- secants along the hybrid run")
            print(rm.secant_table(report).to_string(index=False, float_format=lambda v: f"{v:.5g}"))
            if report.joint is not None:
                j = report.joint
                print(
                    f"-- joint: lambda_max={j.lambda_max:.5g} lambda_min={j.lambda_min:.5g} with (L_x, L_y)="
                    f"({j.L_x:.5g}, {j.L_y:.5g}); residuals {j.residual_max:.2g}, {j.residual_min:.2g}"
                )
            z = report.zo
            print(
                f"-- ZO: E||g-grad||^2 = {z.error_mean:.5g} +- {z.error_se:.2g} (N={z.n_directions}); "
                f"(d+1)||grad||^2 = {z.quadratic_value:.5g}; (D-2) = {z.d2_bound:.4g}; (Z-seed-2) = "
                f"{z.z_seed_2_bound:.4g}"
            )
            print("-- checks (all 'report': no constant of a real model is known)")
            print(
                rm.checks_table(report)[["check", "computed", "theoretical", "verdict", "slack"]].to_string(
                    index=False, float_format=lambda v: f"{v:.4g}"
                )
            )
            print(
                f"-- timings (s): {json.dumps({k: round(v, 1) for k, v in report.timings.items() if v})}; "
                f"total {report.seconds:.1f} s"
            )
        reports.append(rm.report_dict(report))
        del obj, report
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(reports, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
