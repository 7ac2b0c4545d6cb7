"""The language-model objective the curvature benchmarks measure: one training minibatch, no dev or test split."""

from __future__ import annotations


def llm_minibatch_objective(args):
    """``make_llm_objective`` for ``--model``, ``--adapter``, ``--batch-size``, ``--max-length``, ``--seed`` and,
    where the script has them, ``--device`` and ``--dtype``."""
    from hybridsmooth.objectives.llm import make_llm_objective

    return make_llm_objective(
        model=args.model,
        adapter=args.adapter,
        n_train=args.batch_size,
        batch_size=args.batch_size,
        max_length=args.max_length,
        n_dev=0,
        n_test=0,
        seed=args.seed,
        device=getattr(args, "device", "cpu"),
        dtype=getattr(args, "dtype", "float32"),
    )
