"""The language-model objective the curvature benchmarks measure: one training minibatch, no dev or test split."""

from __future__ import annotations


def add_minibatch_arguments(parser) -> None:
    """The options ``llm_minibatch_objective`` reads: ``--model``, ``--adapter``, ``--batch-size``,
    ``--max-length`` and ``--seed``."""
    parser.add_argument("--model", default="minilm", help="minilm (default), tiny-bert, smollm2, tiny-llama")
    parser.add_argument("--adapter", default="lora", choices=("lora", "prompt"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)


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


def llm_minibatch_spec(args) -> str:
    """The ``llm:`` problem spec of ``llm_minibatch_objective`` (for code that takes specs, such as the sharded
    curvature entry point)."""
    return (
        f"llm:model={args.model},adapter={args.adapter},n_train={args.batch_size},batch_size={args.batch_size},"
        f"max_length={args.max_length},n_dev=0,n_test=0,seed={args.seed},"
        f"device={getattr(args, 'device', 'cpu')},dtype={getattr(args, 'dtype', 'float32')}"
    )
