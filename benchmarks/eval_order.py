"""Dev and test evaluation in data order against length order, side by side on one model and point.

``objectives.llm.evaluate`` batches a split's examples in order of token count (made once per objective), so a
batch pads less; this times it against the former batching in data order, interleaved over --reps rounds,
after --steps FO-PEFT steps (so the point is not the start), and prints both results: the accuracy must be
the same and the loss equal to rounding.

    .venv/bin/python benchmarks/eval_order.py                        # MiniLM + LoRA, tweets, 16 x 32, 1 thread
    .venv/bin/python benchmarks/eval_order.py --model tiny-bert --steps 5 --reps 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--task", default="sentiment")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--steps", type=int, default=60, help="FO-PEFT steps before evaluating")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    if args.reps < 1 or args.threads < 1 or args.steps < 0:
        print("eval_order: --reps and --threads must be positive, --steps non-negative", file=sys.stderr)
        return 2
    from hybridsmooth.engine.model_run import train_model
    from hybridsmooth.engine.run_description import RunDescription
    from hybridsmooth.objectives import llm
    from hybridsmooth.optim import HybridSGDConfig

    torch.set_num_threads(args.threads)
    shape = f"batch_size={args.batch_size},max_length={args.max_length}"
    spec = f"llm:model={args.model},adapter=lora,task={args.task},{shape}"
    obj = llm.make_llm_objective(
        model=args.model, adapter="lora", task=args.task, batch_size=args.batch_size, max_length=args.max_length
    )
    if args.steps:
        train_model(obj, RunDescription(spec, HybridSGDConfig(method="fo_peft", eta_y=0.3, seed=0), steps=args.steps))
    in_length_order = llm._length_sorted_batches

    def in_data_order(o, split, data, batch_size):
        return llm.make_batches(data, o.make_batch, batch_size)

    ways = {"data order": in_data_order, "length order": in_length_order}
    times: dict = {(w, s): [] for w in ways for s in ("dev", "test")}
    results: dict = {}
    try:
        for _ in range(args.reps):
            for way, fn in ways.items():
                llm._length_sorted_batches = fn
                for split in ("dev", "test"):
                    t0 = time.perf_counter()
                    results[way, split] = llm.evaluate(obj, obj.x, obj.y, split=split)
                    times[way, split].append(time.perf_counter() - t0)
    finally:
        llm._length_sorted_batches = in_length_order
    print(
        f"\n{args.model}, {args.task}, {args.batch_size} x {args.max_length}, {args.threads} thread(s), "
        f"{args.steps} steps in"
    )
    print(f"{'split':<6} {'order':<13} {'median s':>9} {'loss':>14} {'accuracy':>9}")
    for (way, split), v in sorted(times.items(), key=lambda kv: kv[0][1]):
        r = results[way, split]
        print(f"{split:<6} {way:<13} {statistics.median(v):9.2f} {r['loss']:14.9f} {r['accuracy']:9.4f}")
    for split in ("dev", "test"):
        ratio = statistics.median(times["length order", split]) / statistics.median(times["data order", split])
        rel = abs(results["length order", split]["loss"] / results["data order", split]["loss"] - 1)
        same = results["length order", split]["accuracy"] == results["data order", split]["accuracy"]
        print(f"{split}: length / data order {ratio:.2f}x; loss differs by {rel:.1e} relative; accuracy same: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
