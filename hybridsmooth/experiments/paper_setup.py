"""The model/data set-up the paper figures share (THEORY 8, "the common small-scale setup").

Quick mode: MiniLM (22.7M, the fast architecture) on small slices of the tweet-sentiment and BBC-topic data,
and SmolLM2-135M for the one causal-LM panel; full mode: the same code at the paper's scale on a checkpoint
the user gives by path (``model=PATH``) on a GPU. Problem strings are built here so that every figure names
its data the same way.
"""

from __future__ import annotations

# x = all base weights, y = LoRA (rank 8 on q,k,v,o) or a 10-token soft prompt (+ the encoder's new head)
QUICK_DATA = {"n_train": 64, "batch_size": 8, "max_length": 32, "n_dev": 64, "n_test": 0}
QUICK_TOPIC_DATA = {"n_train": 64, "batch_size": 8, "max_length": 64, "n_dev": 64, "n_test": 0}
# full mode: the paper's MeZO-style 1000 training examples, on a GPU (a machine without CUDA gets a one-line error)
FULL_DATA = {"n_train": 1000, "batch_size": 16, "max_length": 128, "n_dev": 500, "n_test": 0, "device": "cuda"}


def llm_problem(model: str, adapter: str, task: str = "sentiment", **data) -> str:
    """The ``llm:...`` problem string of a model, adapter and task with the given data keys."""
    if not data:
        data = dict(QUICK_TOPIC_DATA if task == "topic" else QUICK_DATA)
    keys = ",".join(f"{k}={v}" for k, v in data.items())
    return f"llm:model={model},adapter={adapter},task={task},{keys}"
