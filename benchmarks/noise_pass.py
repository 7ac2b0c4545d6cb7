"""What one pass of ZO noise over a model's base weights costs, piece by piece, measured side by side.

A regenerating ZO step makes three passes over x: x + mu u, x - 2 mu u, and the restore fused with the
update. Each pass draws u tensor by tensor from the generator and adds it. This prints the seconds of one pass
in each of the ways the training core can make it, interleaved round by round (medians):

* ``gaussian``        Gaussian u, tensor by tensor (the default central form), tensors over 2^20 entries drawn
                      and added a chunk at a time (``zo.gaussian_chunks``; what a step does now);
* ``gaussian, whole`` the same u with each tensor drawn whole, then added (the step before; the same numbers);
* ``packed``          Rademacher u packed 64 signs per draw, tensor by tensor (form spsa, the step before);
* ``packed, merged``  the same signs with adjacent tensors merged into one (``zo.flat_runs``; what a
                      step's update pass does now);
* ``rows read``       the measuring move of a step that moves only the embedding rows the batch reads
                      (``zo.read_rows``), the other tensors merged: what a step's two measuring passes do now;
* ``rows read, per tensor`` the same move tensor by tensor;
* ``merged, 2^18 chunks`` ``packed, merged`` expanding 2^18 signs at a time (the former chunk size) instead
                      of ``zo.signs.CHUNK``;
* ``gaussian split``  Gaussian u of the split stream (``zo.gaussian_split``): independently seeded chunks of
                      ``SPLIT_CHUNK`` entries, drawn and added on all threads (other numbers than ``gaussian``);
* ``split, 2^16`` / ``split, 2^20`` the same with other chunk sizes (what SPLIT_CHUNK was chosen from).

    .venv/bin/python benchmarks/noise_pass.py                  # MiniLM + LoRA, 8 x 32 tokens, 2 threads
    .venv/bin/python benchmarks/noise_pass.py --model tiny-bert --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _timing import interleaved  # noqa: E402


def make_passes(obj) -> dict:
    """name -> one measuring pass (a fresh direction, then x + alpha u) through the step's own blocks."""
    from hybridsmooth.zo import signs
    from hybridsmooth.zo.flat_runs import merge_adjacent
    from hybridsmooth.zo.inplace import _PerturbedBlock
    from hybridsmooth.zo.read_rows import ReadRowsBlock

    views = list(obj.x_layout.views(obj.x).values())
    gen = torch.Generator().manual_seed(0)
    found = obj.embedding_rows
    rows = found.rows(obj.batches[0], len(views)) if found is not None else [None] * len(views)
    merged, _ = merge_adjacent(views, [None] * len(views))
    alpha = 1e-12  # the weights barely move: every pass sees the same numbers

    def one_pass(params, form="spsa", rows=None, stream="sequential"):
        def run():
            kw = dict(form=form, generator=gen, buffered=False, stream=stream)
            block = ReadRowsBlock(params, rows=rows, **kw) if rows is not None else _PerturbedBlock(params, **kw)
            block.new_direction()
            block.move(alpha, offset=alpha)

        return run

    def small_chunks():
        chunk = signs.CHUNK
        signs.CHUNK = 1 << 18
        try:
            one_pass(merged)()
        finally:
            signs.CHUNK = chunk

    def whole_gaussian():
        from hybridsmooth.zo import inplace

        chunk = inplace.GAUSSIAN_CHUNK
        inplace.GAUSSIAN_CHUNK = 1 << 62
        try:
            one_pass(views, "central")()
        finally:
            inplace.GAUSSIAN_CHUNK = chunk

    out = {
        "gaussian": one_pass(views, "central"),
        "gaussian, whole": whole_gaussian,
        "packed": one_pass(views),
        "packed, merged": one_pass(merged),
    }
    out["merged, 2^18 chunks"] = small_chunks

    def split_pass(chunk):
        def run():
            from hybridsmooth.zo import gaussian_split

            kept = gaussian_split.SPLIT_CHUNK
            gaussian_split.SPLIT_CHUNK = chunk
            try:
                one_pass(views, "central", stream="split")()
            finally:
                gaussian_split.SPLIT_CHUNK = kept

        return run

    out["gaussian split"] = one_pass(views, "central", stream="split")
    out["split, 2^16"] = split_pass(1 << 16)
    out["split, 2^20"] = split_pass(1 << 20)
    if found is not None:
        merged_params, merged_rows = merge_adjacent(views, rows)
        out["rows read"] = one_pass(merged_params, rows=merged_rows)
        out["rows read, per tensor"] = one_pass(views, rows=rows)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args(argv)
    if args.reps < 1 or args.threads < 1:
        print("noise_pass: --reps and --threads must be positive", file=sys.stderr)
        return 2
    from hybridsmooth.objectives.llm import make_llm_objective

    torch.set_num_threads(args.threads)
    obj = make_llm_objective(
        model=args.model, adapter="lora", n_train=4 * args.batch_size, batch_size=args.batch_size,
        max_length=args.max_length, seed=0,
    )  # fmt: skip
    views = list(obj.x_layout.views(obj.x).values())
    small = sum(v.numel() < 100_000 for v in views)
    print(f"{args.model}: d_x = {obj.d_x:,} in {len(views)} tensors ({small} under 100k), {args.threads} thread(s)")
    from hybridsmooth.zo.flat_runs import merge_adjacent

    print(f"adjacent tensors merged: {len(merge_adjacent(views, [None] * len(views))[0])} tensor(s) to draw")
    if obj.embedding_rows is not None:
        r = obj.embedding_rows.rows(obj.batches[0], len(views))[obj.embedding_rows.position]
        emb = views[obj.embedding_rows.position]
        print(f"word embedding {tuple(emb.shape)}: the first batch reads {len(r)} of its {emb.shape[0]} rows")
    passes = make_passes(obj)
    for fn in passes.values():
        fn()  # warm-up
    times = interleaved(passes, args.reps)
    med = {n: statistics.median(v) for n, v in times.items()}
    print(f"\n{'one pass':<22} {'median ms':>10} {'min ms':>8}  vs packed")
    for n, v in times.items():
        print(f"{n:<22} {1e3 * med[n]:10.2f} {1e3 * min(v):8.2f}  {med[n] / med['packed']:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
