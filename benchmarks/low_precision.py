"""The ZO step in low precision: the drift of perturb/restore, and the cost of the modes that fix it.

Part 1, the drift table: ``zo.precision.restore_drift`` (the project's in-place step, ``zo_step_inplace_from``,
with step size 0: perturb +mu u, -2 mu u, +mu u, nothing should change) on 1M weights N(0, 0.02^2),
mu = 1e-3: ||x_t - x_0|| / ||x_0|| after 1, 100, 1000 steps and the fraction of weights changed, for plain
bfloat16 / float16 / float32 and bfloat16 with ``--zo-precision master`` / ``stochastic``; beside it the
predicted fraction of an update of 1e-6 per unit of u that rounds away (``predicted_lost_fraction``, in the
dtype that accumulates the update: float32 for master).

Part 2, the cost per hybrid step (``engine.model_step.model_step``, what ``train_model`` runs, with the
run's ``RunPrecision``: coordinate sample and, in master, the float32 copy), bfloat16 weights, plain vs
master vs stochastic, MiniLM (and SmolLM2-135M with ``--smollm2``) + LoRA on one minibatch. Time: median of
``--reps`` round-robin repetitions after a warm-up. Peak memory: each mode in a FRESH subprocess that loads
the model, builds the precision state, runs one step (warm-up), resets the RSS high-water mark and runs one
more; reported as the model's tensors + the master copy (persistent) + the step's peak RSS growth
(``benchmarks/_memory.py``).

    .venv/bin/python benchmarks/low_precision.py                  # drift to 1000 steps, MiniLM
    .venv/bin/python benchmarks/low_precision.py --quick          # drift to 100 steps, tiny-llama
    .venv/bin/python benchmarks/low_precision.py --smollm2        # also SmolLM2-135M
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

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script (benchmarks/ on sys.path) or with -m from the repo root
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks._memory import start_rss_window  # noqa: E402

MODES = ("plain", "master", "stochastic")
DRIFT_CASES = (
    (torch.bfloat16, "plain"),
    (torch.float16, "plain"),
    (torch.float32, "plain"),
    (torch.bfloat16, "master"),
    (torch.bfloat16, "stochastic"),
)
SPEC = "llm:model={model},adapter=lora,dtype=bfloat16,n_train=16,n_dev=2,n_test=0,batch_size=16,max_length=64"


# --- part 1 ---------------------------------------------------------------------------------------------


def drift_table(steps: tuple[int, ...], d: int) -> list[dict]:
    from hybridsmooth.zo.precision import predicted_lost_fraction, restore_drift

    x = (torch.randn(d, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.02).to(torch.float32)
    rows = []
    for dtype, mode in DRIFT_CASES:
        t0 = time.perf_counter()
        drift = restore_drift(d, dtype=dtype, precision=mode, steps=steps)
        held = torch.float32 if mode == "master" else dtype
        row = {"dtype": str(dtype).replace("torch.", ""), "mode": mode}
        row |= {f"drift@{r.steps}": r.drift for r in drift}
        row["changed@end"] = drift[-1].changed
        row["lost(1e-6)"] = predicted_lost_fraction([x.to(held)], 1e-6)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return rows


# --- part 2 ---------------------------------------------------------------------------------------------


def _setup(model: str, mode: str):
    from hybridsmooth.optim import HybridSGDConfig
    from hybridsmooth.optim.schedule import step_schedule
    from hybridsmooth.problems import make_problem
    from hybridsmooth.zo.precision import RunPrecision

    obj = make_problem(SPEC.format(model=model))
    cfg = HybridSGDConfig(method="hybrid", eta_x=1e-6, eta_y=1e-3, mu=1e-3, zo_precision=mode)
    precision = RunPrecision.for_run(obj, mode, ("x",))
    step = next(iter(step_schedule(cfg.order, n=obj.n, run_seed=0, stop=1)))
    return obj, cfg, precision, step


def _one_step(obj, cfg, precision, step):
    from hybridsmooth.engine.model_step import model_step

    return model_step(obj, cfg, "regenerate", step, precision=precision)


def child(model: str, mode: str) -> None:
    """One mode in this fresh process: print its peak-memory record as JSON."""
    obj, cfg, precision, step = _setup(model, mode)
    _one_step(obj, cfg, precision, step)  # warm-up: allocator pools and lazily built state
    window = start_rss_window()
    _one_step(obj, cfg, precision, step)
    growth = window.growth_bytes()
    tensors = sum(t.numel() * t.element_size() for t in (*obj.model.parameters(), *obj.model.buffers()))
    master = sum(m.numel() * m.element_size() for m in precision.masters.values())
    print(json.dumps({"tensors": tensors, "master": master, "growth": growth, "resettable": window.resettable}))


def peak_memory(model: str) -> dict[str, dict]:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    out = {}
    for mode in MODES:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", model, mode]
        res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"child {model} {mode} failed:\n{res.stderr[-2000:]}")
        out[mode] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def step_seconds(model: str, reps: int) -> dict[str, float]:
    """Median seconds per step of each mode, repetitions interleaved round-robin (a busy neighbour slows
    every mode alike); each mode on its own copy of the model, so the others' steps do not move it."""
    setups = {mode: _setup(model, mode) for mode in MODES}
    for s in setups.values():
        _one_step(*s)
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(reps):
        for mode, s in setups.items():
            t0 = time.perf_counter()
            _one_step(*s)
            times[mode].append(time.perf_counter() - t0)
    return {m: statistics.median(t) for m, t in times.items()}


def _mib(b: int) -> str:
    return f"{b / 2**20:8.1f}"


def report_model(model: str, reps: int) -> None:
    secs = step_seconds(model, reps)
    mem = peak_memory(model)
    print(f"\n{model} + LoRA, bfloat16, one hybrid step on 16 x 64 tokens ({reps} reps, median):")
    print(f"{'mode':<11} {'s/step':>7} {'x plain':>7}  {'tensors MiB':>11} {'master MiB':>10} {'step peak MiB':>13}")
    for mode in MODES:
        m = mem[mode]
        print(
            f"{mode:<11} {secs[mode]:7.3f} {secs[mode] / secs['plain']:7.2f}  {_mib(m['tensors']):>11} "
            f"{_mib(m['master']):>10} {_mib(m['growth']):>13}"
        )
    if not mem["plain"]["resettable"]:
        print("(RSS high-water mark not resettable here: step peaks are lower bounds)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="drift to 100 steps, tiny-llama only")
    ap.add_argument("--smollm2", action="store_true", help="also time SmolLM2-135M")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(*args.child)
        return
    steps = (1, 100) if args.quick else (1, 100, 1000)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print("\nDrift of perturb/restore at step size 0 (1M weights, rms 0.02, mu 1e-3): ||x_t - x_0|| / ||x_0||")
    import pandas as pd

    table = pd.DataFrame(drift_table(steps, 1_000_000))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    models = ["tiny-llama"] if args.quick else ["minilm", *(["smollm2"] if args.smollm2 else [])]
    for model in models:
        report_model(model, args.reps)


if __name__ == "__main__":
    main()
