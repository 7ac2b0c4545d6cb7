"""``hybridsmooth estimate --forward-only``: the x block's curvature from forward passes alone (no autograd
graph, memory at inference level plus one copy of the block), for models too large for Hessian-vector products.

Prints tr(H_xx) of f (or f_idx with --idx) at the initial point by second differences of the ZO step's own
function values and by the sum of a HiZOO-style diagonal, each with its standard error, and tr(H_xx^2) from the
spread of the second differences (THEORY 4.3;
``curvature.forward_only``), and the largest per-tensor shares of the diagonal.
"""

from __future__ import annotations

import json
import sys

from ..errors import UsageError
from .estimate_format import _align, fmt

SUMMARY_COLUMNS = ("quantity", "method", "estimate", "stderr", "per_entry", "tr_H2", "d_x", "n", "forwards", "seconds")
GROUP_COLUMNS = ("group", "size", "estimate", "stderr")


def forward_only_run(objective, args) -> int:
    from ..curvature.forward_only import forward_only_table  # loads pandas: only this option needs it

    if args.directions < 2:
        raise UsageError(f"--directions must be >= 2 (for a standard error), got {args.directions}")
    summary, groups = forward_only_table(objective, idx=args.idx, mu=args.mu, n_dirs=args.directions, seed=args.seed)
    if args.out:
        summary.to_csv(args.out, index=False)
    if args.json:
        payload = dict(problem=args.problem, mu=args.mu, seed=args.seed, idx=args.idx)
        payload.update(rows=summary.to_dict("records"), groups=groups.to_dict("records"))
        json.dump(payload, sys.stdout, indent=2, default=float)
        print()
        return 0
    target = "f" if args.idx is None else f"f_{args.idx}"
    print(f"# {args.problem}: forward-only curvature of H_xx, {target} at the initial point, mu={args.mu:g}")
    print(_align([list(SUMMARY_COLUMNS)] + [[fmt(r[c]) for c in SUMMARY_COLUMNS] for r in summary.to_dict("records")]))
    print(
        "# both rows come from one pass (its forwards and seconds are on the first); per_entry = estimate / d_x; "
        "tr_H2 = Var(second difference)/2 estimates tr(H_xx^2)"
    )
    top = groups.reindex(groups.estimate.abs().sort_values(ascending=False).index).head(5)
    print("# largest per-tensor shares of the HiZOO diagonal (trace of each weight tensor)")
    print(_align([list(GROUP_COLUMNS)] + [[fmt(r[c]) for c in GROUP_COLUMNS] for r in top.to_dict("records")]))
    return 0
