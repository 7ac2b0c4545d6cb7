"""How much a short hybrid run's end point depends on rounding: the zo_view figure's 20-step run, from the
start point and from the start point with x multiplied by 1 + jitter * g (g Gaussian, a rounding-sized
change), side by side; optionally also at another thread count (another order of float reductions).

Where the two runs end apart, a curvature measured at the run's end is one sample of a trajectory that
rounding decides: reproducible on one machine with one thread count, not across them. Measured: SmolLM2-135M
+ prompt tuning, the figure's full config (eta_x = 1e-4, eta_y = 1e-2, 20 steps): the ZO step's loss at step
20 is 0.298 from the start point, 0.362 with jitter 1e-7 and 0.237 on one thread instead of two; with LoRA
the jitter moves it by 4e-6.

    .venv/bin/python benchmarks/rounding_sensitivity.py --model smollm2 --adapter prompt   # ~5 min, 2 GB
    .venv/bin/python benchmarks/rounding_sensitivity.py --other-threads 1                  # ~8 min
    .venv/bin/python benchmarks/rounding_sensitivity.py --model tiny-bert --steps 5         # seconds
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402
import torch  # noqa: E402


def end_of_run(model: str, adapter: str, steps: int, jitter: float) -> pd.DataFrame:
    """The zo_view short run's per-step losses, from the start point times (1 + jitter * g)."""
    from hybridsmooth.experiments.zo_view import ZO_VIEW_FULL, _objective, short_hybrid_run

    config = dict(ZO_VIEW_FULL, steps=steps)
    obj = _objective(config, model, adapter)
    if jitter:
        g = torch.Generator(device=obj.x.device).manual_seed(12345)
        with torch.no_grad():
            noise = torch.randn(obj.x.shape, generator=g, device=obj.x.device, dtype=obj.x.dtype)
            obj.x.mul_(1 + jitter * noise)
    table = short_hybrid_run(obj, config)
    return table.assign(loss=(table.loss_plus + table.loss_minus) / 2)[["step", "loss"]]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2")
    p.add_argument("--adapter", default="prompt", choices=("lora", "prompt"))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--jitter", type=float, default=1e-7, help="relative size of the change to x (default 1e-7)")
    p.add_argument("--other-threads", type=int, default=0, help="also run unjittered at this thread count")
    p.add_argument("--csv", default=None, help="one row per step and variant, written here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 1 or args.jitter < 0 or args.other_threads < 0:
        p.error("need --steps >= 1, --jitter >= 0 and --other-threads >= 0")
    if args.child:  # a run at another thread count, in its own process
        torch.set_num_threads(args.other_threads)
        end_of_run(args.model, args.adapter, args.steps, 0.0).to_csv(args.child, index=False)
        return 0
    threads = torch.get_num_threads()
    runs = {
        f"start, {threads} threads": end_of_run(args.model, args.adapter, args.steps, 0.0),
        f"x (1 + {args.jitter:g} g), {threads} threads": end_of_run(args.model, args.adapter, args.steps, args.jitter),
    }
    if args.other_threads:
        out = Path(args.csv or "rounding_sensitivity.csv").with_suffix(".threads.csv")
        cmd = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--child", str(out)]
        subprocess.run(cmd, check=True)
        runs[f"start, {args.other_threads} threads"] = pd.read_csv(out)
        out.unlink()
    wide = pd.concat({k: v.set_index("step")["loss"] for k, v in runs.items()}, axis=1)
    pd.set_option("display.width", 200)
    print(f"# {args.model} + {args.adapter}: ZO-step loss (mean of L+ and L-) after each hybrid step")
    print(wide.to_string(float_format=lambda v: f"{v:.6f}"))
    ref = wide.iloc[:, 0]
    for name in wide.columns[1:]:
        gap = (wide[name] - ref).abs()
        print(f"# {name}: |gap| at the last step {gap.iloc[-1]:.3g} (largest {gap.max():.3g})")
    if args.csv:
        wide.reset_index().melt(id_vars="step", var_name="variant", value_name="loss").to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
